/**
 * Where NaN or ±Inf sit in a model's weights. Run only after a forward pass produced a
 * non-finite loss (perplexity.ts), to tell corrupt or diverged weights (named here, by
 * their checkpoint names) from an overflow in the activations (no weight named).
 */
import { weightTensors } from '../model/save';
import type { HostTensor, ModelWeights } from '../model/weights';

export interface NonFiniteTensor {
  name: string;
  nan: number;
  inf: number;
}

export function nonFiniteWeights(w: ModelWeights<HostTensor>): NonFiniteTensor[] {
  const out: NonFiniteTensor[] = [];
  for (const t of weightTensors(w)) {
    // Float tensors only (a quantized linear's packed integers are always finite).
    if (!(t.data instanceof Float32Array)) continue;
    let nan = 0;
    let inf = 0;
    for (const v of t.data) {
      if (Number.isFinite(v)) continue;
      if (Number.isNaN(v)) nan++;
      else inf++;
    }
    if (nan || inf) out.push({ name: t.name, nan, inf });
  }
  return out;
}

/** One sentence naming the first tensors with NaN/Inf, or '' when every weight is finite. */
export function describeNonFiniteWeights(w: ModelWeights<HostTensor>, limit = 3): string {
  const bad = nonFiniteWeights(w);
  if (bad.length === 0) return '';
  const part = (t: NonFiniteTensor) => `${t.name} (${[t.nan ? `${t.nan} NaN` : '', t.inf ? `${t.inf} ±Inf` : ''].filter(Boolean).join(', ')})`;
  const more = bad.length > limit ? ` and ${bad.length - limit} more` : '';
  return `Weights holding NaN/Inf: ${bad.slice(0, limit).map(part).join(', ')}${more}.`;
}

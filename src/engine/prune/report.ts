/**
 * Sparsity accounting and per-layer reports, shared by every pruning method.
 *
 * Achieved sparsity counts the decoder linear weights only (q, k, v, o, gate, up, down of
 * every layer; not embeddings, lm_head, norms or biases):
 *   zeros   (magnitude, Wanda): zero weights after / linear weights;
 *   removed (FLAP):             1 − linear weights after / linear weights before.
 */
import type { LayerReport, ScoreSummary, SparsityReport } from '../record';
import { LINEAR_NAMES, type HostTensor, type LayerWeights, type LinearName, type ModelWeights } from '../model/weights';

export interface PruneOutcome {
  weights: ModelWeights<HostTensor>;
  layers: LayerReport[];
  sparsity: SparsityReport;
}

export function countZeros(a: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === 0) n++;
  return n;
}

export function linearParams(w: ModelWeights<HostTensor>): number {
  let n = 0;
  for (const l of w.layers) for (const name of LINEAR_NAMES) n += l[name].data.length;
  return n;
}

export function linearZeros(w: ModelWeights<HostTensor>): number {
  let n = 0;
  for (const l of w.layers) for (const name of LINEAR_NAMES) n += countZeros(l[name].data);
  return n;
}

export function sparsityReport(before: ModelWeights<HostTensor>, after: ModelWeights<HostTensor>, kind: SparsityReport['kind']): SparsityReport {
  const linearParamsBefore = linearParams(before);
  const linearParamsAfter = linearParams(after);
  const zerosAfter = linearZeros(after);
  const achieved =
    kind === 'zeros' ? (linearParamsAfter ? zerosAfter / linearParamsAfter : 0) : linearParamsBefore ? 1 - linearParamsAfter / linearParamsBefore : 0;
  return { kind, achieved, linearParamsBefore, linearParamsAfter, zerosAfter };
}

export function matrixReports(l: LayerWeights<HostTensor>, alphas: Partial<Record<LinearName, number>> = {}): LayerReport['matrices'] {
  return LINEAR_NAMES.map((name) => {
    const t = l[name];
    const zeros = countZeros(t.data);
    const a = alphas[name];
    return {
      name,
      rows: t.shape[0] ?? 0,
      cols: t.shape[1] ?? 0,
      zeros,
      sparsity: t.data.length ? zeros / t.data.length : 0,
      ...(a !== undefined ? { alpha: a } : {}),
    };
  });
}

export function layerReport(li: number, before: LayerWeights<HostTensor>, after: LayerWeights<HostTensor>, alphas: Partial<Record<LinearName, number>> = {}): LayerReport {
  return {
    layer: li,
    matrices: matrixReports(after, alphas),
    heads: { before: before.numHeads, after: after.numHeads },
    kvHeads: { before: before.numKvHeads, after: after.numKvHeads },
    channels: { before: before.intermediateSize, after: after.intermediateSize },
  };
}

export function summarize(values: ArrayLike<number>): ScoreSummary {
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) continue;
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
    count++;
  }
  return count ? { count, min, mean: sum / count, max } : { count: 0, min: 0, mean: 0, max: 0 };
}

/** A copy of a layer with one linear's weight replaced. */
export function withLinear(l: LayerWeights<HostTensor>, name: LinearName, data: Float32Array): LayerWeights<HostTensor> {
  return { ...l, [name]: { shape: l[name].shape, data } };
}

/**
 * Text generation for before/after comparisons: greedy (argmax) or sampled with a seeded
 * generator so that a shared link reproduces the same text. Each step re-runs the whole
 * prefix (no KV cache): simple and exact, and fast enough for short demo prompts.
 */
import { throwIfAborted } from './errors';
import type { LlamaModel } from './model/llama';
import { seededRandom } from './random';

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature?: number;
  seed?: number;
  /** Stop when the model emits one of these ids (BOS marks a story end for llama2.c models). */
  stopIds?: number[];
  signal?: AbortSignal;
  onToken?: (id: number) => void;
}

function argmax(x: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (x[offset + j]! > x[offset + best]!) best = j;
  return best;
}

function sample(x: Float32Array, offset: number, n: number, temperature: number, rand: () => number): number {
  let max = -Infinity;
  for (let j = 0; j < n; j++) max = Math.max(max, x[offset + j]!);
  const p = new Float64Array(n);
  let sum = 0;
  for (let j = 0; j < n; j++) {
    p[j] = Math.exp((x[offset + j]! - max) / temperature);
    sum += p[j]!;
  }
  let r = rand() * sum;
  for (let j = 0; j < n; j++) {
    r -= p[j]!;
    if (r <= 0) return j;
  }
  return n - 1;
}

/** Returns the new token ids (the prompt is not repeated). */
export async function generate(model: LlamaModel, prompt: readonly number[], opts: GenerateOptions): Promise<number[]> {
  if (prompt.length === 0) throw new Error('generate: the prompt needs at least one token (BOS)');
  const temperature = opts.temperature ?? 0;
  const rand = seededRandom(opts.seed ?? 0);
  const V = model.config.vocabSize;
  const ctx = [...prompt];
  const out: number[] = [];
  const maxLen = model.config.maxPositionEmbeddings;
  for (let step = 0; step < opts.maxNewTokens && ctx.length < maxLen; step++) {
    throwIfAborted(opts.signal, 'generation');
    const logitsT = model.forward(Int32Array.from(ctx));
    const logits = await model.backend.read(logitsT);
    model.backend.dispose(logitsT);
    const last = (ctx.length - 1) * V;
    const next = temperature > 0 ? sample(logits, last, V, temperature, rand) : argmax(logits, last, V);
    if (opts.stopIds?.includes(next)) break;
    out.push(next);
    ctx.push(next);
    opts.onToken?.(next);
  }
  return out;
}

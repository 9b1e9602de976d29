/**
 * Text generation for before/after comparisons: greedy (argmax) or sampled with a seeded
 * generator (temperature, optional top-k and top-p) so that a shared link reproduces the
 * same text.
 *
 * With a KV cache (the default) the prompt runs once (prefill) and every new token is one
 * single-row forward pass that attends to the cached keys/values. `cache: false` re-runs
 * the whole prefix per token instead: the plain reference the cached path is tested
 * against (on the CPU backend both give bit-identical logits, since every row is computed
 * by the same loops in the same order).
 */
import { StudioError, throwIfAborted } from './errors';
import type { LlamaModel } from './model/llama';
import { KvCache } from './model/kv-cache';
import { seededRandom } from './random';

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or absent = all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or absent = all). */
  topP?: number;
  seed?: number;
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Stop when the model emits one of these ids (BOS marks a story end for llama2.c models). */
  stopIds?: number[];
  signal?: AbortSignal;
  onToken?: (id: number) => void;
  /** Use a KV cache (default true). */
  cache?: boolean;
}

export interface GenerateResult {
  ids: number[];
  /** Wall time of the prompt pass (prefill) and of the decode steps, ms. */
  prefillMs: number;
  decodeMs: number;
  /** Generated tokens per second over the whole call (prefill included). */
  tokensPerSecond: number;
}

function argmax(x: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (x[offset + j]! > x[offset + best]!) best = j;
  return best;
}

/**
 * Samples from softmax(x / temperature) restricted to the top-k / top-p set. Probabilities
 * are formed in float64; ties keep the lower id first, so the draw is deterministic for a
 * given seed.
 */
export function sampleToken(x: Float32Array, offset: number, n: number, opts: SamplingOptions, rand: () => number): number {
  const temperature = opts.temperature ?? 0;
  if (!(temperature > 0)) return argmax(x, offset, n);
  let max = -Infinity;
  for (let j = 0; j < n; j++) max = Math.max(max, x[offset + j]!);
  const p = new Float64Array(n);
  let sum = 0;
  for (let j = 0; j < n; j++) {
    p[j] = Math.exp((x[offset + j]! - max) / temperature);
    sum += p[j]!;
  }
  const topK = opts.topK && opts.topK > 0 ? Math.min(opts.topK, n) : n;
  const topP = opts.topP ?? 1;
  if (topK < n || topP < 1) {
    const order = Array.from({ length: n }, (_, j) => j).sort((a, b) => p[b]! - p[a]! || a - b);
    let kept = 0;
    let mass = 0;
    const keep: number[] = [];
    for (const j of order) {
      if (kept >= topK || (kept > 0 && mass >= topP * sum)) break;
      keep.push(j);
      kept++;
      mass += p[j]!;
    }
    let r = rand() * mass;
    for (const j of keep) {
      r -= p[j]!;
      if (r <= 0) return j;
    }
    return keep[keep.length - 1]!;
  }
  let r = rand() * sum;
  for (let j = 0; j < n; j++) {
    r -= p[j]!;
    if (r <= 0) return j;
  }
  return n - 1;
}

function checkOptions(prompt: readonly number[], opts: GenerateOptions): void {
  if (prompt.length === 0) throw new StudioError('input', 'generate: the prompt needs at least one token (BOS)');
  if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 0) throw new StudioError('input', `generate: max new tokens must be a whole number ≥ 0, got ${opts.maxNewTokens}`);
  const t = opts.temperature ?? 0;
  if (!Number.isFinite(t) || t < 0) throw new StudioError('input', `generate: temperature must be ≥ 0, got ${t}`);
  if (opts.topK !== undefined && (!Number.isInteger(opts.topK) || opts.topK < 0)) throw new StudioError('input', `generate: top-k must be a whole number ≥ 0, got ${opts.topK}`);
  if (opts.topP !== undefined && !(opts.topP > 0 && opts.topP <= 1)) throw new StudioError('input', `generate: top-p must be in (0, 1], got ${opts.topP}`);
}

/** Generates up to maxNewTokens after the prompt; returns the new ids (not the prompt) and timings. */
export async function generateWithStats(model: LlamaModel, prompt: readonly number[], opts: GenerateOptions): Promise<GenerateResult> {
  checkOptions(prompt, opts);
  const rand = seededRandom(opts.seed ?? 0);
  const V = model.config.vocabSize;
  const maxLen = model.config.maxPositionEmbeddings;
  if (prompt.length > maxLen) throw new StudioError('input', `generate: the prompt has ${prompt.length} tokens, over the model's context of ${maxLen}`);
  const b = model.backend;
  const cache = opts.cache === false ? null : new KvCache(model, Math.min(maxLen, prompt.length + opts.maxNewTokens));
  const ctx = [...prompt];
  const out: number[] = [];
  const t0 = performance.now();
  let prefillMs = 0;
  try {
    // Input of the next pass: the whole prompt first, then one token at a time (cached) or
    // the whole context (uncached).
    let input: number[] = ctx;
    for (let step = 0; step < opts.maxNewTokens && ctx.length < maxLen; step++) {
      throwIfAborted(opts.signal, 'generation');
      const logitsT = model.forward(Int32Array.from(input), cache ? { cache } : {});
      const logits = await b.read(logitsT);
      b.dispose(logitsT);
      if (step === 0) prefillMs = performance.now() - t0;
      const last = (input.length - 1) * V;
      const next = sampleToken(logits, last, V, opts, rand);
      if (opts.stopIds?.includes(next)) break;
      out.push(next);
      ctx.push(next);
      opts.onToken?.(next);
      input = cache ? [next] : ctx;
    }
  } finally {
    cache?.dispose();
  }
  const total = performance.now() - t0;
  return { ids: out, prefillMs, decodeMs: total - prefillMs, tokensPerSecond: total > 0 ? (out.length * 1000) / total : 0 };
}

/** Returns the new token ids (the prompt is not repeated). */
export async function generate(model: LlamaModel, prompt: readonly number[], opts: GenerateOptions): Promise<number[]> {
  return (await generateWithStats(model, prompt, opts)).ids;
}

/**
 * Perplexity over non-overlapping windows of a token stream.
 *
 * Each window of L tokens is one forward pass; token 0 is context only, tokens 1…L−1 are
 * scored (NLL of token t given tokens < t within the window). Over all scored tokens,
 * mean NLL = Σ nll / count and ppl = exp(mean NLL). Sums are kept in float64.
 */
import { StudioError, throwIfAborted } from '../errors';
import type { Tensor } from '../backend/backend';
import type { LlamaModel } from '../model/llama';
import { checkSeqlen, checkWindows, windowCount, windowTokens, type WindowRange } from '../data';

export interface PerplexityOptions {
  seqlen: number;
  windows: WindowRange;
  signal?: AbortSignal;
  /** Awaited when it returns a promise: the worker's test hooks hold a job there (engine-api.ts). */
  onProgress?: (p: { done: number; total: number }) => void | Promise<void>;
}

export interface PerplexityResult {
  meanNll: number;
  ppl: number;
  scoredTokens: number;
  /** Mean NLL of each window, in order. */
  windowMeanNll: number[];
}

/** Lets queued messages (cancel, progress) through between windows. */
const yieldToEventLoop = () => new Promise<void>((r) => setTimeout(r, 0));

export async function evaluatePerplexity(model: LlamaModel, stream: Int32Array, opts: PerplexityOptions): Promise<PerplexityResult> {
  const { seqlen } = opts;
  checkSeqlen(seqlen, model.config.maxPositionEmbeddings);
  const w = checkWindows(opts.windows, windowCount(stream.length, seqlen));
  const total = w.end - w.start;
  let sum = 0;
  let count = 0;
  const windowMeanNll: number[] = [];
  await opts.onProgress?.({ done: 0, total });
  for (let i = w.start; i < w.end; i++) {
    await yieldToEventLoop();
    throwIfAborted(opts.signal, 'evaluation');
    const values = await windowNll(model, windowTokens(stream, seqlen, i));
    let ws = 0;
    for (const v of values) ws += v;
    if (!Number.isFinite(ws)) throw nonFiniteLoss(values, i, seqlen);
    sum += ws;
    count += values.length;
    windowMeanNll.push(ws / values.length);
    await opts.onProgress?.({ done: i - w.start + 1, total });
  }
  const meanNll = sum / count;
  return { meanNll, ppl: Math.exp(meanNll), scoredTokens: count, windowMeanNll };
}

/**
 * Per-token NLL of one window. Every tensor made here is freed even when a kernel or the
 * read throws (a lost device, a cancelled job), so a failed window leaks no GPU memory.
 */
async function windowNll(model: LlamaModel, ids: Int32Array): Promise<Float32Array> {
  const b = model.backend;
  const held: Tensor[] = [];
  try {
    const logits = model.forward(ids.subarray(0, ids.length - 1));
    held.push(logits);
    const targets = b.uploadIds(ids.slice(1));
    held.push(targets);
    const nll = b.nll(logits, targets);
    held.push(nll);
    return await b.read(nll);
  } finally {
    for (const t of held) b.dispose(t);
  }
}

/**
 * A window whose loss is NaN or ±Inf: the weights or activations overflowed or hold NaN.
 * Averaging it into a perplexity would give a meaningless number (or a chart of garbage),
 * so the run stops here, saying which window and which positions.
 */
function nonFiniteLoss(values: Float32Array, window: number, seqlen: number): StudioError {
  let nan = 0;
  let inf = 0;
  let first = -1;
  values.forEach((v, t) => {
    if (Number.isFinite(v)) return;
    if (Number.isNaN(v)) nan++;
    else inf++;
    if (first < 0) first = t;
  });
  const kinds = [nan ? `NaN at ${nan}` : '', inf ? `±Inf at ${inf}` : ''].filter(Boolean).join(' and ');
  const start = window * seqlen;
  return new StudioError(
    'numerics',
    `evaluation stopped: the loss of window ${window} (tokens ${start}…${start + seqlen - 1}) is not finite — ${kinds || 'overflow in the sum'} ` +
      `of ${values.length} scored positions, first at position ${first + 1}. The model's weights or activations hold NaN or Inf ` +
      '(diverged or corrupt weights, or an overflow); no result was recorded.',
  );
}

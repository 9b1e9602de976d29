/**
 * Perplexity over non-overlapping windows of a token stream.
 *
 * Each window of L tokens is one forward pass; token 0 is context only, tokens 1…L−1 are
 * scored (NLL of token t given tokens < t within the window). Over all scored tokens,
 * mean NLL = Σ nll / count and ppl = exp(mean NLL). Sums are kept in float64.
 */
import { throwIfAborted } from '../errors';
import type { LlamaModel } from '../model/llama';
import { checkSeqlen, checkWindows, windowCount, windowTokens, type WindowRange } from '../data';

export interface PerplexityOptions {
  seqlen: number;
  windows: WindowRange;
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number }) => void;
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
  const b = model.backend;
  const total = w.end - w.start;
  let sum = 0;
  let count = 0;
  const windowMeanNll: number[] = [];
  opts.onProgress?.({ done: 0, total });
  for (let i = w.start; i < w.end; i++) {
    await yieldToEventLoop();
    throwIfAborted(opts.signal, 'evaluation');
    const ids = windowTokens(stream, seqlen, i);
    const logits = model.forward(ids.subarray(0, seqlen - 1));
    const targets = b.uploadIds(ids.slice(1));
    const nll = b.nll(logits, targets);
    b.dispose(logits);
    b.dispose(targets);
    const values = await b.read(nll);
    b.dispose(nll);
    let ws = 0;
    for (const v of values) ws += v;
    if (!Number.isFinite(ws)) throw new Error(`evaluation: non-finite NLL in window ${i}`);
    sum += ws;
    count += values.length;
    windowMeanNll.push(ws / values.length);
    opts.onProgress?.({ done: i - w.start + 1, total });
  }
  const meanNll = sum / count;
  return { meanNll, ppl: Math.exp(meanNll), scoredTokens: count, windowMeanNll };
}

/**
 * Token streams and evaluation windows (the studio's perplexity protocol):
 * stream = BOS + encode(whole text), no per-line BOS; window w = stream[w·L, (w+1)·L).
 */
import { StudioError } from './errors';
import type { Tokenizer } from './tokenizer';

/** Bundled texts, served from public/datasets/ (licence notes beside them). */
export const BUNDLED_DATASETS = {
  tinystories: { file: 'tinystories_val.txt', title: 'TinyStories (validation sample)', licence: 'CDLA-Sharing-1.0' },
  wikitext2: { file: 'wikitext2_test.txt', title: 'WikiText-2 (test, tokenised v1)', licence: 'CC BY-SA 3.0' },
  shakespeare: { file: 'tinyshakespeare.txt', title: 'Tiny Shakespeare', licence: 'public domain' },
} as const;
export type BundledDatasetName = keyof typeof BUNDLED_DATASETS;

export function isBundledDataset(name: string): name is BundledDatasetName {
  return Object.prototype.hasOwnProperty.call(BUNDLED_DATASETS, name);
}

export interface TokenStream {
  ids: Int32Array;
  /** Whether ids[0] is a BOS the protocol added. */
  bos: boolean;
}

export function tokenStream(tokenizer: Tokenizer, text: string, bosFallback: number | null = null): TokenStream {
  const body = tokenizer.encode(text);
  const bos = tokenizer.bosTokenId ?? bosFallback;
  const ids = new Int32Array(body.length + (bos === null ? 0 : 1));
  let p = 0;
  if (bos !== null) ids[p++] = bos;
  for (const id of body) ids[p++] = id;
  return { ids, bos: bos !== null };
}

const STREAM_CACHE_ENTRIES = 4;
const streamCache = new WeakMap<Tokenizer, Map<string, TokenStream>>();

/**
 * tokenStream, remembered per tokenizer and text hash: encoding a whole corpus takes
 * seconds, and a session evaluates the same text many times (before/after, sweeps).
 */
export async function cachedTokenStream(tokenizer: Tokenizer, text: string, bosFallback: number | null = null): Promise<TokenStream & { sha256: string }> {
  const sha256 = await sha256Hex(text);
  let perTokenizer = streamCache.get(tokenizer);
  if (!perTokenizer) streamCache.set(tokenizer, (perTokenizer = new Map()));
  const key = `${sha256}:${bosFallback}`;
  let stream = perTokenizer.get(key);
  if (stream) {
    perTokenizer.delete(key); // re-insert as most recent
  } else {
    stream = tokenStream(tokenizer, text, bosFallback);
  }
  perTokenizer.set(key, stream);
  while (perTokenizer.size > STREAM_CACHE_ENTRIES) perTokenizer.delete(perTokenizer.keys().next().value!);
  return { ...stream, sha256 };
}

export interface WindowRange {
  /** First window (inclusive). */
  start: number;
  /** Last window (exclusive). */
  end: number;
}

/** A window needs two tokens (one context, one scored) and must fit the model's context. */
export function checkSeqlen(seqlen: number, maxPositions: number): void {
  if (!Number.isSafeInteger(seqlen) || seqlen < 2) throw new StudioError('input', `seqlen ${seqlen} must be an integer of at least 2`);
  if (seqlen > maxPositions) throw new StudioError('input', `seqlen ${seqlen} exceeds the model's context of ${maxPositions} tokens`);
}

export function windowCount(streamLength: number, seqlen: number): number {
  return Math.floor(streamLength / seqlen);
}

/** Parses "A:B" (half-open), "A:" (to the end), ":B", "N" (window N alone) or "all". */
export function parseWindows(spec: string, available: number): WindowRange {
  const s = spec.trim();
  let start: number;
  let end: number;
  if (s === 'all' || s === ':') {
    start = 0;
    end = available;
  } else if (/^\d+$/.test(s)) {
    start = Number(s);
    end = start + 1;
  } else {
    const m = /^(\d*):(\d*)$/.exec(s);
    if (!m) throw new StudioError('input', `windows "${spec}" is not of the form A:B (half-open), A:, :B, N or all`);
    start = m[1] ? Number(m[1]) : 0;
    end = m[2] ? Number(m[2]) : available;
  }
  return checkWindows({ start, end }, available);
}

export function checkWindows(w: WindowRange, available: number): WindowRange {
  if (!Number.isSafeInteger(w.start) || !Number.isSafeInteger(w.end) || w.start < 0 || w.end <= w.start) {
    throw new StudioError('input', `windows ${w.start}:${w.end} is empty or invalid`);
  }
  if (w.end > available) {
    throw new StudioError('input', `windows ${w.start}:${w.end} out of range: the text has ${available} windows`);
  }
  return w;
}

export function windowTokens(stream: Int32Array, seqlen: number, w: number): Int32Array {
  return stream.subarray(w * seqlen, (w + 1) * seqlen);
}

/** SHA-256 of a text, hex; records carry it so that two numbers can be checked for the same data. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

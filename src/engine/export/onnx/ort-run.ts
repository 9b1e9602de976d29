/**
 * Runs an exported decoder in onnxruntime-web (any execution provider) the way
 * transformers.js does: perplexity windows with the studio's protocol, and cached
 * step-by-step decoding. The `ort` module is passed in so the engine does not bundle it.
 */
import type * as Ort from 'onnxruntime-web';
import { StudioError, throwIfAborted } from '../../errors';
import { checkWindows, windowCount, windowTokens, type WindowRange } from '../../data';

export type OrtModule = typeof Ort;

export interface OrtDecoder {
  ort: OrtModule;
  session: Ort.InferenceSession;
  numLayers: number;
  /** [kv heads, head dim] of each layer's cache, read from the session's input metadata. */
  cacheShapes: [number, number][];
}

export async function createOrtDecoder(ort: OrtModule, model: Uint8Array, opts: { externalData?: Uint8Array | null; executionProviders?: string[] } = {}): Promise<OrtDecoder> {
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model, {
      executionProviders: opts.executionProviders ?? ['wasm'],
      ...(opts.externalData ? { externalData: [{ path: 'model.onnx_data', data: opts.externalData }] } : {}),
    });
  } catch (e) {
    throw new StudioError('input', `onnxruntime-web could not load the model: ${e instanceof Error ? e.message : String(e)}`);
  }
  const cacheShapes: [number, number][] = [];
  for (const meta of session.inputMetadata) {
    const m = /^past_key_values\.(\d+)\.key$/.exec(meta.name);
    if (!m || !meta.isTensor) continue;
    const [, heads, , hd] = meta.shape;
    // Symbolic head counts (layers left with no heads) resolve to 0, as in transformers.js.
    cacheShapes[Number(m[1])] = [typeof heads === 'number' && heads < 2 ** 31 ? heads : 0, Number(hd)];
  }
  return { ort, session, numLayers: cacheShapes.length, cacheShapes };
}

export interface StepResult {
  /** [seq, vocab] logits of the last call (batch 1). */
  logits: Float32Array;
  vocab: number;
  /** present.* tensors, to feed as the next call's past. */
  cache: Record<string, Ort.Tensor>;
}

/** One call with batch 1: `ids` follow `past` (null = empty cache). */
export async function ortStep(d: OrtDecoder, ids: ArrayLike<number>, pastLength: number, past: Record<string, Ort.Tensor> | null): Promise<StepResult> {
  const { ort } = d;
  const S = ids.length;
  const feeds: Record<string, Ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(Array.from(ids, (v) => BigInt(v))), [1, S]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(pastLength + S).fill(1n), [1, pastLength + S]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: S }, (_, i) => BigInt(pastLength + i)), [1, S]),
  };
  for (let i = 0; i < d.numLayers; i++) {
    const [heads, hd] = d.cacheShapes[i]!;
    for (const kind of ['key', 'value']) {
      feeds[`past_key_values.${i}.${kind}`] = past?.[`present.${i}.${kind}`] ?? new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, hd]);
    }
  }
  const out = await d.session.run(feeds);
  const logits = out.logits!;
  const cache: Record<string, Ort.Tensor> = {};
  for (const [k, v] of Object.entries(out)) if (k.startsWith('present.')) cache[k] = v;
  return { logits: logits.data as Float32Array, vocab: logits.dims[2]!, cache };
}

/** Mean NLL per window and overall, exactly as evaluatePerplexity scores the engine. */
export async function ortPerplexity(d: OrtDecoder, stream: Int32Array, seqlen: number, windows: WindowRange, signal?: AbortSignal) {
  const w = checkWindows(windows, windowCount(stream.length, seqlen));
  let sum = 0;
  let count = 0;
  const windowMeanNll: number[] = [];
  for (let i = w.start; i < w.end; i++) {
    throwIfAborted(signal, 'ONNX evaluation');
    const ids = windowTokens(stream, seqlen, i);
    const { logits, vocab } = await ortStep(d, ids.subarray(0, ids.length - 1), 0, null);
    let ws = 0;
    for (let t = 0; t < ids.length - 1; t++) ws += nllAt(logits, vocab, t, ids[t + 1]!);
    sum += ws;
    count += ids.length - 1;
    windowMeanNll.push(ws / (ids.length - 1));
  }
  const meanNll = sum / count;
  return { meanNll, ppl: Math.exp(meanNll), scoredTokens: count, windowMeanNll };
}

/** −log softmax(logits[t])[target], in float64. */
export function nllAt(logits: Float32Array, vocab: number, t: number, target: number): number {
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) max = Math.max(max, logits[t * vocab + v]!);
  let s = 0;
  for (let v = 0; v < vocab; v++) s += Math.exp(logits[t * vocab + v]! - max);
  return Math.log(s) + max - logits[t * vocab + target]!;
}

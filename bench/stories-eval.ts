/**
 * The quantization benches' evaluation protocol, loaded once: the bundled stories260K, the
 * TinyStories stream (BOS + whole text), windows of 512 tokens, and the perplexity of any
 * weights of that model on those windows (bench/quant-rtn.ts, bench/l4q-sweep.ts).
 */
import path from 'node:path';
import { resolveDataset } from '../src/cli/common';
import { dirSource } from '../src/cli/fs-source';
import type { Backend } from '../src/engine/backend/backend';
import { cachedTokenStream, parseWindows, windowCount } from '../src/engine/data';
import { evaluatePerplexity } from '../src/engine/eval/perplexity';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel } from '../src/engine/model/load';
import type { HostTensor, ModelWeights } from '../src/engine/model/weights';

export const STORIES_SEQLEN = 512;

export async function storiesEval(windowSpec: string, backend: Backend) {
  const root = path.resolve(import.meta.dirname, '..');
  const model = await loadModel('stories260K', dirSource(path.join(root, 'public/models/stories260K')));
  const { text } = await resolveDataset('tinystories');
  const stream = await cachedTokenStream(model.tokenizer, text, model.config.bosTokenId);
  const count = windowCount(stream.ids.length, STORIES_SEQLEN);
  const windows = parseWindows(windowSpec, count);
  /** Perplexity on the protocol's windows, or on other windows of the same stream (`spec`, e.g. "20:40"). */
  const ppl = async (w: ModelWeights<HostTensor>, spec?: string): Promise<number> => {
    const lm = new LlamaModel(model.config, backend, w);
    try {
      return (await evaluatePerplexity(lm, stream.ids, { seqlen: STORIES_SEQLEN, windows: spec === undefined ? windows : parseWindows(spec, count) })).ppl;
    } finally {
      lm.dispose();
    }
  };
  return { model, stream, windows, ppl };
}

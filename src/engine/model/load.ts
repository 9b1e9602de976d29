/**
 * Loads a model directory in Hub layout: config.json, model.safetensors, tokenizer.json,
 * tokenizer_config.json. The config is parsed and validated first, so an unsupported
 * architecture is refused before the weights are read.
 */
import { StudioError } from '../errors';
import { createTokenizer, type Tokenizer } from '../tokenizer';
import { parseModelConfig, type ModelConfig } from './config';
import { SafetensorsFile } from './safetensors';
import { readJson, type ByteProgress, type FileSource } from './source';
import { countWeightParameters, loadHostWeights, type HostTensor, type ModelWeights } from './weights';

export interface LoadedModel {
  /** The id the studio and records use (e.g. "stories260K" or a Hub id). */
  id: string;
  config: ModelConfig;
  tokenizer: Tokenizer;
  weights: ModelWeights<HostTensor>;
  parameters: number;
  /** Bytes of the weight files as read. */
  weightBytes: number;
}

export interface LoadOptions {
  signal?: AbortSignal;
  onProgress?: (p: ByteProgress) => void;
}

export async function loadModel(id: string, src: FileSource, opts: LoadOptions = {}): Promise<LoadedModel> {
  const config = parseModelConfig(await readJson(src, 'config.json', opts.signal), `${src.label}/config.json`);
  const tokenizerJson = await readJson(src, 'tokenizer.json', opts.signal);
  let tokenizerConfig: unknown = {};
  try {
    tokenizerConfig = await readJson(src, 'tokenizer_config.json', opts.signal);
  } catch (e) {
    // tokenizer_config.json is optional in the Hub layout; a missing file is fine, a broken one is not.
    if (!(e instanceof StudioError && e.code === 'not-found')) throw e;
  }
  const tokenizer = createTokenizer(tokenizerJson, tokenizerConfig, `${src.label}/tokenizer.json`);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new StudioError('tokenizer', `${src.label}: tokenizer has ${tokenizer.vocabSize} tokens but config.json vocab_size is ${config.vocabSize}`);
  }
  const file = `${src.label}/model.safetensors`;
  const bytes = await src.readBytes('model.safetensors', { signal: opts.signal, onProgress: opts.onProgress });
  const st = new SafetensorsFile(bytes, file);
  const weights = loadHostWeights(
    config,
    { has: (n) => st.header.tensors.has(n), shape: (n) => st.entry(n).shape, float32: (n) => st.float32(n) },
    file,
  );
  return { id, config, tokenizer, weights, parameters: countWeightParameters(weights), weightBytes: bytes.byteLength };
}

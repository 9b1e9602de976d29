/**
 * Loads a model directory in Hub layout: config.json, model.safetensors (or the shards a
 * model.safetensors.index.json names), tokenizer.json, tokenizer_config.json. The config is
 * parsed and validated first, so an unsupported architecture is refused before the weights
 * are read.
 *
 * Weights are read tensor by tensor (readSafetensorsStream) when the source can stream:
 * only the decoded float32 tensors and one tensor's raw bytes are held at a time, never
 * the whole file next to its decoded copy.
 */
import { StudioError } from '../errors';
import { checkShardContents, INDEX_FILE, parseShardIndex, SINGLE_FILE, type ShardIndex } from './shard-index';
import { createTokenizer, type Tokenizer } from '../tokenizer';
import { parseModelConfig, type ModelConfig } from './config';
import { dataSectionBytes, decodeFloatTensor, SafetensorsFile, type TensorEntry } from './safetensors';
import { readSafetensorsStream } from './safetensors-stream';
import { readJson, type ByteProgress, type FileSource } from './source';
import { countWeightParameters, hfLayerNames, loadHostWeights, type HostTensor, type ModelWeights, type TensorProvider } from './weights';
import { packedProvider, packedTensorNames, readQuantizationConfig } from './checkpoint';

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
  /** Bytes of all weight files together (`file` is the one being read; `total` null while unknown). */
  onProgress?: (p: ByteProgress) => void;
  /** Sizes of the weight files when already known (from a Hub preview), for one overall total. */
  weightFileSizes?: Record<string, number>;
}

/** Reads and checks config.json alone (the first thing any load does). */
export async function loadConfig(src: FileSource, signal?: AbortSignal): Promise<ModelConfig> {
  return parseModelConfig(await readJson(src, 'config.json', signal), `${src.label}/config.json`);
}

export async function loadTokenizer(src: FileSource, config: ModelConfig, signal?: AbortSignal): Promise<Tokenizer> {
  const tokenizerJson = await readJson(src, 'tokenizer.json', signal);
  let tokenizerConfig: unknown = {};
  try {
    tokenizerConfig = await readJson(src, 'tokenizer_config.json', signal);
  } catch (e) {
    // tokenizer_config.json is optional in the Hub layout; a missing file is fine, a broken one is not.
    if (!(e instanceof StudioError && e.code === 'not-found')) throw e;
  }
  const tokenizer = createTokenizer(tokenizerJson, tokenizerConfig, `${src.label}/tokenizer.json`);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new StudioError('tokenizer', `${src.label}: tokenizer has ${tokenizer.vocabSize} tokens but config.json vocab_size is ${config.vocabSize}`);
  }
  return tokenizer;
}

/** The shard index, or null for a single model.safetensors (no index file). */
export async function loadShardIndex(src: FileSource, signal?: AbortSignal): Promise<ShardIndex | null> {
  let json: unknown;
  try {
    json = await readJson(src, INDEX_FILE, signal);
  } catch (e) {
    if (e instanceof StudioError && e.code === 'not-found') return null;
    throw e;
  }
  return parseShardIndex(json, `${src.label}/${INDEX_FILE}`);
}

/** Tensor names the forward pass may read (others in a checkpoint are skipped undecoded). */
function wantedNames(cfg: ModelConfig): Set<string> {
  const names = new Set(['model.embed_tokens.weight', 'model.norm.weight', 'lm_head.weight']);
  for (let i = 0; i < cfg.numLayers; i++) for (const n of Object.values(hfLayerNames(i))) names.add(n);
  return names;
}

export async function loadModel(id: string, src: FileSource, opts: LoadOptions = {}): Promise<LoadedModel> {
  const config = await loadConfig(src, opts.signal);
  const tokenizer = await loadTokenizer(src, config, opts.signal);
  const index = await loadShardIndex(src, opts.signal);
  const files = index ? index.shards : [SINGLE_FILE];
  const label = index ? `${src.label}/${INDEX_FILE}` : `${src.label}/${SINGLE_FILE}`;
  const want = wantedNames(config);
  // A quantized checkpoint (checkpoint.ts) stores packed linears as U8 codes + scales.
  for (const n of packedTensorNames(config)) want.add(n);
  const rawU8 = new Map<string, { shape: number[]; bytes: Uint8Array }>();

  const decoded = new Map<string, { entry: TensorEntry; data: Float32Array; file: string }>();
  const shardNames = new Map<string, Set<string>>();
  const known = opts.weightFileSizes;
  const overall = known && files.every((f) => known[f] !== undefined) ? files.reduce((a, f) => a + known[f]!, 0) : null;
  let before = 0;
  for (const file of files) {
    const where = `${src.label}/${file}`;
    const keep = (entry: TensorEntry, bytes: Uint8Array) => {
      if (entry.dtype === 'U8' && /\.q(weight|zeros)$/.test(entry.name)) return void rawU8.set(entry.name, { shape: entry.shape, bytes: bytes.slice() });
      if (decoded.has(entry.name)) throw new StudioError('weights', `${where}: tensor "${entry.name}" is also in ${decoded.get(entry.name)!.file}`);
      decoded.set(entry.name, { entry, data: decodeFloatTensor(bytes, entry.dtype, `${where}: ${entry.name}`), file });
    };
    const progress = (p: ByteProgress) => opts.onProgress?.({ file: p.file, loaded: before + p.loaded, total: overall ?? (files.length === 1 ? p.total : null) });
    let size: number;
    if (src.openStream) {
      const s = await src.openStream(file, { signal: opts.signal, onProgress: progress });
      const header = await readSafetensorsStream(s.stream, s.size, where, (t) => keep(t.entry, t.bytes), { want: (n) => want.has(n), signal: opts.signal });
      shardNames.set(file, new Set(header.tensors.keys()));
      size = header.dataStart + dataSectionBytes(header);
    } else {
      const bytes = await src.readBytes(file, { signal: opts.signal, onProgress: progress });
      const st = new SafetensorsFile(bytes, where);
      for (const name of st.names) if (want.has(name)) keep(st.entry(name), st.rawBytes(name));
      shardNames.set(file, new Set(st.names));
      size = bytes.byteLength;
    }
    before += size;
  }
  if (index) checkShardContents(index, (shard, t) => shardNames.get(shard)?.has(t) ?? false, label);

  let provider: TensorProvider = {
    has: (n) => decoded.has(n),
    shape: (n) => decoded.get(n)!.entry.shape,
    float32: (n) => decoded.get(n)!.data,
  };
  // Only a checkpoint with packed codes needs its quantization_config (a second, small read).
  const qc = rawU8.size > 0 ? await readQuantizationConfig(src, opts.signal) : null;
  if (rawU8.size > 0 && !qc) throw new StudioError('weights', `${label}: has packed U8 tensors (${[...rawU8.keys()][0]}) but config.json has no quantization_config`);
  const packed = qc ? packedProvider(provider, (n) => rawU8.get(n) ?? null, qc, label) : null;
  if (packed) {
    packed.setWidths(config);
    provider = packed.provider;
  }
  const weights = loadHostWeights(config, provider, label);
  packed?.attach(weights);
  return { id, config, tokenizer, weights, parameters: countWeightParameters(weights), weightBytes: before };
}

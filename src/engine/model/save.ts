/**
 * Writes a model in Hub layout: model.safetensors (F32, Hugging Face tensor names),
 * config.json (the source config with the new sizes) and the tokenizer files copied.
 *
 * A structurally pruned model gets the per-layer keys documented in config.ts
 * (num_attention_heads_per_layer, num_key_value_heads_per_layer,
 * intermediate_size_per_layer, kv_head_map_per_layer) and its o_proj / down_proj biases as
 * tensors (`model.layers.N.self_attn.o_proj.bias`, `model.layers.N.mlp.down_proj.bias`);
 * `loadModel` reads all of it back. Quantized linears (HostTensor.packed) are written as
 * packed integers with scales and zero points plus `quantization_config` in config.json
 * (checkpoint.ts). Pure: returns file names → bytes; the caller writes
 * them (the CLI to a directory, the browser to a download).
 */
import { StudioError } from '../errors';
import type { ModelConfig } from './config';
import { writeSafetensors, type TensorToWrite } from './safetensors';
import { readJson, type FileSource } from './source';
import { readBytesCapped } from '../json-limits';
import { hfLayerNames, type HostTensor, type ModelWeights } from './weights';
import { packedTensors, quantizationConfigJson } from './checkpoint';

/** The config with quantization_config set for packed weights (and dropped for float ones). */
function withQuantizationConfig(config: Record<string, unknown>, w: ModelWeights<HostTensor>): Record<string, unknown> {
  const { quantization_config: _old, ...rest } = config;
  const q = quantizationConfigJson(w);
  return q ? { ...rest, quantization_config: q } : rest;
}

/** Files copied next to the weights when the source has them. */
export const COMPANION_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json', 'tokenizer.model', 'LICENSE'] as const;

export interface HubCompanions {
  /** The source config.json as parsed JSON (unknown keys are kept). */
  config: Record<string, unknown>;
  files: Record<string, Uint8Array>;
}

export async function readCompanions(src: FileSource, signal?: AbortSignal): Promise<HubCompanions> {
  const config = await readJson(src, 'config.json', signal);
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new StudioError('config', `${src.label}/config.json: not a JSON object`);
  const files: Record<string, Uint8Array> = {};
  for (const name of COMPANION_FILES) {
    try {
      files[name] = await readBytesCapped(src, name, signal);
    } catch (e) {
      if (!(e instanceof StudioError && e.code === 'not-found')) throw e;
    }
  }
  return { config: config as Record<string, unknown>, files };
}

const PER_LAYER_KEYS = ['num_attention_heads_per_layer', 'num_key_value_heads_per_layer', 'intermediate_size_per_layer', 'kv_head_map_per_layer'];

/** config.json for `cfg` (sizes, per-layer shapes) on top of the source config's other keys. */
export function hubConfigJson(cfg: ModelConfig, base: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const k of PER_LAYER_KEYS) delete out[k];
  out.num_attention_heads = cfg.numHeads;
  out.num_key_value_heads = cfg.numKvHeads;
  out.intermediate_size = cfg.intermediateSize;
  out.head_dim = cfg.headDim;
  out.torch_dtype = 'float32';
  const shapes = cfg.layerShapes;
  if (shapes) {
    out.num_attention_heads_per_layer = shapes.map((s) => s.numHeads);
    out.num_key_value_heads_per_layer = shapes.map((s) => s.numKvHeads);
    out.intermediate_size_per_layer = shapes.map((s) => s.intermediateSize);
    if (shapes.some((s) => s.kvHeadMap)) out.kv_head_map_per_layer = shapes.map((s) => s.kvHeadMap);
  }
  return out;
}

export function weightTensors(w: ModelWeights<HostTensor>): TensorToWrite[] {
  const out: TensorToWrite[] = [];
  const add = (name: string, t: HostTensor | null) => {
    // A quantized linear is written as its packed integers (checkpoint.ts), not as floats.
    if (t?.packed) out.push(...packedTensors(name.replace(/\.weight$/, ''), t.packed));
    else if (t) out.push({ name, dtype: 'F32', shape: [...t.shape], data: t.data });
  };
  add('model.embed_tokens.weight', w.embed);
  w.layers.forEach((l, i) => {
    const n = hfLayerNames(i);
    add(n.inputNorm, l.inputNorm);
    add(n.q, l.q);
    add(n.qBias, l.qBias);
    add(n.k, l.k);
    add(n.kBias, l.kBias);
    add(n.v, l.v);
    add(n.vBias, l.vBias);
    add(n.o, l.o);
    add(n.oBias, l.oBias);
    add(n.postNorm, l.postNorm);
    add(n.gate, l.gate);
    add(n.up, l.up);
    add(n.down, l.down);
    add(n.downBias, l.downBias);
  });
  add('model.norm.weight', w.norm);
  if (w.lmHead !== w.embed) add('lm_head.weight', w.lmHead);
  return out;
}

/** The files of the checkpoint: config.json, model.safetensors and the companions. */
export function hubCheckpointFiles(cfg: ModelConfig, w: ModelWeights<HostTensor>, companions: HubCompanions, metadata: Record<string, string> = {}): Record<string, Uint8Array> {
  const enc = new TextEncoder();
  return {
    ...companions.files,
    'config.json': enc.encode(`${JSON.stringify(withQuantizationConfig(hubConfigJson(cfg, companions.config), w), null, 2)}\n`),
    'model.safetensors': writeSafetensors(weightTensors(w), { format: 'pt', ...metadata }),
  };
}

/**
 * Random-weight Hub repositories of every supported kind, built by the tests: tiny
 * Llama/Mistral/Qwen2 shapes with the bundled stories260K tokenizer (512 tokens).
 *
 * The weights are first rounded to values that f16, bf16 and f32 all hold exactly (8
 * significant bits, magnitudes in f16's normal range, tiny values set to 0), so the f32,
 * f16 and bf16 copies of one model must give bit-identical logits.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseModelConfig, type ModelConfig } from '../../src/engine/model/config';
import { randomWeights } from '../../src/engine/model/random-model';
import { safetensorsHeaderBytes, writeSafetensors, type TensorToWrite } from '../../src/engine/model/safetensors';
import { weightTensors } from '../../src/engine/model/save';
import type { HostTensor, ModelWeights } from '../../src/engine/model/weights';
import { BUNDLED_MODEL_DIR } from './paths';
import type { HubRepoSpec } from './hub-server';

export type WeightDtype = 'F32' | 'F16' | 'BF16';

export const TINY_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  vocab_size: 512,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  torch_dtype: 'float32',
};

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Nearest value with 8 significant bits and |x| ≥ 2^-14 (or 0): exact in f16, bf16 and f32. */
function representable(x: number): number {
  if (Math.abs(x) < 2 ** -14) return 0;
  f32[0] = x;
  const b = u32[0]!;
  u32[0] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) << 16;
  return f32[0];
}

function encode(data: Float32Array, dtype: WeightDtype): Float32Array | Uint8Array {
  if (dtype === 'F32') return data;
  const out = new Uint8Array(data.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    f32[0] = data[i]!;
    const b = u32[0]!;
    if (dtype === 'BF16') {
      view.setUint16(i * 2, b >>> 16, true);
    } else {
      // Exact for representable(): normal range, mantissa fits in 10 bits.
      const sign = (b >>> 16) & 0x8000;
      const exp = (b >>> 23) & 0xff;
      const h = exp === 0 ? sign : sign | ((exp - 127 + 15) << 10) | ((b & 0x7fffff) >>> 13);
      view.setUint16(i * 2, h, true);
    }
  }
  return out;
}

export interface Fixture {
  config: Record<string, unknown>;
  parsed: ModelConfig;
  weights: ModelWeights<HostTensor>;
}

/** A tiny model of the given config overrides, its weights made exactly representable. */
export function fixtureModel(overrides: Record<string, unknown> = {}, seed = 7): Fixture {
  const config = { ...TINY_CONFIG, ...overrides };
  const parsed = parseModelConfig(config, 'fixture config.json');
  const weights = randomWeights(parsed, seed);
  const seen = new Set<Float32Array>();
  const round = (t: HostTensor) => {
    if (seen.has(t.data)) return;
    seen.add(t.data);
    for (let i = 0; i < t.data.length; i++) t.data[i] = representable(t.data[i]!);
  };
  round(weights.embed);
  round(weights.norm);
  round(weights.lmHead);
  for (const l of weights.layers) for (const t of [l.inputNorm, l.q, l.k, l.v, l.o, l.postNorm, l.gate, l.up, l.down, l.qBias, l.kBias, l.vBias]) if (t) round(t);
  return { config, parsed, weights };
}

function tokenizerFiles(): Record<string, string> {
  return {
    'tokenizer.json': readFileSync(path.join(BUNDLED_MODEL_DIR, 'tokenizer.json'), 'utf8'),
    'tokenizer_config.json': readFileSync(path.join(BUNDLED_MODEL_DIR, 'tokenizer_config.json'), 'utf8'),
  };
}

/** Hub files of a fixture: one model.safetensors, or `shards` files with an index. */
export function fixtureFiles(f: Fixture, opts: { dtype?: WeightDtype; shards?: number } = {}): Record<string, Uint8Array | string> {
  const dtype = opts.dtype ?? 'F32';
  const tensors: TensorToWrite[] = weightTensors(f.weights).map((t) => ({ ...t, dtype, data: encode(t.data as Float32Array, dtype) }));
  const config = JSON.stringify({ ...f.config, torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype] });
  const files: Record<string, Uint8Array | string> = { 'config.json': config, ...tokenizerFiles() };
  const shards = opts.shards ?? 1;
  if (shards <= 1) {
    files['model.safetensors'] = writeSafetensors(tensors, { format: 'pt' });
    return files;
  }
  const per = Math.ceil(tensors.length / shards);
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (let s = 0; s < shards; s++) {
    const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = tensors.slice(s * per, (s + 1) * per);
    files[name] = writeSafetensors(part, { format: 'pt' });
    for (const t of part) {
      weightMap[t.name] = name;
      total += t.data.byteLength;
    }
  }
  files['model.safetensors.index.json'] = JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2);
  return files;
}

/** The bundled stories260K model's files. */
export function bundledRepoFiles(): Record<string, Uint8Array | string> {
  const out: Record<string, Uint8Array | string> = {};
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json']) {
    out[f] = readFileSync(path.join(BUNDLED_MODEL_DIR, f), 'utf8');
  }
  out['model.safetensors'] = new Uint8Array(readFileSync(path.join(BUNDLED_MODEL_DIR, 'model.safetensors')));
  return out;
}

export const GATED_TOKEN = 'hf_testtoken_0123456789abcdef';

/** One base model in every dtype and layout, plus the other architectures. */
export function standardRepos(): Record<string, HubRepoSpec> {
  const base = fixtureModel();
  return {
    'studio-test/stories260K': { files: bundledRepoFiles(), revisions: ['main', 'v1'] },
    'studio-test/tiny-llama-f32': { files: fixtureFiles(base, { dtype: 'F32' }) },
    'studio-test/tiny-llama-f16': { files: fixtureFiles(base, { dtype: 'F16' }) },
    'studio-test/tiny-llama-bf16': { files: fixtureFiles(base, { dtype: 'BF16' }), redirectWeights: true },
    'studio-test/tiny-llama-sharded': { files: fixtureFiles(base, { dtype: 'BF16', shards: 3 }) },
    'studio-test/tiny-llama-untied': { files: fixtureFiles(fixtureModel({ tie_word_embeddings: false }, 11), { dtype: 'F16' }) },
    'studio-test/tiny-qwen2': {
      files: fixtureFiles(fixtureModel({ architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', rope_theta: 1000000, rms_norm_eps: 1e-6 }, 13), { dtype: 'BF16' }),
    },
    'studio-test/tiny-llama3-rope': {
      files: fixtureFiles(
        fixtureModel(
          { rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } },
          17,
        ),
        { dtype: 'BF16' },
      ),
    },
    'studio-test/tiny-mistral': { files: fixtureFiles(fixtureModel({ architectures: ['MistralForCausalLM'], model_type: 'mistral' }, 19), { dtype: 'F16' }) },
    'studio-test/gated': { files: fixtureFiles(base, { dtype: 'BF16' }), token: GATED_TOKEN, redirectWeights: true },
  };
}

/** A safetensors header for a model far too large to hold, served as a file of that size (zeros after the header). */
export function oversizedRepo(): HubRepoSpec {
  const cfg = { ...TINY_CONFIG, hidden_size: 8192, intermediate_size: 28672, num_hidden_layers: 1, num_attention_heads: 64, num_key_value_heads: 8, vocab_size: 262144, torch_dtype: 'bfloat16' };
  const H = 8192;
  const shapes: [string, number[]][] = [
    ['model.embed_tokens.weight', [262144, H]],
    ['model.layers.0.input_layernorm.weight', [H]],
    ['model.layers.0.self_attn.q_proj.weight', [H, H]],
    ['model.layers.0.self_attn.k_proj.weight', [1024, H]],
    ['model.layers.0.self_attn.v_proj.weight', [1024, H]],
    ['model.layers.0.self_attn.o_proj.weight', [H, H]],
    ['model.layers.0.post_attention_layernorm.weight', [H]],
    ['model.layers.0.mlp.gate_proj.weight', [28672, H]],
    ['model.layers.0.mlp.up_proj.weight', [28672, H]],
    ['model.layers.0.mlp.down_proj.weight', [H, 28672]],
    ['model.norm.weight', [H]],
  ];
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, shape] of shapes) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'BF16', shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  const prefix = safetensorsHeaderBytes(header);
  return { files: { 'config.json': JSON.stringify(cfg), 'model.safetensors': { prefix, size: prefix.byteLength + off } } };
}


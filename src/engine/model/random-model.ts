/**
 * Random-weight models with the shapes of real checkpoints, for tests and benchmarks of
 * shapes we cannot download here (SmolLM2-135M, Qwen2.5-0.5B). Weights are N(0, σ²) with
 * σ = 1/√fan_in so activations keep a sane scale through the layers; norms are 1.
 */
import { seededNormal } from '../random';
import { parseModelConfig, type ModelConfig } from './config';
import type { HostTensor, LayerWeights, ModelWeights } from './weights';

/** config.json fields of real models (numbers from their Hub configs). */
export const MODEL_SHAPES = {
  'SmolLM2-135M': {
    architectures: ['LlamaForCausalLM'],
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    vocab_size: 49152,
    max_position_embeddings: 8192,
    rms_norm_eps: 1e-5,
    rope_theta: 100000,
    tie_word_embeddings: true,
  },
  'Qwen2.5-0.5B': {
    architectures: ['Qwen2ForCausalLM'],
    hidden_size: 896,
    intermediate_size: 4864,
    num_hidden_layers: 24,
    num_attention_heads: 14,
    num_key_value_heads: 2,
    vocab_size: 151936,
    max_position_embeddings: 32768,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000,
    tie_word_embeddings: true,
  },
} as const;
export type ModelShapeName = keyof typeof MODEL_SHAPES;

/** A real model's config, optionally with fewer layers or a smaller vocabulary (for tests). */
export function shapeConfig(name: ModelShapeName, overrides: { layers?: number; vocab?: number } = {}): ModelConfig {
  const raw = MODEL_SHAPES[name];
  return parseModelConfig(
    {
      ...raw,
      num_hidden_layers: overrides.layers ?? raw.num_hidden_layers,
      vocab_size: overrides.vocab ?? raw.vocab_size,
    },
    `${name} shape`,
  );
}

export function randomWeights(cfg: ModelConfig, seed = 1): ModelWeights<HostTensor> {
  const normal = seededNormal(seed);
  const mat = (rows: number, cols: number, scale = 1 / Math.sqrt(cols)): HostTensor => {
    const data = new Float32Array(rows * cols);
    for (let i = 0; i < data.length; i++) data[i] = normal() * scale;
    return { shape: rows === 1 ? [cols] : [rows, cols], data };
  };
  const ones = (n: number): HostTensor => ({ shape: [n], data: new Float32Array(n).fill(1) });
  const vec = (n: number, scale: number): HostTensor => ({ shape: [n], data: mat(1, n, scale).data });
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const q = cfg.numHeads * hd;
  const kv = cfg.numKvHeads * hd;
  const I = cfg.intermediateSize;
  const layers: LayerWeights<HostTensor>[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    layers.push({
      inputNorm: ones(H),
      q: mat(q, H),
      k: mat(kv, H),
      v: mat(kv, H),
      o: mat(H, q),
      qBias: cfg.attentionBias ? vec(q, 0.1) : null,
      kBias: cfg.attentionBias ? vec(kv, 0.1) : null,
      vBias: cfg.attentionBias ? vec(kv, 0.1) : null,
      oBias: null,
      postNorm: ones(H),
      gate: mat(I, H),
      up: mat(I, H),
      down: mat(H, I),
      downBias: null,
      numHeads: cfg.numHeads,
      numKvHeads: cfg.numKvHeads,
      intermediateSize: I,
    });
  }
  const embed = mat(cfg.vocabSize, H, 1);
  return { embed, layers, norm: ones(H), lmHead: cfg.tieWordEmbeddings ? embed : mat(cfg.vocabSize, H) };
}

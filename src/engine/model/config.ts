/**
 * Hugging Face `config.json` → validated `ModelConfig` for the Llama family.
 *
 * The file is untrusted: it is checked with a schema, then for consistency (head sizes,
 * GQA grouping) so that the forward pass never sees impossible shapes. Unsupported
 * architectures are refused here, before any weight is read.
 */
import { z } from 'zod';
import { StudioError } from '../errors';
import { showJson } from './safetensors';

export const SUPPORTED_ARCHITECTURES = ['LlamaForCausalLM', 'MistralForCausalLM', 'Qwen2ForCausalLM'] as const;
export type Architecture = (typeof SUPPORTED_ARCHITECTURES)[number];

export interface Llama3RopeScaling {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/**
 * Per-layer sizes of a structurally pruned checkpoint (FLAP). Stock Hugging Face configs
 * have one size for all layers; the studio writes and reads these config.json keys:
 *
 *   "num_attention_heads_per_layer":  [int, …]   query heads of each layer (may be 0)
 *   "num_key_value_heads_per_layer":  [int, …]   key/value heads of each layer (0 iff no heads)
 *   "intermediate_size_per_layer":    [int, …]   MLP channels of each layer (may be 0)
 *   "kv_head_map_per_layer":          [[int, …] | null, …]   optional: for each query head
 *                                     of the layer, the index of the key/value head it reads,
 *                                     where the grouping is not the standard ⌊h·kv/heads⌋
 *
 * Each array has num_hidden_layers entries; a missing array means the top-level value for
 * every layer. `head_dim` stays global. Output biases of o_proj / down_proj (FLAP's bias
 * compensation) need no key: they are read when the tensors are present.
 */
export interface LayerShape {
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  kvHeadMap: number[] | null;
}

export interface ModelConfig {
  architecture: Architecture;
  modelType: string;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  maxPositionEmbeddings: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2, or Llama with attention_bias). */
  attentionBias: boolean;
  bosTokenId: number | null;
  eosTokenId: number | null;
  torchDtype: string | null;
  /** Per-layer sizes when the config gives them (see LayerShape); absent/null = uniform. */
  layerShapes?: LayerShape[] | null;
}

const positiveInt = z.number().int().positive();
const tokenId = z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative()), z.null()]).optional();

const rawConfigSchema = z.object({
  architectures: z.array(z.string()).min(1),
  model_type: z.string().optional(),
  hidden_size: positiveInt,
  intermediate_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.optional(),
  head_dim: positiveInt.nullable().optional(),
  vocab_size: positiveInt,
  max_position_embeddings: positiveInt.optional(),
  rms_norm_eps: z.number().positive().finite().optional(),
  rope_theta: z.number().positive().finite().optional(),
  rope_scaling: z.record(z.string(), z.unknown()).nullable().optional(),
  tie_word_embeddings: z.boolean().optional(),
  attention_bias: z.boolean().optional(),
  mlp_bias: z.boolean().optional(),
  hidden_act: z.string().optional(),
  bos_token_id: tokenId,
  eos_token_id: tokenId,
  torch_dtype: z.string().nullable().optional(),
  sliding_window: z.number().nullable().optional(),
  use_sliding_window: z.boolean().optional(),
  num_attention_heads_per_layer: z.array(z.number().int().nonnegative()).optional(),
  num_key_value_heads_per_layer: z.array(z.number().int().nonnegative()).optional(),
  intermediate_size_per_layer: z.array(z.number().int().nonnegative()).optional(),
  kv_head_map_per_layer: z.array(z.array(z.number().int().nonnegative()).nullable()).optional(),
});

const llama3ScalingSchema = z.object({
  rope_type: z.literal('llama3').optional(),
  type: z.literal('llama3').optional(),
  factor: z.number().positive().finite(),
  low_freq_factor: z.number().positive().finite(),
  high_freq_factor: z.number().positive().finite(),
  original_max_position_embeddings: positiveInt,
});

/**
 * Practical bounds: anything above these is not a model a browser can hold (the largest
 * Llama has 128 heads and a 131,072-token context). Sizes that are only numbers in the
 * config (head counts, the context length) are bounded too: they reach records, KV caches
 * and the ONNX export's position tables.
 */
export const CONFIG_LIMITS = {
  hiddenSize: 65536,
  intermediateSize: 1 << 20,
  numLayers: 1024,
  vocabSize: 1 << 22,
  headDim: 1024,
  numHeads: 1024,
  maxPositionEmbeddings: 1 << 20,
} as const;

function fail(problem: string, file: string): never {
  throw new StudioError('config', `${file}: ${problem}`);
}

function firstId(v: number | number[] | null | undefined): number | null {
  if (v === undefined || v === null) return null;
  return Array.isArray(v) ? (v[0] ?? null) : v;
}

export function parseModelConfig(json: unknown, file = 'config.json'): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('is not a JSON object', file);
  const parsed = rawConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join('.') || '(root)';
    fail(`field "${where}": ${issue.message}`, file);
  }
  const c = parsed.data;
  const arch = c.architectures[0]!;
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(arch)) {
    fail(`unsupported architecture "${arch}"; the studio runs ${SUPPORTED_ARCHITECTURES.join(', ')}`, file);
  }
  const architecture = arch as Architecture;
  if (c.hidden_act !== undefined && c.hidden_act !== 'silu') fail(`unsupported hidden_act "${c.hidden_act}" (only silu/SwiGLU)`, file);
  if (c.mlp_bias) fail('mlp_bias=true is not supported', file);
  if (c.use_sliding_window) fail('sliding-window attention (use_sliding_window=true) is not supported', file);

  if (c.hidden_size > CONFIG_LIMITS.hiddenSize) fail(`hidden_size ${c.hidden_size} is beyond ${CONFIG_LIMITS.hiddenSize}`, file);
  if (c.intermediate_size > CONFIG_LIMITS.intermediateSize) fail(`intermediate_size ${c.intermediate_size} is beyond ${CONFIG_LIMITS.intermediateSize}`, file);
  if (c.num_hidden_layers > CONFIG_LIMITS.numLayers) fail(`num_hidden_layers ${c.num_hidden_layers} is beyond ${CONFIG_LIMITS.numLayers}`, file);
  if (c.vocab_size > CONFIG_LIMITS.vocabSize) fail(`vocab_size ${c.vocab_size} is beyond ${CONFIG_LIMITS.vocabSize}`, file);
  if (c.num_attention_heads > CONFIG_LIMITS.numHeads) fail(`num_attention_heads ${c.num_attention_heads} is beyond ${CONFIG_LIMITS.numHeads}`, file);
  if (c.num_key_value_heads !== undefined && c.num_key_value_heads > c.num_attention_heads) {
    fail(`num_key_value_heads ${c.num_key_value_heads} is more than num_attention_heads ${c.num_attention_heads}`, file);
  }
  if (c.max_position_embeddings !== undefined && c.max_position_embeddings > CONFIG_LIMITS.maxPositionEmbeddings) {
    fail(`max_position_embeddings ${c.max_position_embeddings} is beyond ${CONFIG_LIMITS.maxPositionEmbeddings}`, file);
  }

  const numHeads = c.num_attention_heads;
  const numKvHeads = c.num_key_value_heads ?? numHeads;
  let headDim: number;
  if (c.head_dim != null) {
    headDim = c.head_dim;
  } else {
    if (c.hidden_size % numHeads !== 0) {
      fail(`hidden_size ${c.hidden_size} is not divisible by num_attention_heads ${numHeads}`, file);
    }
    headDim = c.hidden_size / numHeads;
  }
  if (headDim > CONFIG_LIMITS.headDim) fail(`head_dim ${headDim} is beyond ${CONFIG_LIMITS.headDim}`, file);
  if (headDim % 2 !== 0) fail(`head_dim ${headDim} is odd; rotary embeddings need an even head size`, file);
  if (numHeads % numKvHeads !== 0) {
    fail(`num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`, file);
  }

  let ropeScaling: Llama3RopeScaling | null = null;
  if (c.rope_scaling) {
    const kind = c.rope_scaling.rope_type ?? c.rope_scaling.type;
    if (kind === 'default') {
      ropeScaling = null;
    } else if (kind === 'llama3') {
      const s = llama3ScalingSchema.safeParse(c.rope_scaling);
      if (!s.success) fail(`rope_scaling (llama3): ${s.error.issues[0]!.path.join('.')}: ${s.error.issues[0]!.message}`, file);
      if (s.data.original_max_position_embeddings > CONFIG_LIMITS.maxPositionEmbeddings) {
        fail(`rope_scaling (llama3): original_max_position_embeddings ${s.data.original_max_position_embeddings} is beyond ${CONFIG_LIMITS.maxPositionEmbeddings}`, file);
      }
      ropeScaling = {
        type: 'llama3',
        factor: s.data.factor,
        lowFreqFactor: s.data.low_freq_factor,
        highFreqFactor: s.data.high_freq_factor,
        originalMaxPositionEmbeddings: s.data.original_max_position_embeddings,
      };
    } else {
      fail(`unsupported rope_scaling type ${showJson(kind)} (supported: llama3)`, file);
    }
  }

  let layerShapes: LayerShape[] | null = null;
  const perLayer = {
    num_attention_heads_per_layer: c.num_attention_heads_per_layer,
    num_key_value_heads_per_layer: c.num_key_value_heads_per_layer,
    intermediate_size_per_layer: c.intermediate_size_per_layer,
    kv_head_map_per_layer: c.kv_head_map_per_layer,
  };
  if (Object.values(perLayer).some((v) => v !== undefined)) {
    for (const [key, v] of Object.entries(perLayer)) {
      if (v !== undefined && v.length !== c.num_hidden_layers) fail(`"${key}" has ${v.length} entries for ${c.num_hidden_layers} layers`, file);
    }
    layerShapes = [];
    for (let i = 0; i < c.num_hidden_layers; i++) {
      const heads = c.num_attention_heads_per_layer?.[i] ?? numHeads;
      const kv = c.num_key_value_heads_per_layer?.[i] ?? (heads === 0 ? 0 : numKvHeads);
      const inter = c.intermediate_size_per_layer?.[i] ?? c.intermediate_size;
      const map = c.kv_head_map_per_layer?.[i] ?? null;
      if ((heads === 0) !== (kv === 0)) fail(`layer ${i}: ${heads} query heads with ${kv} key/value heads`, file);
      if (heads > CONFIG_LIMITS.numHeads) fail(`layer ${i}: ${heads} query heads is beyond ${CONFIG_LIMITS.numHeads}`, file);
      if (kv > heads) fail(`layer ${i}: ${kv} key/value heads is more than its ${heads} query heads`, file);
      if (inter > CONFIG_LIMITS.intermediateSize) fail(`layer ${i}: intermediate size ${inter} is beyond ${CONFIG_LIMITS.intermediateSize}`, file);
      if (map) {
        if (map.length !== heads) fail(`layer ${i}: kv_head_map has ${map.length} entries for ${heads} query heads`, file);
        if (map.some((g) => g >= kv)) fail(`layer ${i}: kv_head_map refers to a key/value head beyond ${kv}`, file);
      } else if (heads > 0 && heads % kv !== 0) {
        fail(`layer ${i}: ${heads} query heads are not a multiple of ${kv} key/value heads (and no kv_head_map)`, file);
      }
      layerShapes.push({ numHeads: heads, numKvHeads: kv, intermediateSize: inter, kvHeadMap: map });
    }
  }

  const isQwen2 = architecture === 'Qwen2ForCausalLM';
  return {
    architecture,
    modelType: c.model_type ?? 'llama',
    hiddenSize: c.hidden_size,
    intermediateSize: c.intermediate_size,
    numLayers: c.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: c.vocab_size,
    maxPositionEmbeddings: c.max_position_embeddings ?? 2048,
    rmsNormEps: c.rms_norm_eps ?? 1e-6,
    ropeTheta: c.rope_theta ?? 10000,
    ropeScaling,
    // LlamaConfig, MistralConfig and Qwen2Config all default to an untied head.
    tieWordEmbeddings: c.tie_word_embeddings ?? false,
    attentionBias: isQwen2 ? true : (c.attention_bias ?? false),
    bosTokenId: firstId(c.bos_token_id),
    eosTokenId: firstId(c.eos_token_id),
    torchDtype: c.torch_dtype ?? null,
    ...(layerShapes ? { layerShapes } : {}),
  };
}

/** Parameter count implied by the config (dense, before any pruning). */
export function countParameters(c: ModelConfig): number {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  const attn = c.hiddenSize * (q + 2 * kv) + q * c.hiddenSize + (c.attentionBias ? q + 2 * kv : 0);
  const mlp = 3 * c.hiddenSize * c.intermediateSize;
  const norms = 2 * c.hiddenSize;
  const embed = c.vocabSize * c.hiddenSize;
  return c.numLayers * (attn + mlp + norms) + embed + c.hiddenSize + (c.tieWordEmbeddings ? 0 : embed);
}

/**
 * ExperimentRecord: one run of the studio (model, data protocol, method, results, where
 * it ran). The CLI's --json output, the UI's charts, share links and the saved history
 * all use this one type; the schema validates records that come from outside (links,
 * imported history) before anything reads them.
 *
 * The top-level numbers (meanNll, ppl, scoredTokens) describe the model *as evaluated*:
 * the dense model for a plain evaluation, the compressed model after a method ran, in
 * which case `baseline` holds the dense model's numbers on the same protocol.
 */
import { z } from 'zod';

export const RECORD_SCHEMA_ID = 'pq-studio/experiment';
export const RECORD_VERSION = 1;

const finite = z.number().finite();
const count = z.number().int().nonnegative();

export const modelRefSchema = z.object({
  /** "stories260K" for the bundled model, a Hub id ("HuggingFaceTB/SmolLM2-135M"), or a local name. */
  id: z.string().min(1).max(200),
  source: z.enum(['bundled', 'hub', 'local']),
  revision: z.string().max(100).optional(),
  architecture: z.string().max(100),
  parameters: count,
  layers: count,
  hiddenSize: count,
  heads: count,
  kvHeads: count,
  intermediateSize: count,
  vocabSize: count,
});
export type ModelRef = z.infer<typeof modelRefSchema>;

export const datasetRefSchema = z.object({
  /** Bundled name (tinystories, wikitext2, shakespeare) or a file name. */
  name: z.string().min(1).max(200),
  source: z.enum(['bundled', 'file', 'paste']),
  chars: count,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type DatasetRef = z.infer<typeof datasetRefSchema>;

export const evalProtocolSchema = z.object({
  dataset: datasetRefSchema,
  seqlen: z.number().int().min(2).max(1 << 20),
  windows: z.object({ start: count, end: count }),
  /** Tokens in the whole stream (BOS included). */
  streamTokens: count,
  /** "bos+text": stream = BOS + encode(whole text), windows non-overlapping, first token context only. */
  stream: z.enum(['bos+text', 'text']),
});
export type EvalProtocol = z.infer<typeof evalProtocolSchema>;

export const evalResultSchema = z.object({
  meanNll: finite,
  ppl: finite,
  scoredTokens: count,
  windowMeanNll: z.array(finite).max(100_000),
});
export type EvalResult = z.infer<typeof evalResultSchema>;

/** "unstructured" or "N:M" (N of every M consecutive input weights of a row pruned). */
export const patternSchema = z.string().regex(/^(unstructured|\d{1,4}:\d{1,4})$/);
const ratio = z.number().min(0).max(1);

export const magnitudeMethodSchema = z.object({
  name: z.literal('magnitude'),
  sparsity: ratio,
  pattern: patternSchema,
  /** matrix: one threshold per weight matrix (the official Wanda repository's baseline); row: per output row. */
  granularity: z.enum(['matrix', 'row']),
});

export const wandaMethodSchema = z.object({
  name: z.literal('wanda'),
  sparsity: ratio,
  pattern: patternSchema,
  /** sequential: layer i is calibrated on the outputs of the already pruned layers 0…i−1 (official default). */
  mode: z.enum(['sequential', 'one-shot']),
  /** The appendix variant: per-row cumulative-score threshold α found by binary search. */
  variant: z.boolean(),
});

export const flapMethodSchema = z.object({
  name: z.literal('flap'),
  /** Fraction of the decoder linear parameters to remove. */
  pruningRatio: ratio,
  metric: z.enum(['WIFV', 'WIFN', 'IFV']),
  structure: z.enum(['AL-AM', 'UL-UM', 'UL-MM', 'AL-MM']),
  /** Heads to remove (UL-MM: in total, split evenly over layers; AL-MM: globally). */
  removeHeads: z.number().int().nullable(),
  /** Head cost in MLP-channel units: the official int64 truncation, or the exact ratio. */
  headCost: z.enum(['truncated', 'exact']),
  /** GQA models: remove whole key/value groups, or single query heads (with a query→kv head map). */
  gqaUnit: z.enum(['group', 'head']),
  biasCompensation: z.boolean(),
  /** official: FLAP's running recurrence (first sample discarded); variance: exact unbiased variance. */
  fluctuation: z.enum(['official', 'variance']),
  /** Precision of the calibration mean in the compensation bias (the official code casts it to fp16). */
  baselineDtype: z.enum(['fp32', 'fp16']),
});

/** Round-to-nearest weight quantization of the decoder linears (quant/rtn.ts). */
export const rtnMethodSchema = z.object({
  name: z.literal('rtn'),
  bits: z.number().int().min(2).max(8),
  /** Input columns per group; null = per output channel. */
  groupSize: z.number().int().positive().nullable(),
  /** symmetric: scale = e/−2^(bits−1), zero point 2^(bits−1) implied; asymmetric: min-max with a stored zero point. */
  symmetric: z.boolean(),
  /** Symmetric scale rule: mlas (ONNX Runtime, the default when absent) or gptq (scale = 2·max|w|/maxq). */
  symmetricRule: z.enum(['mlas', 'gptq']).optional(),
});

/**
 * L4Q (quant/train.ts): LoRA + learned step/offset quantization-aware training, merged into
 * packed integers. `prune`: the pruning method run first in the same experiment (its zeros
 * stay zero through training and the merge).
 */
export const l4qMethodSchema = z.object({
  name: z.literal('l4q'),
  bits: z.number().int().min(2).max(8),
  /** Input columns per (s, b) group; null = per output channel. */
  groupSize: z.number().int().positive().nullable(),
  /** symmetric: b ≡ 0; asymmetric: b learned (LSQ+). */
  symmetric: z.boolean(),
  rank: z.number().int().positive(),
  alpha: finite,
  steps: z.number().int().positive(),
  warmup: count,
  lr: finite,
  lrQuant: finite,
  batch: z.number().int().positive(),
  seed: z.number().int(),
  init: z.enum(['l4q', 'minmax', 'lsq']),
  /** LSQ gradient scale g; null = 1/√(G·Qp). */
  gradScale: finite.nullable(),
  prune: z.discriminatedUnion('name', [magnitudeMethodSchema, wandaMethodSchema, flapMethodSchema]).optional(),
});

/** Method settings; "dense" is no method (plain evaluation, or an MHA expansion alone). */
export const methodSchema = z.discriminatedUnion('name', [z.object({ name: z.literal('dense') }), magnitudeMethodSchema, wandaMethodSchema, flapMethodSchema, rtnMethodSchema, l4qMethodSchema]);
export type L4QMethod = z.infer<typeof l4qMethodSchema>;
export type RtnMethod = z.infer<typeof rtnMethodSchema>;
export type MethodSpec = z.infer<typeof methodSchema>;
export type MagnitudeMethod = z.infer<typeof magnitudeMethodSchema>;
export type WandaMethod = z.infer<typeof wandaMethodSchema>;
export type FlapMethod = z.infer<typeof flapMethodSchema>;

export const calibrationProtocolSchema = z.object({
  dataset: datasetRefSchema,
  samples: count,
  seqlen: count,
  /** contiguous: sample i = stream[offset + i·seqlen, offset + (i+1)·seqlen); random: Python random.randint offsets with this seed. */
  sampling: z.enum(['contiguous', 'random']),
  offset: count.optional(),
  seed: z.number().int().optional(),
  streamTokens: count,
  stream: z.enum(['bos+text', 'text']),
});
export type CalibrationProtocol = z.infer<typeof calibrationProtocolSchema>;

export const sparsitySchema = z.object({
  /** zeros: fraction of zero weights in the decoder linears; removed: fraction of decoder linear parameters removed (FLAP). */
  kind: z.enum(['zeros', 'removed']),
  achieved: finite,
  /** Decoder linear weights (q, k, v, o, gate, up, down) before and after. */
  linearParamsBefore: count,
  linearParamsAfter: count,
  zerosAfter: count,
});
export type SparsityReport = z.infer<typeof sparsitySchema>;

const scoreSummarySchema = z.object({ count, min: finite, mean: finite, max: finite });
export type ScoreSummary = z.infer<typeof scoreSummarySchema>;

export const layerReportSchema = z.object({
  layer: count,
  matrices: z
    .array(
      z.object({
        name: z.enum(['q', 'k', 'v', 'o', 'gate', 'up', 'down']),
        rows: count,
        cols: count,
        zeros: count,
        sparsity: finite,
        /** Wanda variant: the α found for this matrix. */
        alpha: finite.optional(),
      }),
    )
    .max(7),
  heads: z.object({ before: count, after: count }),
  kvHeads: z.object({ before: count, after: count }),
  channels: z.object({ before: count, after: count }),
  /** FLAP: original indices of the kept query heads and key/value heads. */
  keptHeads: z.array(count).max(4096).optional(),
  keptKvHeads: z.array(count).max(4096).optional(),
  /** FLAP with single query heads removed from a GQA layer: key/value head (new index) of each kept query head. */
  kvHeadMap: z.array(count).max(4096).optional(),
  /** FLAP: the scores compared by the structure search (standardized for AL-*, raw for UL-*). */
  flap: z
    .object({
      /** head: one query head (with its key/value head on MHA); group: a key/value head with all its query heads. */
      unit: z.enum(['head', 'group']),
      /** Score of every attention unit of the layer, in order. */
      attentionUnitScores: z.array(finite).max(4096),
      mlp: scoreSummarySchema,
      /** Highest score among removed MLP channels and lowest among kept ones (null when none). */
      mlpRemovedMax: finite.nullable(),
      mlpKeptMin: finite.nullable(),
    })
    .optional(),
});
export type LayerReport = z.infer<typeof layerReportSchema>;

export const backendRefSchema = z.object({
  name: z.enum(['cpu', 'webgpu', 'wasm']),
  device: z.string().max(300),
  /** Why the preferred backend was not used, when it was not. */
  fallbackReason: z.string().max(500).optional(),
});

export const experimentRecordSchema = z.object({
  schema: z.literal(RECORD_SCHEMA_ID),
  version: z.literal(RECORD_VERSION),
  id: z.string().min(1).max(100),
  createdAt: z.string().max(40),
  model: modelRefSchema,
  method: methodSchema,
  protocol: evalProtocolSchema,
  // The evaluated model's numbers, flat so that `jq .ppl` works.
  meanNll: finite,
  ppl: finite,
  scoredTokens: count,
  windowMeanNll: z.array(finite).max(100_000),
  /** The dense model on the same windows (for runs of a method). */
  baseline: evalResultSchema.optional(),
  /** How the model was changed before the method ran: mha-expanded = GQA key/value heads copied per query head. */
  modelTransform: z.enum(['mha-expanded']).optional(),
  calibration: calibrationProtocolSchema.optional(),
  sparsity: sparsitySchema.optional(),
  layers: z.array(layerReportSchema).max(1024).optional(),
  /** FLAP: the global threshold (AL-*) and the parameter cost of one head unit in MLP channels. */
  flap: z
    .object({
      /** Global thresholds of AL-AM (one for both) and AL-MM; null for the per-layer UL-* structures. */
      attentionThreshold: finite.nullable(),
      mlpThreshold: finite.nullable(),
      /** Parameter cost of one attention unit in MLP channels (3·hidden parameters), as used in AL-AM. */
      unitCost: finite,
      removedHeads: count,
      removedKvHeads: count,
      removedChannels: count,
    })
    .optional(),
  /** Parameters of the evaluated model (all weights, biases included). */
  parametersAfter: count.optional(),
  /**
   * Real weight bytes before and after (quantization): float32 tensors at 4 bytes per value,
   * packed linears at their packed bytes (codes + float32 scales + zero points).
   */
  size: z
    .object({
      bytesBefore: count,
      bytesAfter: count,
      /** The decoder linears alone (q, k, v, o, gate, up, down). */
      linearBytesBefore: count,
      linearBytesAfter: count,
      /** 8 · packed linear bytes / quantized weights: bits per weight with scales and zero points. */
      effectiveBits: finite,
    })
    .optional(),
  /** Quantization-aware training (L4Q): the loss curve, memory and comparison points. */
  training: z
    .object({
      /** Mean next-token NLL of each step's batch, before the step's update. */
      loss: z.array(z.object({ step: count, loss: finite, phase: z.enum(['warmup', 'joint']) })).max(100_000),
      steps: count,
      tokensPerStep: count,
      tokensPerSecond: finite,
      /** The backend that ran the training steps (the record's `backend` evaluates; they differ when it has no backward ops). */
      backend: backendRefSchema.optional(),
      /** Bytes: LoRA A, B; s, b; Adam state; activations kept for one sequence's backward; dense weight gradients Γ. */
      memory: z.object({ loraBytes: count, quantParamBytes: count, optimizerBytes: count, activationBytes: count, gradientBytes: count }),
      /** RTN with the same bits, group and symmetry, on the same windows (null when not run). */
      rtn: evalResultSchema.nullable(),
      /** RTN-then-LoRA baseline: LoRA trained on the frozen RTN model with the same budget, evaluated unmerged. */
      rtnLora: evalResultSchema.optional(),
      /** The RTN-then-LoRA baseline's loss at each of its steps (LoRA only, on the RTN model), as `loss`. */
      rtnLoraLoss: z.array(z.object({ step: count, loss: finite })).max(100_000).optional(),
      /**
       * The same baseline made an integer model as L4Q's is: the adapters merged into the RTN
       * weights, which are rounded again with the same settings (RTN).
       */
      rtnLoraMerged: evalResultSchema.optional(),
      /** The pruned model before quantization, when a pruning method ran first. */
      pruned: evalResultSchema.optional(),
    })
    .optional(),
  backend: backendRefSchema,
  runtime: z.enum(['node', 'browser']),
  timings: z.object({
    /** Whole run, load to result. */
    wallMs: finite,
    loadMs: finite.optional(),
    tokenizeMs: finite.optional(),
    /** Calibration forward passes and statistics (for Wanda sequential: including the re-runs of pruned layers). */
    calibrateMs: finite.optional(),
    /** Scoring, selection and weight surgery (for Wanda sequential: the per-layer pruning inside calibration). */
    pruneMs: finite.optional(),
    /** Quantizing the weights (RTN: rounding and packing). */
    quantizeMs: finite.optional(),
    /** L4Q training steps (warm-up and joint). */
    trainMs: finite.optional(),
    baselineEvalMs: finite.optional(),
    evalMs: finite,
  }),
});
export type ExperimentRecord = z.infer<typeof experimentRecordSchema>;

export function parseExperimentRecord(x: unknown): ExperimentRecord {
  return experimentRecordSchema.parse(x);
}

export function newRecordId(): string {
  const rnd = Math.random().toString(36).slice(2, 8);
  return `${Date.now().toString(36)}-${rnd}`;
}

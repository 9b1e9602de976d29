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
import { CODE_BITS, GROUP_SIZE, PRUNE_FRACTION } from './rules';

export const RECORD_SCHEMA_ID = 'pq-studio/experiment';
export const RECORD_VERSION = 1;

/**
 * Upper bounds of every count a record (and so a share link, a history file, a run the
 * page queues) may hold. The schema below, the run forms and queue (src/app/store.ts) and
 * the engine's job checks (src/worker/engine-api.ts, src/engine/experiment.ts) all read
 * them from here, so a run the engine accepts always gives a record the history can read
 * back. They are far above what the studio runs (a few thousand windows, a few thousand
 * steps) and low enough that no loop over them can hang or exhaust a tab.
 */
export const RECORD_LIMITS = {
  /** Evaluation windows of one run (the per-window NLL list has one number per window). */
  evalWindows: 100_000,
  /** Tokens of one evaluation or calibration stream (a 32 MiB text is at most ~33.6M tokens). */
  streamTokens: 1 << 30,
  /** Tokens per window or sample (the largest max_position_embeddings the studio loads). */
  seqlen: 1 << 20,
  /** Calibration samples (pruning) or training windows (L4Q). */
  calibrationSamples: 100_000,
  /** L4Q training steps (the loss curve keeps one point per step). */
  l4qSteps: 100_000,
  /** L4Q LoRA rank (above the width of any supported model's matrices). */
  l4qRank: 4096,
  /** L4Q windows per step. */
  l4qBatch: 4096,
  /** Decoder layers, and heads per layer. */
  layers: 1024,
  heads: 4096,
  /** Characters of a free-text message (a backend's fallback reason) and of a device name. */
  message: 500,
  device: 300,
} as const;

const finite = z.number().finite();
/** Counts, parameters, bytes and sizes: integers that fit a double exactly (zod's int() is the safe range). */
const count = z.number().int().nonnegative();
const boundedCount = (max: number) => count.max(max);

export const modelRefSchema = z.object({
  /** "stories260K" for the bundled model, a Hub id ("HuggingFaceTB/SmolLM2-135M"), or a local name. */
  id: z.string().min(1).max(200),
  source: z.enum(['bundled', 'hub', 'local']),
  revision: z.string().max(100).optional(),
  architecture: z.string().max(100),
  parameters: count,
  layers: boundedCount(RECORD_LIMITS.layers),
  hiddenSize: boundedCount(1 << 20),
  heads: boundedCount(RECORD_LIMITS.heads),
  kvHeads: boundedCount(RECORD_LIMITS.heads),
  intermediateSize: boundedCount(1 << 22),
  vocabSize: boundedCount(1 << 24),
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

export const evalProtocolSchema = z
  .object({
    dataset: datasetRefSchema,
    seqlen: z.number().int().min(2).max(RECORD_LIMITS.seqlen),
    windows: z.object({ start: count, end: count }),
    /** Tokens in the whole stream (BOS included). */
    streamTokens: boundedCount(RECORD_LIMITS.streamTokens),
    /** "bos+text": stream = BOS + encode(whole text), windows non-overlapping, first token context only. */
    stream: z.enum(['bos+text', 'text']),
  })
  .superRefine((p, ctx) => {
    // The windows must lie in the stream they name: window w is tokens [w·seqlen, (w+1)·seqlen).
    const { start, end } = p.windows;
    const available = Math.floor(p.streamTokens / p.seqlen);
    const problem =
      end <= start ? `windows ${start}:${end} is empty`
      : end > available ? `windows ${start}:${end} lie outside the stream (${p.streamTokens} tokens hold ${available} windows of ${p.seqlen})`
      : end - start > RECORD_LIMITS.evalWindows ? `${end - start} windows is over the limit of ${RECORD_LIMITS.evalWindows}`
      : null;
    if (problem) ctx.addIssue({ code: 'custom', path: ['windows'], message: problem });
  });
export type EvalProtocol = z.infer<typeof evalProtocolSchema>;

export const evalResultSchema = z.object({
  meanNll: finite,
  ppl: finite,
  scoredTokens: count,
  windowMeanNll: z.array(finite).max(RECORD_LIMITS.evalWindows),
});
export type EvalResult = z.infer<typeof evalResultSchema>;

/** "unstructured" or "N:M" (N of every M consecutive input weights of a row pruned). */
export const patternSchema = z.string().regex(/^(unstructured|\d{1,4}:\d{1,4})$/);
/** A fraction to prune, in [0, 1) (rules.ts PRUNE_FRACTION). */
const ratio = z.number().min(PRUNE_FRACTION.min).lt(PRUNE_FRACTION.below);

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
  bits: z.number().int().min(CODE_BITS.min).max(CODE_BITS.max),
  /** Input columns per group; null = per output channel. */
  groupSize: z.number().int().min(GROUP_SIZE.min).nullable(),
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
export const l4qMethodSchema = z
  .object({
    name: z.literal('l4q'),
    bits: z.number().int().min(CODE_BITS.min).max(CODE_BITS.max),
    /** Input columns per (s, b) group; null = per output channel. */
    groupSize: z.number().int().min(GROUP_SIZE.min).nullable(),
    /** symmetric: b ≡ 0; asymmetric: b learned (LSQ+). */
    symmetric: z.boolean(),
    rank: z.number().int().positive().max(RECORD_LIMITS.l4qRank),
    alpha: finite,
    steps: z.number().int().positive().max(RECORD_LIMITS.l4qSteps),
    warmup: count,
    lr: finite,
    lrQuant: finite,
    batch: z.number().int().positive().max(RECORD_LIMITS.l4qBatch),
    seed: z.number().int(),
    init: z.enum(['l4q', 'minmax', 'lsq']),
    /** LSQ gradient scale g; null = 1/√(G·Qp). */
    gradScale: finite.nullable(),
    prune: z.discriminatedUnion('name', [magnitudeMethodSchema, wandaMethodSchema, flapMethodSchema]).optional(),
  })
  .refine((m) => m.warmup <= m.steps, { path: ['warmup'], message: 'warm-up must not exceed the steps' });

/** Method settings; "dense" is no method (plain evaluation, or an MHA expansion alone). */
export const methodSchema = z.discriminatedUnion('name', [z.object({ name: z.literal('dense') }), magnitudeMethodSchema, wandaMethodSchema, flapMethodSchema, rtnMethodSchema, l4qMethodSchema]);
export type L4QMethod = z.infer<typeof l4qMethodSchema>;
export type RtnMethod = z.infer<typeof rtnMethodSchema>;
export type MethodSpec = z.infer<typeof methodSchema>;
export type MagnitudeMethod = z.infer<typeof magnitudeMethodSchema>;
export type WandaMethod = z.infer<typeof wandaMethodSchema>;
export type FlapMethod = z.infer<typeof flapMethodSchema>;

export const calibrationProtocolSchema = z
  .object({
    dataset: datasetRefSchema,
    samples: z.number().int().min(1).max(RECORD_LIMITS.calibrationSamples),
    seqlen: z.number().int().min(1).max(RECORD_LIMITS.seqlen),
    /** contiguous: sample i = stream[offset + i·seqlen, offset + (i+1)·seqlen); random: Python random.randint offsets with this seed. */
    sampling: z.enum(['contiguous', 'random']),
    offset: count.optional(),
    seed: z.number().int().optional(),
    streamTokens: boundedCount(RECORD_LIMITS.streamTokens),
    stream: z.enum(['bos+text', 'text']),
  })
  .superRefine((c, ctx) => {
    // The samples must lie in the stream they name (calibrationOffsets' own rules).
    if (c.sampling === 'contiguous') {
      const end = (c.offset ?? 0) + c.samples * c.seqlen;
      if (end > c.streamTokens)
        ctx.addIssue({ code: 'custom', path: ['samples'], message: `${c.samples} samples × ${c.seqlen} tokens from offset ${c.offset ?? 0} end at token ${end}, past the stream's ${c.streamTokens}` });
    } else if (c.seqlen + 1 > c.streamTokens) {
      ctx.addIssue({ code: 'custom', path: ['seqlen'], message: `random samples of ${c.seqlen} tokens need a stream of at least ${c.seqlen + 1} tokens, not ${c.streamTokens}` });
    }
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
  device: z.string().max(RECORD_LIMITS.device),
  /** Why the preferred backend was not used, when it was not. */
  fallbackReason: z.string().max(RECORD_LIMITS.message).optional(),
});

export const experimentRecordSchema = z
  .object({
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
    windowMeanNll: z.array(finite).max(RECORD_LIMITS.evalWindows),
    /** The dense model on the same windows (for runs of a method). */
    baseline: evalResultSchema.optional(),
    /** How the model was changed before the method ran: mha-expanded = GQA key/value heads copied per query head. */
    modelTransform: z.enum(['mha-expanded']).optional(),
    calibration: calibrationProtocolSchema.optional(),
    sparsity: sparsitySchema.optional(),
    layers: z.array(layerReportSchema).max(RECORD_LIMITS.layers).optional(),
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
        loss: z.array(z.object({ step: count, loss: finite, phase: z.enum(['warmup', 'joint']) })).max(RECORD_LIMITS.l4qSteps),
        steps: boundedCount(RECORD_LIMITS.l4qSteps),
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
        rtnLoraLoss: z.array(z.object({ step: count, loss: finite })).max(RECORD_LIMITS.l4qSteps).optional(),
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
  })
  .superRefine((r, ctx) => {
    // Counts checked against what they count: the record's own windows and steps.
    const windows = r.protocol.windows.end - r.protocol.windows.start;
    // Scored tokens are bounded by the stream, not by windows × seqlen: hand-edited records
    // (another seqlen, the same numbers) are read as they are, as long as nothing is unbounded.
    const tokens = r.protocol.streamTokens;
    const results: [string, { scoredTokens: number; windowMeanNll: number[] } | null | undefined][] = [
      ['', r],
      ['baseline', r.baseline],
      ['training.rtn', r.training?.rtn],
      ['training.rtnLora', r.training?.rtnLora],
      ['training.rtnLoraMerged', r.training?.rtnLoraMerged],
      ['training.pruned', r.training?.pruned],
    ];
    for (const [where, x] of results) {
      if (!x) continue;
      const path = where ? where.split('.') : [];
      if (x.windowMeanNll.length > windows) ctx.addIssue({ code: 'custom', path: [...path, 'windowMeanNll'], message: `${x.windowMeanNll.length} per-window values for ${windows} windows` });
      if (x.scoredTokens > tokens) ctx.addIssue({ code: 'custom', path: [...path, 'scoredTokens'], message: `${x.scoredTokens} scored tokens in a stream of ${tokens}` });
    }
    if (r.training && r.method.name === 'l4q') {
      const steps = r.method.steps;
      if (r.training.steps > steps) ctx.addIssue({ code: 'custom', path: ['training', 'steps'], message: `${r.training.steps} steps trained of ${steps}` });
      if (r.training.loss.length > steps) ctx.addIssue({ code: 'custom', path: ['training', 'loss'], message: `${r.training.loss.length} loss points for ${steps} steps` });
      if ((r.training.rtnLoraLoss?.length ?? 0) > steps) ctx.addIssue({ code: 'custom', path: ['training', 'rtnLoraLoss'], message: `${r.training.rtnLoraLoss!.length} loss points for ${steps} steps` });
    }
    if (r.layers && r.layers.length > r.model.layers) ctx.addIssue({ code: 'custom', path: ['layers'], message: `${r.layers.length} layer reports for a model of ${r.model.layers} layers` });
  });
export type ExperimentRecord = z.infer<typeof experimentRecordSchema>;

/** Why a value is not a valid record, in one line (the first problem, with where it is). */
export function recordProblem(e: z.ZodError): string {
  const issue = e.issues[0];
  if (!issue) return 'not an experiment record';
  const where = issue.path.length > 0 ? issue.path.map(String).join('.') : 'record';
  return `${where}: ${issue.message}`;
}

/** Thrown when a record the studio is about to keep would not pass the schema when read back. */
export class InvalidRecordError extends Error {
  constructor(readonly problem: string) {
    super(`The run's record is not valid (${problem}); it is shown on this page but cannot be saved`);
    this.name = 'InvalidRecordError';
  }
}

/** Cuts a string to `max` characters, marking the cut. */
function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/**
 * A record as it can be saved: free-text strings cut to the schema's maxima (a long
 * fallback reason or file name must not make a finished run unsavable), then validated with the same
 * schema that reads it back. Throws InvalidRecordError naming the first problem.
 */
export function recordForSaving(record: ExperimentRecord): ExperimentRecord {
  const backend = (b: ExperimentRecord['backend']) => ({
    ...b,
    device: cut(b.device, RECORD_LIMITS.device),
    ...(b.fallbackReason !== undefined ? { fallbackReason: cut(b.fallbackReason, RECORD_LIMITS.message) } : {}),
  });
  // Names come from the user's files and folders (an uploaded text, a local model folder).
  const dataset = (d: DatasetRef): DatasetRef => ({ ...d, name: cut(d.name, 200) });
  const m = record.model;
  const fitted: ExperimentRecord = {
    ...record,
    createdAt: cut(record.createdAt, 40),
    model: { ...m, id: cut(m.id, 200), architecture: cut(m.architecture, 100), ...(m.revision !== undefined ? { revision: cut(m.revision, 100) } : {}) },
    protocol: { ...record.protocol, dataset: dataset(record.protocol.dataset) },
    ...(record.calibration ? { calibration: { ...record.calibration, dataset: dataset(record.calibration.dataset) } } : {}),
    backend: backend(record.backend),
    ...(record.training ? { training: { ...record.training, ...(record.training.backend ? { backend: backend(record.training.backend) } : {}) } } : {}),
  };
  const parsed = experimentRecordSchema.safeParse(fitted);
  if (!parsed.success) throw new InvalidRecordError(recordProblem(parsed.error));
  return fitted;
}

export function parseExperimentRecord(x: unknown): ExperimentRecord {
  return experimentRecordSchema.parse(x);
}

export function newRecordId(): string {
  const rnd = Math.random().toString(36).slice(2, 8);
  return `${Date.now().toString(36)}-${rnd}`;
}

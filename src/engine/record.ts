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

/** Method settings grow with the pruning and quantization issues; "dense" is no method. */
export const methodSchema = z.discriminatedUnion('name', [z.object({ name: z.literal('dense') })]);
export type MethodSpec = z.infer<typeof methodSchema>;

export const backendRefSchema = z.object({
  name: z.enum(['cpu', 'webgpu']),
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
  baseline: evalResultSchema.optional(),
  backend: backendRefSchema,
  runtime: z.enum(['node', 'browser']),
  timings: z.object({
    /** Whole run, load to result. */
    wallMs: finite,
    loadMs: finite.optional(),
    tokenizeMs: finite.optional(),
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

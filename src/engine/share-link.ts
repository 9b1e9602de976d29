/**
 * Share links: the URL hash carries an experiment (model, data protocol, the methods run,
 * calibration) and its results (ExperimentRecords), so that the receiver sees the sender's
 * charts at once and can re-run the same settings.
 *
 *   #pq1=<base64url(deflate-raw(JSON ShareDocument))>
 *
 * Everything after "#pq1=" comes from a stranger: it is bounded before it is decoded
 * (text length), while it is inflated (output bytes are counted chunk by chunk, so a
 * deflate bomb stops at the limit instead of filling memory), and parsed with zod. A
 * link never holds a URL — the model is named by id and source only — so opening one
 * cannot make the page fetch from another host.
 */
import { Inflate, deflateSync, strFromU8, strToU8 } from 'fflate';
import { z } from 'zod';
import { concatBytes } from './bytes';
import { StudioError } from './errors';
import { RECORD_LIMITS, calibrationProtocolSchema, datasetRefSchema, experimentRecordSchema, methodSchema, type ExperimentRecord, type MethodSpec } from './record';
import { RERUN_CONFIRM_TOKENS, RERUN_MAX_TOKENS, runWork } from './run-limits';

export const SHARE_SCHEMA_ID = 'pq-studio/share';
export const SHARE_VERSION = 1;
/** The hash starts with this; the digit is the link format's version. */
export const SHARE_HASH_PREFIX = '#pq1=';
/** Longest hash accepted (characters); browsers keep far longer URLs, chat tools often do not. */
export const MAX_SHARE_HASH_CHARS = 256 * 1024;
/** Most bytes a link may inflate to. */
export const MAX_SHARE_JSON_BYTES = 4 * 1024 * 1024;
/** Most runs (and records) one link carries: a sweep is a handful. */
export const MAX_SHARE_RUNS = 64;

/**
 * A Hub id (owner/name), a bundled model's name or a local folder's name: letters,
 * digits and . _ - with at most one slash; no scheme, host or "..", so it is never a URL.
 */
const modelIdSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/, 'not a model id (owner/name)')
  .refine((s) => !s.includes('..'), 'not a model id (owner/name)');

const shareModelSchema = z.object({
  id: modelIdSchema,
  source: z.enum(['bundled', 'hub', 'local']),
  revision: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$/, 'not a revision (branch, tag or commit)')
    .optional(),
});
export type ShareModel = z.infer<typeof shareModelSchema>;

const windowsSchema = z
  .object({ start: z.number().int().nonnegative().max(RECORD_LIMITS.streamTokens), end: z.number().int().nonnegative().max(RECORD_LIMITS.streamTokens) })
  .refine((w) => w.end > w.start, 'windows end must be after start')
  .refine((w) => w.end - w.start <= RECORD_LIMITS.evalWindows, `at most ${RECORD_LIMITS.evalWindows} windows per run`);

/** Calibration as the Method panel sets it (bundled texts only, as the page offers). */
export const shareCalibrationSchema = z.object({
  dataset: z.string().min(1).max(200),
  samples: z.number().int().min(1).max(RECORD_LIMITS.calibrationSamples),
  seqlen: z.number().int().min(1).max(RECORD_LIMITS.seqlen),
  offset: z.number().int().nonnegative().max(RECORD_LIMITS.streamTokens),
  seed: z.number().int().nullable(),
});
export type ShareCalibration = z.infer<typeof shareCalibrationSchema>;

const shareRunSchema = z.object({
  method: methodSchema,
  calibration: shareCalibrationSchema.optional(),
  /** L4Q runs: also train the RTN-then-LoRA baseline, as the shared run did. */
  rtnLora: z.literal(true).optional(),
});
export type ShareRun = z.infer<typeof shareRunSchema>;

export const shareExperimentSchema = z.object({
  model: shareModelSchema,
  data: z.object({ dataset: datasetRefSchema, seqlen: z.number().int().min(2).max(RECORD_LIMITS.seqlen), windows: windowsSchema }),
  runs: z.array(shareRunSchema).min(1).max(MAX_SHARE_RUNS),
});
export type ShareExperiment = z.infer<typeof shareExperimentSchema>;

export const shareDocumentSchema = z
  .object({
    schema: z.literal(SHARE_SCHEMA_ID),
    version: z.literal(SHARE_VERSION),
    /** What the sender called it ("Wanda sweep"), shown as the heading. */
    title: z.string().max(200),
    experiment: shareExperimentSchema,
    results: z.array(experimentRecordSchema).max(MAX_SHARE_RUNS),
  })
  .superRefine((doc, ctx) => {
    // The results must be runs of the experiment the link describes, or "re-run here" would not reproduce them.
    const { model, data } = doc.experiment;
    doc.results.forEach((r, i) => {
      const p = r.protocol;
      const why =
        r.model.id !== model.id ? `model ${JSON.stringify(r.model.id)} is not the experiment's ${JSON.stringify(model.id)}`
        : p.dataset.sha256 !== data.dataset.sha256 ? 'its dataset text differs from the experiment\'s'
        : p.seqlen !== data.seqlen ? `seqlen ${p.seqlen} is not the experiment's ${data.seqlen}`
        : p.windows.start !== data.windows.start || p.windows.end !== data.windows.end ? 'its windows differ from the experiment\'s'
        : null;
      if (why) ctx.addIssue({ code: 'custom', path: ['results', i], message: `result ${i + 1}: ${why}` });
    });
  });
export type ShareDocument = z.infer<typeof shareDocumentSchema>;

/** What re-running a shared experiment computes: per run and in all, in tokens through the model. */
export interface ShareWork {
  total: number;
  /** One line per run: "L4Q 4-bit: 200,000 steps × 8 windows × 512 tokens". */
  lines: string[];
  /** Large enough to ask before queueing. */
  large: boolean;
  /** Over the hard limit: refused. */
  tooLarge: boolean;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export function shareWork(x: ShareExperiment): ShareWork {
  const windows = x.data.windows.end - x.data.windows.start;
  let total = 0;
  const lines = x.runs.map((r) => {
    const sampling = r.calibration ? { samples: r.calibration.samples, seqlen: r.calibration.seqlen } : undefined;
    const w = runWork({ method: r.method, seqlen: x.data.seqlen, windows, sampling, rtnLora: r.rtnLora });
    total += w.total;
    const m = r.method;
    const detail =
      m.name === 'l4q' ? `${fmt(w.steps)} steps × ${fmt(m.batch)} windows × ${fmt(sampling?.seqlen ?? x.data.seqlen)} tokens (rank ${m.rank})`
      : sampling && m.name !== 'dense' && m.name !== 'rtn' && m.name !== 'magnitude' ? `${fmt(sampling.samples)} calibration samples × ${fmt(sampling.seqlen)} tokens`
      : `${fmt(windows)} windows × ${fmt(x.data.seqlen)} tokens`;
    return `${m.name}: ${detail} ≈ ${fmt(w.total)} tokens`;
  });
  return { total, lines, large: total > RERUN_CONFIRM_TOKENS, tooLarge: total > RERUN_MAX_TOKENS };
}

function linkError(problem: string): StudioError {
  return new StudioError('input', `Share link: ${problem}`);
}

/** Calibration settings of a record, as the page would ask for them again. */
export function shareCalibrationOf(c: z.infer<typeof calibrationProtocolSchema>): ShareCalibration {
  return { dataset: c.dataset.name, samples: c.samples, seqlen: c.seqlen, offset: c.offset ?? 0, seed: c.sampling === 'random' ? (c.seed ?? 0) : null };
}

/**
 * The experiment behind some records: they must share the model and the evaluation
 * protocol (dataset text, seqlen, windows); each record is one run.
 */
export function experimentOfRecords(records: readonly ExperimentRecord[]): ShareExperiment {
  if (records.length === 0) throw linkError('there are no results to share');
  if (records.length > MAX_SHARE_RUNS) throw linkError(`a link holds at most ${MAX_SHARE_RUNS} runs, not ${records.length}`);
  const first = records[0]!;
  for (const r of records) {
    if (r.model.id !== first.model.id) throw linkError(`the runs are of different models (${first.model.id}, ${r.model.id}); share them separately`);
    const p = r.protocol;
    if (p.dataset.sha256 !== first.protocol.dataset.sha256 || p.seqlen !== first.protocol.seqlen || p.windows.start !== first.protocol.windows.start || p.windows.end !== first.protocol.windows.end)
      throw linkError('the runs were evaluated under different protocols (text, seqlen or windows); share them separately');
  }
  const m = first.model;
  return {
    model: { id: m.id, source: m.source, ...(m.revision ? { revision: m.revision } : {}) },
    data: { dataset: first.protocol.dataset, seqlen: first.protocol.seqlen, windows: { ...first.protocol.windows } },
    runs: records.map((r) => ({
      method: r.method as MethodSpec,
      ...(r.calibration ? { calibration: shareCalibrationOf(r.calibration) } : {}),
      ...(r.training?.rtnLora ? { rtnLora: true as const } : {}),
    })),
  };
}

export function shareDocument(title: string, records: readonly ExperimentRecord[]): ShareDocument {
  return { schema: SHARE_SCHEMA_ID, version: SHARE_VERSION, title: title.slice(0, 200), experiment: experimentOfRecords(records), results: [...records] };
}

// --- base64url without padding (btoa/atob exist in browsers, workers and Node ≥ 16) ---

function toBase64Url(bytes: Uint8Array): string {
  let bin = '';
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) bin += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw linkError('it contains characters that are not base64url (it may have been cut or changed)');
  if (text.length % 4 === 1) throw linkError('its data is cut short (a base64url length of 4k+1 is impossible)');
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  let bin: string;
  try {
    bin = atob(b64);
  } catch {
    throw linkError('its data is not valid base64url');
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Inflates at most `limit` bytes; feeds the input in small slices so that the output is checked as it grows. */
function inflateBounded(data: Uint8Array, limit: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let ended = false;
  const inflater = new Inflate((chunk, final) => {
    total += chunk.length;
    if (total > limit) throw linkError(`its data inflates to more than ${limit / 1024 / 1024} MiB`);
    chunks.push(chunk);
    if (final) ended = true;
  });
  const SLICE = 1024; // deflate expands at most ~1032:1, so one slice adds ≤ ~1 MiB before the check
  try {
    for (let i = 0; i < data.length; i += SLICE) inflater.push(data.subarray(i, Math.min(data.length, i + SLICE)), i + SLICE >= data.length);
    if (data.length === 0) inflater.push(new Uint8Array(0), true);
  } catch (e) {
    if (e instanceof StudioError) throw e;
    throw linkError(`its data is not valid compressed data (${e instanceof Error ? e.message : String(e)})`);
  }
  if (!ended) throw linkError('its compressed data ends early (the link was probably cut)');
  return concatBytes(chunks, total);
}

/** The hash ("#pq1=…") for a document. */
export function encodeShareHash(doc: ShareDocument): string {
  const checked = shareDocumentSchema.parse(doc);
  const json = strToU8(JSON.stringify(checked));
  const hash = SHARE_HASH_PREFIX + toBase64Url(deflateSync(json, { level: 9 }));
  if (hash.length > MAX_SHARE_HASH_CHARS) throw linkError(`it would be ${hash.length} characters, over the ${MAX_SHARE_HASH_CHARS} a link may have; share fewer runs`);
  return hash;
}

/** True when a location hash looks like a share link (whether or not it is a valid one). */
export function isShareHash(hash: string): boolean {
  return hash.startsWith('#pq');
}

function zodProblem(e: z.ZodError): string {
  const issue = e.issues[0];
  if (!issue) return 'its content is not a studio experiment';
  const where = issue.path.length > 0 ? issue.path.map(String).join('.') : 'document';
  return `its content is not a valid studio experiment (${where}: ${issue.message})`;
}

/** Parses a location hash; every problem is a StudioError whose message starts "Share link:". */
export function decodeShareHash(hash: string): ShareDocument {
  if (typeof hash !== 'string') throw linkError('no link given');
  if (hash.length > MAX_SHARE_HASH_CHARS) throw linkError(`it is ${hash.length} characters long, over the ${MAX_SHARE_HASH_CHARS} accepted`);
  const version = /^#pq(\d+)=/.exec(hash);
  if (!version) throw linkError('it does not start with "#pq1=" (it is not a studio share link, or it was cut)');
  if (version[1] !== '1') throw linkError(`it is in format version ${version[1]}, which this studio does not read (it reads version 1); open it in the studio that made it`);
  const bytes = inflateBounded(fromBase64Url(hash.slice(version[0].length)), MAX_SHARE_JSON_BYTES);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    text = strFromU8(bytes); // fflate's decoder never throws; an invalid result fails JSON.parse below
    if (text.includes('\uFFFD')) throw linkError('its data is not UTF-8 text');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw linkError(`its data is not JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const parsed = shareDocumentSchema.safeParse(json);
  if (!parsed.success) {
    const v = (json as { version?: unknown } | null)?.version;
    if (typeof json === 'object' && json !== null && (json as { schema?: unknown }).schema === SHARE_SCHEMA_ID && typeof v === 'number' && v !== SHARE_VERSION)
      throw linkError(`it holds document version ${v}; this studio reads version ${SHARE_VERSION}`);
    throw linkError(zodProblem(parsed.error));
  }
  return parsed.data;
}

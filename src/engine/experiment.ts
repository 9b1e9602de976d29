/**
 * One evaluation experiment end to end (tokenize → windows → perplexity → record), shared
 * by the CLI and the worker so that both produce the same ExperimentRecord.
 */
import type { Backend } from './backend/backend';
import { calibrationSamples, type CalibrationSampling } from './calibrate';
import { cachedTokenStream, checkSeqlen, parseWindows, windowCount, type TokenStream, type WindowRange } from './data';
import { StudioError } from './errors';
import { evaluatePerplexity, type PerplexityResult } from './eval/perplexity';
import { phaseReporters, type PhaseReporting } from './experiment-phases';
import type { ModelConfig } from './model/config';
import { LlamaModel } from './model/llama';
import type { LoadedModel } from './model/load';
import type { HostTensor, ModelWeights } from './model/weights';
import { RECORD_LIMITS, RECORD_SCHEMA_ID, RECORD_VERSION, newRecordId, type CalibrationProtocol, type DatasetRef, type EvalResult, type ExperimentRecord, type MethodSpec, type ModelRef } from './record';

export function modelRefOf(m: LoadedModel, source: ModelRef['source'], revision?: string): ModelRef {
  const c = m.config;
  return {
    id: m.id,
    source,
    ...(revision ? { revision } : {}),
    architecture: c.architecture,
    parameters: m.parameters,
    layers: c.numLayers,
    hiddenSize: c.hiddenSize,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    intermediateSize: c.intermediateSize,
    vocabSize: c.vocabSize,
  };
}

/**
 * What every experiment (evaluation, pruning, quantization) is run on and where; it reports
 * its phases and progress through `onProgress` (experiment-phases.ts) and stops when
 * `signal` is aborted.
 */
export interface ExperimentInputs extends PhaseReporting {
  model: LoadedModel;
  modelRef: ModelRef;
  backend: Backend;
  fallbackReason?: string;
  /** Evaluation text and protocol. */
  text: string;
  dataset: { name: string; source: DatasetRef['source'] };
  seqlen: number;
  /** "A:B", "all", … (see parseWindows). */
  windows: string;
  runtime: 'node' | 'browser';
  loadMs?: number;
}

/** An evaluation of the request's model: phases tokenize, evaluate. */
export type EvalRequest = ExperimentInputs;

export interface EvalStream {
  stream: TokenStream & { sha256: string };
  windows: WindowRange;
}

/** The evaluation text as a token stream (cached) and its checked window range. */
export async function evalStream(req: ExperimentInputs): Promise<EvalStream> {
  checkSeqlen(req.seqlen, req.model.config.maxPositionEmbeddings);
  if (req.seqlen > RECORD_LIMITS.seqlen) throw new StudioError('input', `seqlen ${req.seqlen} is over the limit of ${RECORD_LIMITS.seqlen}`);
  const stream = await cachedTokenStream(req.model.tokenizer, req.text, req.model.config.bosTokenId);
  const windows = parseWindows(req.windows, windowCount(stream.ids.length, req.seqlen));
  // Refused before any window runs: a record of more windows could not be saved (record.ts).
  checkWindowLimit(windows, req.seqlen);
  return { stream, windows };
}

/** Throws when a window range is over RECORD_LIMITS.evalWindows (the message names the limit and a way under it). */
export function checkWindowLimit(w: WindowRange, seqlen: number): void {
  const n = w.end - w.start;
  if (n > RECORD_LIMITS.evalWindows)
    throw new StudioError('input', `windows ${w.start}:${w.end} are ${n} windows of ${seqlen} tokens, over the limit of ${RECORD_LIMITS.evalWindows} per run; choose fewer windows or a longer seqlen`);
}

/** The parts of a record that say what ran, on which data, and where. */
export function recordEnvelope(req: ExperimentInputs, e: EvalStream, method: MethodSpec) {
  return {
    schema: RECORD_SCHEMA_ID,
    version: RECORD_VERSION,
    id: newRecordId(),
    createdAt: new Date().toISOString(),
    model: req.modelRef,
    method,
    protocol: {
      dataset: { name: req.dataset.name, source: req.dataset.source, chars: req.text.length, sha256: e.stream.sha256 },
      seqlen: req.seqlen,
      windows: e.windows,
      streamTokens: e.stream.ids.length,
      stream: e.stream.bos ? ('bos+text' as const) : ('text' as const),
    },
    backend: { name: req.backend.info.name, device: req.backend.info.device, ...(req.fallbackReason ? { fallbackReason: req.fallbackReason } : {}) },
    runtime: req.runtime,
  } satisfies Partial<ExperimentRecord>;
}

/** Perplexity of a model on the request's evaluation windows. */
export async function evaluateWindows(
  req: ExperimentInputs,
  e: EvalStream,
  config: ModelConfig,
  weights: ModelWeights<HostTensor>,
  onProgress?: (p: { done: number; total: number }) => void,
): Promise<PerplexityResult> {
  const lm = new LlamaModel(config, req.backend, weights);
  try {
    return await evaluatePerplexity(lm, e.stream.ids, { seqlen: req.seqlen, windows: e.windows, signal: req.signal, onProgress });
  } finally {
    lm.dispose();
  }
}

/** The dense model's perplexity and its time, unless the request turns the baseline off. */
export async function denseBaseline(
  req: { baseline?: boolean },
  phase: (p: 'baseline') => number,
  evaluate: () => Promise<PerplexityResult>,
): Promise<{ baseline: PerplexityResult | null; baselineEvalMs: number | undefined }> {
  if (!(req.baseline ?? true)) return { baseline: null, baselineEvalMs: undefined };
  const tb = phase('baseline');
  const baseline = await evaluate();
  return { baseline, baselineEvalMs: performance.now() - tb };
}

/** The perplexity a record keeps of an evaluation. */
export function evalResult(r: PerplexityResult): EvalResult {
  return { meanNll: r.meanNll, ppl: r.ppl, scoredTokens: r.scoredTokens, windowMeanNll: r.windowMeanNll };
}

/** The perplexity fields of a record: the evaluated model's, and the dense baseline's when there is one. */
export function perplexityFields(after: PerplexityResult, baseline: PerplexityResult | null) {
  return {
    ...evalResult(after),
    ...(baseline ? { baseline: evalResult(baseline) } : {}),
  };
}

/** Wall time from `t0` to `t2` including the model load, and the load itself when known. */
export function wallTimings(req: { loadMs?: number }, t0: number, t2: number) {
  return {
    wallMs: t2 - t0 + (req.loadMs ?? 0),
    ...(req.loadMs !== undefined ? { loadMs: req.loadMs } : {}),
  };
}

/**
 * Calibration inputs of an experiment that needs data (Wanda, FLAP, L4Q's training windows):
 * the text (default: the evaluation text) and the sample layout.
 */
export interface CalibrationInputs {
  text?: string;
  dataset?: { name: string; source: DatasetRef['source'] };
  sampling: CalibrationSampling;
}

/** The request's calibration samples and the protocol a record keeps of them (the text defaults to the evaluation text). */
export async function calibrationData(req: ExperimentInputs & { calibration: CalibrationInputs }): Promise<{ protocol: CalibrationProtocol; samples: Int32Array[] }> {
  const { model } = req;
  const text = req.calibration.text ?? req.text;
  const dataset = req.calibration.dataset ?? req.dataset;
  const sampling = req.calibration.sampling;
  const cs = await cachedTokenStream(model.tokenizer, text, model.config.bosTokenId);
  checkSeqlen(sampling.seqlen, model.config.maxPositionEmbeddings);
  const random = sampling.seed !== null && sampling.seed !== undefined;
  return {
    samples: calibrationSamples(cs.ids, sampling),
    protocol: {
      dataset: { name: dataset.name, source: dataset.source, chars: text.length, sha256: cs.sha256 },
      samples: sampling.samples,
      seqlen: sampling.seqlen,
      sampling: random ? 'random' : 'contiguous',
      ...(random ? { seed: sampling.seed! } : { offset: sampling.offset }),
      streamTokens: cs.ids.length,
      stream: cs.bos ? 'bos+text' : 'text',
    },
  };
}

export async function runEvaluation(req: EvalRequest): Promise<ExperimentRecord> {
  const t0 = performance.now();
  const { phase, progress } = phaseReporters(req, 'evaluation');
  phase('tokenize');
  const e = await evalStream(req);
  const t1 = phase('evaluate');
  const r = await evaluateWindows(req, e, req.model.config, req.model.weights, progress('evaluate'));
  const t2 = performance.now();
  return {
    ...recordEnvelope(req, e, { name: 'dense' }),
    ...perplexityFields(r, null),
    timings: { ...wallTimings(req, t0, t2), tokenizeMs: t1 - t0, evalMs: t2 - t1 },
  };
}

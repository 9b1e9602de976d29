/**
 * One evaluation experiment end to end (tokenize → windows → perplexity → record), shared
 * by the CLI and the worker so that both produce the same ExperimentRecord.
 */
import type { Backend } from './backend/backend';
import { cachedTokenStream, checkSeqlen, parseWindows, windowCount, type TokenStream, type WindowRange } from './data';
import { evaluatePerplexity } from './eval/perplexity';
import { LlamaModel } from './model/llama';
import type { LoadedModel } from './model/load';
import { RECORD_SCHEMA_ID, RECORD_VERSION, newRecordId, type DatasetRef, type ExperimentRecord, type MethodSpec, type ModelRef } from './record';

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

/** What every experiment (evaluation, pruning, …) is run on and where. */
export interface ExperimentInputs {
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
  signal?: AbortSignal;
}

export interface EvalRequest extends ExperimentInputs {
  onPhase?: (phase: 'tokenize' | 'evaluate') => void;
  onProgress?: (p: { done: number; total: number }) => void;
}

export interface EvalStream {
  stream: TokenStream & { sha256: string };
  windows: WindowRange;
}

/** The evaluation text as a token stream (cached) and its checked window range. */
export async function evalStream(req: ExperimentInputs): Promise<EvalStream> {
  checkSeqlen(req.seqlen, req.model.config.maxPositionEmbeddings);
  const stream = await cachedTokenStream(req.model.tokenizer, req.text, req.model.config.bosTokenId);
  return { stream, windows: parseWindows(req.windows, windowCount(stream.ids.length, req.seqlen)) };
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

export async function runEvaluation(req: EvalRequest): Promise<ExperimentRecord> {
  const t0 = performance.now();
  req.onPhase?.('tokenize');
  const e = await evalStream(req);
  const { stream, windows } = e;
  const t1 = performance.now();
  req.onPhase?.('evaluate');
  const model = new LlamaModel(req.model.config, req.backend, req.model.weights);
  try {
    const r = await evaluatePerplexity(model, stream.ids, {
      seqlen: req.seqlen,
      windows,
      signal: req.signal,
      onProgress: req.onProgress,
    });
    const t2 = performance.now();
    return {
      ...recordEnvelope(req, e, { name: 'dense' }),
      meanNll: r.meanNll,
      ppl: r.ppl,
      scoredTokens: r.scoredTokens,
      windowMeanNll: r.windowMeanNll,
      timings: {
        wallMs: t2 - t0 + (req.loadMs ?? 0),
        ...(req.loadMs !== undefined ? { loadMs: req.loadMs } : {}),
        tokenizeMs: t1 - t0,
        evalMs: t2 - t1,
      },
    };
  } finally {
    model.dispose();
  }
}

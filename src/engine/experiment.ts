/**
 * One evaluation experiment end to end (tokenize → windows → perplexity → record), shared
 * by the CLI and the worker so that both produce the same ExperimentRecord.
 */
import type { Backend } from './backend/backend';
import { cachedTokenStream, checkSeqlen, parseWindows, windowCount } from './data';
import { evaluatePerplexity } from './eval/perplexity';
import { LlamaModel } from './model/llama';
import type { LoadedModel } from './model/load';
import { RECORD_SCHEMA_ID, RECORD_VERSION, newRecordId, type DatasetRef, type ExperimentRecord, type ModelRef } from './record';

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

export interface EvalRequest {
  model: LoadedModel;
  modelRef: ModelRef;
  backend: Backend;
  fallbackReason?: string;
  text: string;
  dataset: { name: string; source: DatasetRef['source'] };
  seqlen: number;
  /** "A:B", "all", … (see parseWindows). */
  windows: string;
  runtime: 'node' | 'browser';
  loadMs?: number;
  signal?: AbortSignal;
  onPhase?: (phase: 'tokenize' | 'evaluate') => void;
  onProgress?: (p: { done: number; total: number }) => void;
}

export async function runEvaluation(req: EvalRequest): Promise<ExperimentRecord> {
  const t0 = performance.now();
  checkSeqlen(req.seqlen, req.model.config.maxPositionEmbeddings);
  req.onPhase?.('tokenize');
  const stream = await cachedTokenStream(req.model.tokenizer, req.text, req.model.config.bosTokenId);
  const t1 = performance.now();
  const windows = parseWindows(req.windows, windowCount(stream.ids.length, req.seqlen));
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
      schema: RECORD_SCHEMA_ID,
      version: RECORD_VERSION,
      id: newRecordId(),
      createdAt: new Date().toISOString(),
      model: req.modelRef,
      method: { name: 'dense' },
      protocol: {
        dataset: { name: req.dataset.name, source: req.dataset.source, chars: req.text.length, sha256: stream.sha256 },
        seqlen: req.seqlen,
        windows,
        streamTokens: stream.ids.length,
        stream: stream.bos ? 'bos+text' : 'text',
      },
      meanNll: r.meanNll,
      ppl: r.ppl,
      scoredTokens: r.scoredTokens,
      windowMeanNll: r.windowMeanNll,
      backend: { name: req.backend.info.name, device: req.backend.info.device, ...(req.fallbackReason ? { fallbackReason: req.fallbackReason } : {}) },
      runtime: req.runtime,
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

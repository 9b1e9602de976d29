/**
 * The engine worker: holds the loaded model and runs jobs off the page's thread. Each job
 * has an AbortController; `cancel` aborts it and the engine stops at its next window.
 */
import * as Comlink from 'comlink';
import { BackendHolder, type BackendPreference } from '../engine/backend/select';
import { BUNDLED_DATASETS, isBundledDataset } from '../engine/data';
import { StudioError } from '../engine/errors';
import { modelRefOf, runEvaluation } from '../engine/experiment';
import { loadModel, type LoadedModel } from '../engine/model/load';
import { readText, urlSource } from '../engine/model/source';
import type { ExperimentRecord } from '../engine/record';
import type { BackendStatus, EvaluateRequest, JobEvent, LoadModelRequest, ModelSummary, StudioWorkerApi } from './protocol';

/** A lost WebGPU device is replaced by a fresh one at the next job. */
const backends = new BackendHolder(() => (typeof navigator !== 'undefined' ? navigator.gpu : undefined));
let loaded: { model: LoadedModel; summary: ModelSummary } | null = null;
const jobs = new Map<string, AbortController>();
/** Bundled texts are fetched once per worker; their token streams are cached by the engine. */
const bundledTexts = new Map<string, Promise<string>>();

async function withJob<T>(jobId: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  jobs.set(jobId, ctl);
  try {
    return await run(ctl.signal);
  } finally {
    jobs.delete(jobId);
  }
}

async function datasetText(req: EvaluateRequest, signal: AbortSignal): Promise<string> {
  const d = req.dataset;
  if (d.kind === 'text') return d.text;
  if (!isBundledDataset(d.name)) throw new StudioError('dataset', `unknown bundled dataset "${d.name}"`);
  const key = `${req.datasetsUrl}|${d.name}`;
  let text = bundledTexts.get(key);
  if (!text) {
    text = readText(urlSource(req.datasetsUrl), BUNDLED_DATASETS[d.name].file, signal);
    bundledTexts.set(key, text);
    // A failed or cancelled fetch must not stay cached.
    text.catch(() => bundledTexts.delete(key));
  }
  return text;
}

const api: StudioWorkerApi = {
  async loadModel(req: LoadModelRequest, onEvent: (e: JobEvent) => void): Promise<ModelSummary> {
    return withJob(req.jobId, async (signal) => {
      const t0 = performance.now();
      const model = await loadModel(req.id, urlSource(req.url), {
        signal,
        onProgress: (p) => onEvent({ jobId: req.jobId, phase: 'download', done: p.loaded, total: p.total, unit: 'bytes' }),
      });
      const { backend, fallbackReason } = await backends.get(req.backend);
      const summary: ModelSummary = {
        ref: modelRefOf(model, req.source),
        backend: backend.info,
        ...(fallbackReason ? { fallbackReason } : {}),
        weightBytes: model.weightBytes,
        loadMs: performance.now() - t0,
        maxPositionEmbeddings: model.config.maxPositionEmbeddings,
        headDim: model.config.headDim,
      };
      // Replace the earlier model only once the new one loaded: a failed load keeps the old.
      loaded = { model, summary };
      return summary;
    });
  },

  async evaluate(req: EvaluateRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord> {
    const active = loaded;
    if (!active) throw new StudioError('input', 'no model is loaded');
    return withJob(req.jobId, async (signal) => {
      const text = await datasetText(req, signal);
      const name = req.dataset.name;
      const { backend, fallbackReason } = await backends.get(req.backend);
      return runEvaluation({
        model: active.model,
        modelRef: active.summary.ref,
        backend,
        fallbackReason,
        text,
        dataset: { name, source: req.dataset.kind === 'bundled' ? 'bundled' : req.dataset.source },
        seqlen: req.seqlen,
        windows: req.windows,
        runtime: 'browser',
        signal,
        onPhase: (phase) => onEvent({ jobId: req.jobId, phase, done: 0, total: null, unit: 'windows' }),
        onProgress: (p) => onEvent({ jobId: req.jobId, phase: 'evaluate', done: p.done, total: p.total, unit: 'windows' }),
      });
    });
  },

  async setBackend(preference: BackendPreference): Promise<BackendStatus> {
    const { backend, fallbackReason } = await backends.get(preference);
    return { backend: backend.info, ...(fallbackReason ? { fallbackReason } : {}) };
  },

  cancel(jobId: string): void {
    jobs.get(jobId)?.abort();
  },
};

Comlink.expose(api);

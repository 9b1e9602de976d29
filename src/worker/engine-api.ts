/**
 * The engine's job API as the worker exposes it: holds the loaded model, runs jobs with an
 * AbortController each (`cancel` aborts; the engine stops at its next window or step), and
 * reports progress through a callback. Kept apart from the worker entry so that Node tests
 * can drive the same API without a browser.
 */
import { BackendHolder, type BackendPreference } from '../engine/backend/select';
import { BUNDLED_DATASETS, isBundledDataset } from '../engine/data';
import { StudioError } from '../engine/errors';
import { modelRefOf, runEvaluation } from '../engine/experiment';
import { loadModel, type LoadedModel } from '../engine/model/load';
import { readText, urlSource } from '../engine/model/source';
import type { HostTensor, ModelWeights } from '../engine/model/weights';
import type { ModelConfig } from '../engine/model/config';
import { runPruneExperiment } from '../engine/prune/experiment';
import { methodSchema, type ExperimentRecord } from '../engine/record';
import type {
  BackendStatus,
  DatasetChoice,
  EvaluateRequest,
  JobEvent,
  LoadModelRequest,
  ModelSummary,
  PruneJobRequest,
  StudioWorkerApi,
} from './protocol';

export interface EngineApi extends StudioWorkerApi {
  /** The model the last prune job produced (config with per-layer sizes, weights). */
  lastCompressed(): { recordId: string; config: ModelConfig; weights: ModelWeights<HostTensor> } | null;
}

export function createEngineApi(getGpu: () => GPU | null | undefined | Promise<GPU | null | undefined>): EngineApi {
  /** A lost WebGPU device is replaced by a fresh one at the next job. */
  const backends = new BackendHolder(getGpu);
  let loaded: { model: LoadedModel; summary: ModelSummary } | null = null;
  let compressed: ReturnType<EngineApi['lastCompressed']> = null;
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

  async function datasetText(d: DatasetChoice, datasetsUrl: string, signal: AbortSignal): Promise<string> {
    if (d.kind === 'text') return d.text;
    if (!isBundledDataset(d.name)) throw new StudioError('dataset', `unknown bundled dataset "${d.name}"`);
    const key = `${datasetsUrl}|${d.name}`;
    let text = bundledTexts.get(key);
    if (!text) {
      text = readText(urlSource(datasetsUrl), BUNDLED_DATASETS[d.name].file, signal);
      bundledTexts.set(key, text);
      // A failed or cancelled fetch must not stay cached.
      text.catch(() => bundledTexts.delete(key));
    }
    return text;
  }

  return {
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
        const text = await datasetText(req.dataset, req.datasetsUrl, signal);
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

    async prune(req: PruneJobRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord> {
      const active = loaded;
      if (!active) throw new StudioError('input', 'no model is loaded');
      // Settings come from the page (and later from share links): validate them here.
      const parsed = methodSchema.safeParse(req.method);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new StudioError('input', `method settings: ${issue.path.join('.') || 'method'}: ${issue.message}`);
      }
      const method = parsed.data;
      return withJob(req.jobId, async (signal) => {
        const text = await datasetText(req.dataset, req.datasetsUrl, signal);
        const calibText = await datasetText(req.calibration.dataset, req.datasetsUrl, signal);
        const { backend, fallbackReason } = await backends.get(req.backend);
        const source = (d: DatasetChoice) => (d.kind === 'bundled' ? 'bundled' : d.source);
        const result = await runPruneExperiment({
          model: active.model,
          modelRef: active.summary.ref,
          backend,
          fallbackReason,
          text,
          dataset: { name: req.dataset.name, source: source(req.dataset) },
          seqlen: req.seqlen,
          windows: req.windows,
          calibration: {
            text: calibText,
            dataset: { name: req.calibration.dataset.name, source: source(req.calibration.dataset) },
            sampling: req.calibration.sampling,
          },
          method,
          expandGqa: req.expandGqa,
          runtime: 'browser',
          signal,
          onPhase: (phase) => onEvent({ jobId: req.jobId, phase, done: 0, total: null, unit: 'steps' }),
          onProgress: (p) => onEvent({ jobId: req.jobId, phase: p.phase, done: p.done, total: p.total, unit: p.phase === 'evaluate' || p.phase === 'baseline' ? 'windows' : 'steps' }),
        });
        compressed = { recordId: result.record.id, config: result.config, weights: result.weights };
        return result.record;
      });
    },

    lastCompressed: () => compressed,

    cancel(jobId: string): void {
      jobs.get(jobId)?.abort();
    },
  };
}

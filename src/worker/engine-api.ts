/**
 * The engine's job API as the worker exposes it: holds the loaded model, runs jobs with an
 * AbortController each (`cancel` aborts; the engine stops at its next window or step), and
 * reports progress through a callback. Kept apart from the worker entry so that Node tests
 * can drive the same API without a browser.
 */
import type { Backend } from '../engine/backend/backend';
import { BackendHolder, isSpent, type BackendPreference, type SelectedBackend } from '../engine/backend/select';
import { WebGpuBackend, type PoolStats, type WebGpuBackendOptions } from '../engine/backend/webgpu';
import { BUNDLED_DATASETS, isBundledDataset } from '../engine/data';
import { StudioError } from '../engine/errors';
import { describeNonFiniteWeights } from '../engine/eval/numerics';
import { modelRefOf, runEvaluation } from '../engine/experiment';
import { loadModel, type LoadedModel } from '../engine/model/load';
import { blobSource } from '../engine/model/blob-source';
import { readText, urlSource } from '../engine/model/source';
import type { HostTensor, ModelWeights } from '../engine/model/weights';
import type { ModelConfig } from '../engine/model/config';
import { runPruneExperiment } from '../engine/prune/experiment';
import { runQuantizeExperiment } from '../engine/quant/experiment';
import { methodSchema, type ExperimentRecord } from '../engine/record';
import { runLimitProblem, type RunLimitInputs } from '../engine/run-limits';
import type {
  BackendStatus,
  DatasetChoice,
  EvaluateRequest,
  JobEvent,
  LoadModelRequest,
  ModelSummary,
  PruneJobRequest,
  StudioWorkerApi,
  TestHookName,
  TestHoldCommand,
  TestHoldState,
  GenerateEvent,
  GenerateReply,
  GenerateRequest,
  HistogramReply,
  HistogramRequest,
  InspectLayerRequest,
  LayerInspection,
} from './protocol';
import { generateJob, histogramJob, inspectJob } from './inspect-jobs';
import { cacheStorageCache, type HubCache } from '../engine/hub/cache';
import { parseHubRepo } from '../engine/hub/repo';
import type { ByteProgress } from '../engine/model/source';
import type { HubCacheUsage, HubPreviewReply, HubPreviewRequest } from './protocol';
import { cacheUsage, endpointOf, loadHubJob, previewHubJob } from './hub-jobs';
import type { HubOriginPolicy } from '../engine/hub/origins';
import * as Comlink from 'comlink';
import { hubSource } from '../engine/hub/hub-source';
import { readCompanions } from '../engine/model/save';
import type { FileSource } from '../engine/model/source';
import { exportJob } from './export-jobs';
import type { ExportReply, ExportRequest, OrtRunReply, OrtRunRequest } from './protocol';
import { ortRunJob } from './ort-jobs';
import type { QuantizeJobRequest } from './protocol';
import { isL4QStepEvent, type L4QEvent, type L4QJobRequest } from './protocol';
import { l4qJob, parseL4QMethod, PauseGate } from './l4q-job';
import { JobHold } from './test-hold';

export interface EngineApi extends StudioWorkerApi {
  /** The model the last prune job produced (config with per-layer sizes, weights). */
  lastCompressed(): { recordId: string; config: ModelConfig; weights: ModelWeights<HostTensor> } | null;
  /** The backend the last job ran on (null before the first): tests read its memory accounting. */
  backendInUse(): Backend | null;
}

export interface EngineApiOptions {
  /** Enables `testHook` (test builds and `?testhooks=1` pages only; inert otherwise). */
  testHooks?: boolean;
  /** Options for the WebGPU backends it creates (tests: small pools, forced splits). */
  webgpu?: WebGpuBackendOptions;
  /** Where Hub files are cached (default: the Cache API when present; null: no cache). */
  hubCache?: HubCache | null;
  /**
   * The origins Hub requests may go to (the worker: the site's connect-src and its own
   * origin); absent or null, nothing is checked (Node, where no policy applies).
   */
  hubOrigins?: HubOriginPolicy | null;
}

/**
 * Refuses a job over the record limits before any work (download, tokenize) starts: its
 * record could not be saved. The page checks the same limits when it queues a run; this
 * is the check for callers that skip the page (tests, a changed page, share links).
 */
function checkLimits(r: RunLimitInputs): void {
  const problem = runLimitProblem(r);
  if (problem) throw new StudioError('input', problem.replace(/\.$/, ''));
}

/** What the page shows about the backend in use: which, and why. */
function statusOf(s: SelectedBackend): BackendStatus {
  return {
    backend: s.backend.info,
    reason: s.reason,
    ...(s.fallbackReason ? { fallbackReason: s.fallbackReason } : {}),
    ...(s.softwareAdapter ? { softwareAdapter: s.softwareAdapter } : {}),
  };
}

/** The files a user chose on their disk, read where they lie (Blobs are references). */
function localSource(req: LoadModelRequest): FileSource {
  return blobSource(req.id, new Map(Object.entries(req.local!.files)));
}

export function createEngineApi(getGpu: () => GPU | null | undefined | Promise<GPU | null | undefined>, options: EngineApiOptions = {}): EngineApi {
  /** A lost or failed WebGPU device is replaced by a fresh one at the next job. */
  const backends = new BackendHolder(getGpu, options.webgpu);
  /** Hub files: the Cache API in a browser or worker (absent in Node unless a test passes one). */
  const hubCache = options.hubCache !== undefined ? options.hubCache : cacheStorageCache();
  let hubOrigins = options.hubOrigins ?? null;
  let loaded: { model: LoadedModel; summary: ModelSummary; files: FileSource } | null = null;
  let compressed: ReturnType<EngineApi['lastCompressed']> = null;
  const jobs = new Map<string, AbortController>();
  /** Pause state of running L4Q jobs. */
  const pauseGates = new Map<string, PauseGate>();
  /** Bundled texts are fetched once per worker; their token streams are cached by the engine. */
  const bundledTexts = new Map<string, Promise<string>>();
  /** Test hooks only: holds a job at a phase of its progress (testHold). */
  const hold = options.testHooks ? new JobHold() : null;

  /**
   * A job's progress goes to the page through here. The engine awaits its progress reports:
   * with test hooks a job whose progress reaches an armed hold waits here; otherwise nothing
   * is returned, so no job ever waits on the page (a Comlink callback returns a promise of
   * the page's reply). Phase starts (`total` null) pass through here too but are never held:
   * the engine does not await them (experiment-phases.ts).
   */
  function reporter(onEvent: (e: JobEvent) => void, signal: AbortSignal): (e: JobEvent) => Promise<void> | undefined {
    return (e) => {
      onEvent(e);
      return hold?.reached(e, signal);
    };
  }

  async function withJob<T>(jobId: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ctl = new AbortController();
    jobs.set(jobId, ctl);
    try {
      return await run(ctl.signal);
    } catch (e) {
      if (e instanceof StudioError && e.code === 'numerics' && loaded) {
        // Say whether the loaded model's own weights hold the NaN/Inf (corrupt or diverged
        // checkpoint), naming them; otherwise the activations overflowed.
        const where = describeNonFiniteWeights(loaded.model.weights);
        throw new StudioError('numerics', `${e.message}${where ? ` ${where}` : ''}`);
      }
      throw await explainFailure(e, backends.peek());
    } finally {
      jobs.delete(jobId);
    }
  }

  /**
   * The model a quantize or L4Q job starts from: the loaded one, or with `afterPrune` the one
   * the last prune job produced (prune then quantize: its zeros stay zero). The engine takes
   * it from there as it takes a model it pruned itself (quant/start.ts).
   */
  function quantizationBase(model: LoadedModel, afterPrune: boolean | undefined): LoadedModel {
    if (!afterPrune) return model;
    const base = compressed;
    if (!base) throw new StudioError('input', 'no pruned model to quantize: run a pruning method first');
    if (base.weights.layers.some((l) => l.q.packed)) throw new StudioError('input', 'the last compressed model is already quantized');
    return { ...model, config: base.config, weights: base.weights };
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
        const onProgress = (p: ByteProgress) => onEvent({ jobId: req.jobId, phase: 'download', done: p.loaded, total: p.total, unit: 'bytes' });
        let model: LoadedModel;
        let hubWarnings: string[] = [];
        if (req.hub) {
          // Hub models: previewed and checked against the backend's limits before download.
          const hub = await loadHubJob(req.hub, (await backends.get(req.backend)).backend, hubCache, signal, onProgress, hubOrigins);
          model = hub.model;
          hubWarnings = hub.warnings;
        } else {
          model = await loadModel(req.id, req.local ? localSource(req) : urlSource(req.url), { signal, onProgress });
        }
        const selected = await backends.get(req.backend);
        const summary: ModelSummary = {
          ref: req.hub ? modelRefOf(model, 'hub', parseHubRepo(req.hub.id, req.hub.revision).revision) : modelRefOf(model, req.source),
          ...(hubWarnings.length > 0 ? { warnings: hubWarnings } : {}),
          ...statusOf(selected),
          weightBytes: model.weightBytes,
          loadMs: performance.now() - t0,
          maxPositionEmbeddings: model.config.maxPositionEmbeddings,
          headDim: model.config.headDim,
        };
        // Replace the earlier model only once the new one loaded: a failed load keeps the old.
        // `files` gives exports the source's config.json and tokenizer files (cached for Hub models).
        const files = req.hub
          ? hubSource({ ...endpointOf(req.hub, hubOrigins), cache: hubCache })
          : req.local
            ? localSource(req)
            : urlSource(req.url);
        loaded = { model, summary, files };
        return summary;
      });
    },

    async evaluate(req: EvaluateRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord> {
      const active = loaded;
      if (!active) throw new StudioError('input', 'no model is loaded');
      checkLimits({ seqlen: req.seqlen, windows: req.windows });
      return withJob(req.jobId, async (signal) => {
        const report = reporter(onEvent, signal);
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
          onProgress: (p) => report({ jobId: req.jobId, ...p }),
        });
      });
    },

    async setBackend(preference: BackendPreference): Promise<BackendStatus> {
      return statusOf(await backends.get(preference));
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
      checkLimits({ seqlen: req.seqlen, windows: req.windows, method, sampling: req.calibration.sampling });
      return withJob(req.jobId, async (signal) => {
        const report = reporter(onEvent, signal);
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
          onProgress: (p) => report({ jobId: req.jobId, ...p }),
        });
        compressed = { recordId: result.record.id, config: result.config, weights: result.weights };
        return result.record;
      });
    },

    async quantize(req: QuantizeJobRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord> {
      const active = loaded;
      if (!active) throw new StudioError('input', 'no model is loaded');
      const parsed = methodSchema.safeParse(req.method);
      if (!parsed.success || parsed.data.name !== 'rtn') {
        throw new StudioError('input', `quantization settings: ${parsed.success ? `method "${parsed.data.name}" is not a quantization method here (rtn)` : parsed.error.issues[0]!.message}`);
      }
      const method = parsed.data;
      checkLimits({ seqlen: req.seqlen, windows: req.windows, method });
      const model = quantizationBase(active.model, req.afterPrune);
      return withJob(req.jobId, async (signal) => {
        const report = reporter(onEvent, signal);
        const text = await datasetText(req.dataset, req.datasetsUrl, signal);
        const { backend, fallbackReason } = await backends.get(req.backend);
        const result = await runQuantizeExperiment({
          model,
          modelRef: active.summary.ref,
          backend,
          fallbackReason,
          text,
          dataset: { name: req.dataset.name, source: req.dataset.kind === 'bundled' ? 'bundled' : req.dataset.source },
          seqlen: req.seqlen,
          windows: req.windows,
          method,
          runtime: 'browser',
          signal,
          onProgress: (p) => report({ jobId: req.jobId, ...p }),
        });
        compressed = { recordId: result.record.id, config: result.config, weights: result.weights };
        return result.record;
      });
    },

    async generate(req: GenerateRequest, onEvent: (e: GenerateEvent) => void): Promise<GenerateReply> {
      const active = loaded;
      if (!active) throw new StudioError('input', 'no model is loaded');
      const which = compressed;
      return withJob(req.jobId, async (signal) => generateJob(active.model, which, (await backends.get(req.backend)).backend, req, signal, onEvent));
    },

    async inspectLayer(req: InspectLayerRequest, onEvent: (e: JobEvent) => void): Promise<LayerInspection> {
      const active = loaded;
      if (!active) throw new StudioError('input', 'no model is loaded');
      return withJob(req.jobId, async (signal) => {
        const calibText = await datasetText(req.calibration.dataset, req.datasetsUrl, signal);
        return inspectJob(active.model, (await backends.get(req.backend)).backend, req, calibText, signal, onEvent);
      });
    },

    async weightHistogram(req: HistogramRequest): Promise<HistogramReply> {
      if (!loaded) throw new StudioError('input', 'no model is loaded');
      return histogramJob(loaded.model, compressed, req);
    },

    async exportModel(req: ExportRequest): Promise<ExportReply> {
      const active = loaded;
      if (!active) throw new StudioError('input', 'no model is loaded');
      const reply = exportJob(active.model, compressed, await readCompanions(active.files), req);
      // Hand the new bytes over instead of copying them (Comlink.transfer is inert outside a
      // worker); companion files may be views of cached buffers, so they travel as copies.
      const owned = (u: Uint8Array) => u.byteOffset === 0 && u.byteLength === u.buffer.byteLength;
      const files = reply.files.map((f) => ({ name: f.name, bytes: f.name.startsWith('model.') && owned(f.bytes) ? f.bytes : f.bytes.slice() }));
      const out = { ...reply, files };
      return Comlink.transfer(out, out.zip ? [out.zip.buffer as ArrayBuffer] : files.map((f) => f.bytes.buffer as ArrayBuffer));
    },

    async ortRun(req: OrtRunRequest): Promise<OrtRunReply> {
      const active = loaded;
      if (!active) throw new StudioError('input', 'no model is loaded');
      const which = compressed;
      return withJob(req.jobId, (signal) => ortRunJob(active.model, which, req, signal));
    },

    lastCompressed: () => compressed,

    backendInUse: () => backends.peek(),

    testHook(name: TestHookName): PoolStats | null {
      if (!options.testHooks) throw new StudioError('input', 'test hooks are disabled in this build');
      const b = backends.peek();
      if (name === 'memory') return b instanceof WebGpuBackend ? b.memory() : null;
      if (name === 'lose-device') {
        if (!(b instanceof WebGpuBackend)) throw new StudioError('input', 'lose-device: the current backend is not WebGPU');
        // What a driver reset or a GPU process crash does: the device is gone mid-job.
        b.runtime.device.destroy();
        return null;
      }
      if (name === 'crash') {
        // An uncaught exception outside any call: the worker reports it as an error event.
        setTimeout(() => {
          throw new Error('test hook: simulated engine worker crash');
        }, 0);
        return null;
      }
      if (name === 'hang') {
        // What a catastrophic tokenizer regex does: the worker's thread is busy in one
        // synchronous call, reads no abort signal and answers no message (the cancel
        // watchdog in client.ts must end it). Bounded, so a forgotten one ends by itself.
        setTimeout(() => {
          const until = Date.now() + 10 * 60_000;
          while (Date.now() < until) {
            /* busy */
          }
        }, 0);
        return null;
      }
      throw new StudioError('input', `unknown test hook "${String(name)}"`);
    },

    testHold(command: TestHoldCommand): TestHoldState {
      if (!hold) throw new StudioError('input', 'test hooks are disabled in this build');
      if (command.release) hold.release();
      if (command.hold) hold.arm(command.hold.phase, command.hold.done ?? 0);
      return { ...hold.state(), parked: [...pauseGates].filter(([, g]) => g.parked).map(([id]) => id) };
    },

    async hubPreview(req: HubPreviewRequest): Promise<HubPreviewReply> {
      return withJob(req.jobId, async (signal) => previewHubJob(req, (await backends.get(req.backend)).backend, hubCache, signal, hubOrigins));
    },

    setHubConnectSources(sources: string[]): void {
      // The page's <meta> policy comes from the same definition as the worker's built-in list,
      // unless the site rewrote it for its own Hub: the worker then follows the page. Where
      // nothing is checked (Node) nothing starts to be.
      if (hubOrigins) hubOrigins = { sources: [...sources], self: hubOrigins.self };
    },

    async clearHubCache(): Promise<HubCacheUsage> {
      await hubCache?.clear();
      return cacheUsage(hubCache);
    },

    async l4q(req: L4QJobRequest, onEvent: (e: L4QEvent) => void): Promise<ExperimentRecord> {
      const active = loaded;
      if (!active) throw new StudioError('input', 'no model is loaded');
      checkLimits({ seqlen: req.seqlen, windows: req.windows, method: parseL4QMethod(req.method), sampling: req.calibration.sampling });
      const model = quantizationBase(active.model, req.afterPrune);
      const gate = new PauseGate();
      pauseGates.set(req.jobId, gate);
      try {
        return await withJob(req.jobId, async (signal) => {
          const text = await datasetText(req.dataset, req.datasetsUrl, signal);
          const calibText = await datasetText(req.calibration.dataset, req.datasetsUrl, signal);
          const { backend, fallbackReason } = await backends.get(req.backend);
          const report = reporter(onEvent, signal);
          const events = (e: L4QEvent) => {
            if (!isL4QStepEvent(e)) return report(e);
            onEvent(e);
          };
          const result = await l4qJob(req, { model, modelRef: active.summary.ref, backend, fallbackReason, text, calibText, signal, gate }, events);
          compressed = { recordId: result.record.id, config: result.config, weights: result.weights };
          return result.record;
        });
      } finally {
        pauseGates.delete(req.jobId);
      }
    },

    pause(jobId: string): void {
      pauseGates.get(jobId)?.pause();
    },

    resume(jobId: string): void {
      pauseGates.get(jobId)?.resume();
    },

    cancel(jobId: string): void {
      jobs.get(jobId)?.abort();
    },
  };
}

/**
 * A job that failed because its GPU device was lost or reported an error gets a message
 * saying so, and that the next job gets a fresh device (BackendHolder replaces a spent
 * backend). Other errors pass unchanged.
 */
async function explainFailure(e: unknown, backend: Backend | null): Promise<unknown> {
  if (!backend) return e;
  if (!isSpent(backend) && backend instanceof WebGpuBackend && e instanceof Error && /WebGPU/.test(e.message)) {
    // A destroyed device can fail a read before its `lost` promise has settled.
    await Promise.race([backend.runtime.device.lost, new Promise((r) => setTimeout(r, 200))]);
    await new Promise((r) => setTimeout(r, 0));
  }
  if (!isSpent(backend)) return e;
  if (e instanceof StudioError && (e.code === 'cancelled' || e.code === 'device')) return e;
  let detail = e instanceof Error ? e.message : String(e);
  if (backend instanceof WebGpuBackend && backend.runtime.lost) {
    // Name the loss itself rather than whichever call noticed it first (often a failed read).
    try {
      backend.runtime.check('the job');
    } catch (lost) {
      detail = lost instanceof Error ? lost.message : detail;
    }
  }
  return new StudioError('device', `the GPU stopped during the job, which was ended: ${detail.replace(/\.+$/, '')}. Earlier results are kept; the next job starts on a fresh WebGPU device.`);
}

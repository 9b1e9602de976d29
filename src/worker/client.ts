/**
 * The page's handle on the engine worker. Errors thrown in the worker arrive as Errors
 * with the engine's message; callbacks are wrapped as Comlink proxies here so callers
 * pass plain functions. If the worker dies (its script fails to load, or it crashes),
 * every pending and later call rejects with a message instead of waiting forever.
 */
import * as Comlink from 'comlink';
import type { BackendPreference } from '../engine/backend/select';
import type { BackendStatus, EvaluateRequest, JobEvent, LoadModelRequest, ModelSummary, PruneJobRequest, StudioWorkerApi } from './protocol';
import type { ExperimentRecord } from '../engine/record';

export interface StudioClient {
  loadModel(req: LoadModelRequest, onEvent: (e: JobEvent) => void): Promise<ModelSummary>;
  evaluate(req: EvaluateRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord>;
  prune(req: PruneJobRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord>;
  setBackend(preference: BackendPreference): Promise<BackendStatus>;
  cancel(jobId: string): Promise<void>;
  terminate(): void;
}

export class WorkerCrashedError extends Error {
  constructor(detail: string) {
    super(`the engine worker stopped: ${detail}`);
    this.name = 'WorkerCrashedError';
  }
}

export function createStudioClient(): StudioClient {
  const worker = new Worker(new URL('./studio.worker.ts', import.meta.url), { type: 'module', name: 'studio-engine' });
  const remote = Comlink.wrap<StudioWorkerApi>(worker);
  let crash: WorkerCrashedError | null = null;
  let rejectAll: (e: Error) => void = () => {};
  const crashed = new Promise<never>((_, reject) => (rejectAll = reject));
  crashed.catch(() => {}); // observed through the races below
  const onDeath = (detail: string) => {
    crash ??= new WorkerCrashedError(detail);
    rejectAll(crash);
  };
  worker.addEventListener('error', (e) => onDeath(e.message || 'its script failed to load or threw'));
  worker.addEventListener('messageerror', () => onDeath('a message could not be decoded'));

  async function guarded<T>(call: () => Promise<T>): Promise<T> {
    if (crash) throw crash;
    return Promise.race([call(), crashed]);
  }

  async function withCallback<T>(onEvent: (e: JobEvent) => void, call: (cb: (e: JobEvent) => void) => Promise<T>): Promise<T> {
    const cb = Comlink.proxy(onEvent);
    try {
      return await guarded(() => call(cb));
    } finally {
      // Let the worker's side of the callback be collected once the job is over.
      (cb as unknown as { [Comlink.releaseProxy]?: () => void })[Comlink.releaseProxy]?.();
    }
  }

  return {
    loadModel: (req, onEvent) => withCallback(onEvent, (cb) => remote.loadModel(req, cb)),
    evaluate: (req, onEvent) => withCallback(onEvent, (cb) => remote.evaluate(req, cb)),
    prune: (req, onEvent) => withCallback(onEvent, (cb) => remote.prune(req, cb)),
    setBackend: (preference) => guarded(() => remote.setBackend(preference)),
    cancel: (jobId) => guarded(() => remote.cancel(jobId)),
    terminate: () => {
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}

/**
 * The page's handle on the engine worker. Errors thrown in the worker arrive as Errors
 * with the engine's message; callbacks are wrapped as Comlink proxies here so callers
 * pass plain functions. If the worker dies (its script fails to load, or it crashes),
 * every pending and later call rejects with a message instead of waiting forever, the
 * worker is terminated, and `onCrash` lets the page start a new one.
 */
import * as Comlink from 'comlink';
import type { ExperimentRecord } from '../engine/record';
import type { JobEvent, L4QEvent, StudioWorkerApi } from './protocol';

/**
 * The worker API as the page holds it: every call crosses to the worker, so each returns a
 * promise (and rejects once the worker has died); `terminate` ends the worker.
 */
export type StudioClient = {
  [K in keyof StudioWorkerApi]: StudioWorkerApi[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
} & { terminate(): void };

export interface StudioClientOptions {
  /**
   * Called once when the worker dies (after pending calls were rejected), so the page can
   * start a new client; not called after `terminate`.
   */
  onCrash?: (error: WorkerCrashedError) => void;
  /** Starts the worker with its test hooks enabled (pages opened with `?testhooks=1`). */
  testHooks?: boolean;
}

export class WorkerCrashedError extends Error {
  constructor(detail: string) {
    super(`the engine worker stopped: ${detail}`);
    this.name = 'WorkerCrashedError';
  }
}

export function createStudioClient(options: StudioClientOptions = {}): StudioClient {
  const name = options.testHooks ? 'studio-engine testhooks' : 'studio-engine';
  const worker = new Worker(new URL('./studio.worker.ts', import.meta.url), { type: 'module', name });
  const remote = Comlink.wrap<StudioWorkerApi>(worker);
  let crash: WorkerCrashedError | null = null;
  let terminated = false;
  let rejectAll: (e: Error) => void = () => {};
  const crashed = new Promise<never>((_, reject) => (rejectAll = reject));
  crashed.catch(() => {}); // observed through the races below
  const onDeath = (detail: string) => {
    if (crash || terminated) return;
    crash = new WorkerCrashedError(detail);
    rejectAll(crash);
    // An uncaught error may leave the worker running in an unknown state: end it for good,
    // so that whatever it still holds (GPU device, model) is freed with it.
    terminated = true;
    worker.terminate();
    options.onCrash?.(crash);
  };
  worker.addEventListener('error', (e) => {
    // The page reports the worker's error itself (with a notice); keep it off the console.
    e.preventDefault();
    onDeath(e.message || 'its script failed to load or threw');
  });
  worker.addEventListener('messageerror', () => onDeath('a message could not be decoded'));

  async function guarded<T>(call: () => Promise<T>): Promise<T> {
    if (crash) throw crash;
    return Promise.race([call(), crashed]);
  }

  async function withCallback<T, E = JobEvent>(onEvent: (e: E) => void, call: (cb: (e: E) => void) => Promise<T>): Promise<T> {
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
    quantize: (req, onEvent) => withCallback(onEvent, (cb) => remote.quantize(req, cb)),
    l4q: (req, onEvent) => withCallback<ExperimentRecord, L4QEvent>(onEvent, (cb) => remote.l4q(req, cb)),
    pause: (jobId) => guarded(() => remote.pause(jobId)),
    resume: (jobId) => guarded(() => remote.resume(jobId)),
    setBackend: (preference) => guarded(() => remote.setBackend(preference)),
    generate: (req, onEvent) => withCallback(onEvent, (cb) => remote.generate(req, cb)),
    inspectLayer: (req, onEvent) => withCallback(onEvent, (cb) => remote.inspectLayer(req, cb)),
    weightHistogram: (req) => guarded(() => remote.weightHistogram(req)),
    hubPreview: (req) => guarded(() => remote.hubPreview(req)),
    clearHubCache: () => guarded(() => remote.clearHubCache()),
    exportModel: (req) => guarded(() => remote.exportModel(req)),
    ortRun: (req) => guarded(() => remote.ortRun(req)),
    cancel: (jobId) => guarded(() => remote.cancel(jobId)),
    testHook: (hook) => guarded(() => remote.testHook(hook)),
    testHold: (command) => guarded(() => remote.testHold(command)),
    terminate: () => {
      if (terminated) return;
      terminated = true;
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}

/**
 * The page's handle on the engine worker. Errors thrown in the worker arrive as Errors
 * with the engine's message; callbacks are wrapped as Comlink proxies here so callers
 * pass plain functions. If the worker dies (its script fails to load, or it crashes),
 * every pending and later call rejects with a message instead of waiting forever, the
 * worker is terminated, and `onCrash` lets the page start a new one. A job that does not
 * stop within CANCEL_GRACE_MS of `cancel` ends the same way (cancel-watchdog.ts): its call
 * rejects as cancelled and the worker is terminated (`reason: 'unresponsive'`).
 */
import * as Comlink from 'comlink';
import { connectSourcesOf } from '../engine/hub/origins';
import type { ExperimentRecord } from '../engine/record';
import type { JobEvent, L4QEvent, StudioWorkerApi } from './protocol';
import { CancelWatchdog, graceSeconds } from './cancel-watchdog';

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
  /** Grace period of the cancel watchdog (tests); default CANCEL_GRACE_MS. */
  cancelGraceMs?: number;
}

export class WorkerCrashedError extends Error {
  /** 'crash': the worker failed; 'unresponsive': ended by the client after a cancel timed out. */
  readonly reason: 'crash' | 'unresponsive';
  /** What happened, without the "the engine worker stopped" prefix. */
  readonly detail: string;
  constructor(detail: string, reason: 'crash' | 'unresponsive' = 'crash') {
    super(`the engine worker stopped: ${detail}`);
    this.name = 'WorkerCrashedError';
    this.reason = reason;
    this.detail = detail;
  }
}

/** connect-src of the page's <meta> Content-Security-Policy (built sites), or null (dev server). */
function pageConnectSources(): string[] | null {
  const meta = typeof document !== 'undefined' ? document.querySelector('meta[http-equiv="Content-Security-Policy"]') : null;
  const policy = meta?.getAttribute('content');
  return policy ? connectSourcesOf(policy) : null;
}

export function createStudioClient(options: StudioClientOptions = {}): StudioClient {
  const name = options.testHooks ? 'studio-engine testhooks' : 'studio-engine';
  const worker = new Worker(new URL('./studio.worker.ts', import.meta.url), { type: 'module', name });
  const remote = Comlink.wrap<StudioWorkerApi>(worker);
  // Before any job (messages arrive in order): the worker holds Hub URLs to the page's policy.
  const sources = pageConnectSources();
  if (sources) void remote.setHubConnectSources(sources).catch(() => {});
  let crash: WorkerCrashedError | null = null;
  let terminated = false;
  let rejectAll: (e: Error) => void = () => {};
  const crashed = new Promise<never>((_, reject) => (rejectAll = reject));
  crashed.catch(() => {}); // observed through the races below
  const onDeath = (detail: string, reason: WorkerCrashedError['reason'] = 'crash') => {
    if (crash || terminated) return;
    crash = new WorkerCrashedError(detail, reason);
    watchdog.dispose();
    rejectAll(crash);
    // An uncaught error may leave the worker running in an unknown state: end it for good,
    // so that whatever it still holds (GPU device, model) is freed with it.
    terminated = true;
    worker.terminate();
    options.onCrash?.(crash);
  };
  // A job stuck where it cannot see its abort signal: its call was rejected as cancelled;
  // every other pending call fails as if the worker had crashed, and the page restarts it.
  const watchdog = new CancelWatchdog(
    (_jobId, graceMs) => onDeath(`a cancelled job did not stop within ${graceSeconds(graceMs)} s, so the engine was terminated`, 'unresponsive'),
    options.cancelGraceMs,
  );
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

  /** A job's call, watched after its cancel (`jobId`). */
  async function withCallback<T, E = JobEvent>(jobId: string, onEvent: (e: E) => void, call: (cb: (e: E) => void) => Promise<T>): Promise<T> {
    const cb = Comlink.proxy((e: E) => {
      watchdog.progress(jobId);
      onEvent(e);
    });
    try {
      return await watchdog.track(jobId, guarded(() => call(cb)));
    } finally {
      // Let the worker's side of the callback be collected once the job is over.
      (cb as unknown as { [Comlink.releaseProxy]?: () => void })[Comlink.releaseProxy]?.();
    }
  }

  return {
    loadModel: (req, onEvent) => withCallback(req.jobId, onEvent, (cb) => remote.loadModel(req, cb)),
    evaluate: (req, onEvent) => withCallback(req.jobId, onEvent, (cb) => remote.evaluate(req, cb)),
    prune: (req, onEvent) => withCallback(req.jobId, onEvent, (cb) => remote.prune(req, cb)),
    quantize: (req, onEvent) => withCallback(req.jobId, onEvent, (cb) => remote.quantize(req, cb)),
    l4q: (req, onEvent) => withCallback<ExperimentRecord, L4QEvent>(req.jobId, onEvent, (cb) => remote.l4q(req, cb)),
    pause: (jobId) => guarded(() => remote.pause(jobId)),
    resume: (jobId) => guarded(() => remote.resume(jobId)),
    setBackend: (preference) => guarded(() => remote.setBackend(preference)),
    generate: (req, onEvent) => withCallback(req.jobId, onEvent, (cb) => remote.generate(req, cb)),
    inspectLayer: (req, onEvent) => withCallback(req.jobId, onEvent, (cb) => remote.inspectLayer(req, cb)),
    weightHistogram: (req) => guarded(() => remote.weightHistogram(req)),
    hubPreview: (req) => watchdog.track(req.jobId, guarded(() => remote.hubPreview(req))),
    clearHubCache: () => guarded(() => remote.clearHubCache()),
    setHubConnectSources: (list) => guarded(() => remote.setHubConnectSources(list)),
    exportModel: (req) => guarded(() => remote.exportModel(req)),
    ortRun: (req) => watchdog.track(req.jobId, guarded(() => remote.ortRun(req))),
    // The watchdog starts first: a worker stuck in a synchronous call never answers this.
    cancel: (jobId) => {
      watchdog.cancelled(jobId);
      // Once the worker is gone the job has ended with it: nothing is left to cancel.
      return guarded(() => remote.cancel(jobId)).catch((e: unknown) => {
        if (!(e instanceof WorkerCrashedError)) throw e;
      });
    },
    testHook: (hook) => guarded(() => remote.testHook(hook)),
    testHold: (command) => guarded(() => remote.testHold(command)),
    terminate: () => {
      if (terminated) return;
      terminated = true;
      watchdog.dispose();
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}

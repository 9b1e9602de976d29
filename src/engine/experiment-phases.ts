/**
 * The one phase and progress vocabulary of every job, from the engine through the worker
 * (protocol.ts re-exports it as JobPhase / JobEvent) to the page (store.ts, JobProgress.tsx).
 * Every experiment (evaluation, pruning, RTN, L4Q) reports through `phaseReporters`; the
 * worker adds the job id and forwards the events unchanged.
 */
import { throwIfAborted } from './errors';

/**
 * download: model or dataset bytes; parse: reading weights; tokenize: the evaluation (and
 * calibration) text; baseline: the dense model on the evaluation windows; calibrate:
 * activation statistics; prune; quantize: rounding to packed integers (for L4Q: the RTN
 * comparison, evaluated); train-baseline: L4Q's RTN-then-LoRA baseline; train: L4Q's
 * training; merge: adapters and step sizes into packed integers; evaluate: the changed model.
 */
export type ExperimentPhase = 'download' | 'parse' | 'tokenize' | 'baseline' | 'calibrate' | 'prune' | 'quantize' | 'train-baseline' | 'train' | 'merge' | 'evaluate';

export type ProgressUnit = 'bytes' | 'windows' | 'steps';

/**
 * One progress event. A phase starts with `done` 0 and `total` null; the counts within it
 * follow (`total` is null only when unknown, e.g. a download without Content-Length).
 */
export interface ExperimentProgress {
  phase: ExperimentPhase;
  done: number;
  total: number | null;
  unit: ProgressUnit;
}

/** What a phase counts: evaluation windows, or steps (calibration samples and layers, training steps). */
export const PHASE_UNIT: Record<ExperimentPhase, ProgressUnit> = {
  download: 'bytes',
  parse: 'bytes',
  tokenize: 'windows',
  baseline: 'windows',
  calibrate: 'steps',
  prune: 'steps',
  quantize: 'windows',
  'train-baseline': 'steps',
  train: 'steps',
  merge: 'windows',
  evaluate: 'windows',
};

/** How a request reports: the events, and the signal a cancel aborts. */
export interface PhaseReporting {
  signal?: AbortSignal;
  /**
   * Counts within a phase are awaited when this returns a promise (the worker's test hooks
   * hold a job there: src/worker/test-hold.ts); phase starts are not.
   */
  onProgress?: (p: ExperimentProgress) => void | Promise<void>;
}

/** The start of phase `p`, as an event. */
export function phaseStart(p: ExperimentPhase): ExperimentProgress {
  return { phase: p, done: 0, total: null, unit: PHASE_UNIT[p] };
}

/**
 * A request's phase timer and progress reporter. `phase(p)` is where a cancelled job
 * stops (with `what` — pruning, quantization, L4Q — in the message); it reports the start
 * of `p` and returns the time it started (performance.now()), for the record's timings.
 * `progress(p)` reports counts within `p`.
 */
export function phaseReporters(req: PhaseReporting, what: string) {
  return {
    phase: (p: ExperimentPhase): number => {
      throwIfAborted(req.signal, what);
      void req.onProgress?.(phaseStart(p));
      return performance.now();
    },
    progress: (p: ExperimentPhase) => (x: { done: number; total: number }) => req.onProgress?.({ phase: p, ...x, unit: PHASE_UNIT[p] }),
  };
}

/**
 * The L4Q training job in the worker: runs runL4QExperiment with a pause gate, streams each
 * step's loss and the step/ETA progress to the page, and ends on cancel at the next step.
 * Pausing holds the job between two steps (nothing is computed while paused); cancelling a
 * paused job releases it at once.
 */
import type { Backend } from '../engine/backend/backend';
import { StudioError } from '../engine/errors';
import type { LoadedModel } from '../engine/model/load';
import { l4qOptions, runL4QExperiment, type L4QResult } from '../engine/quant/l4q-experiment';
import { checkL4QOptions } from '../engine/quant/train';
import { l4qMethodSchema, type ModelRef } from '../engine/record';
import type { L4QEvent, L4QJobRequest } from './protocol';

/** Pause state of one job: `gate()` resolves immediately unless paused. */
export class PauseGate {
  private waiting: { promise: Promise<void>; resolve: () => void } | null = null;
  /** `gate()` calls not resolved yet. */
  private waiters = 0;

  get paused(): boolean {
    return this.waiting !== null;
  }

  /** Whether the job waits at the gate now (paused and reached it: nothing is computed). */
  get parked(): boolean {
    return this.waiters > 0;
  }

  pause(): void {
    if (this.waiting) return;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.waiting = { promise, resolve };
  }

  resume(): void {
    this.waiting?.resolve();
    this.waiting = null;
  }

  gate = (): Promise<void> => {
    if (!this.waiting) return Promise.resolve();
    this.waiters++;
    return this.waiting.promise.finally(() => this.waiters--);
  };
}

export interface L4QJobContext {
  /** The model to train: the loaded one, or the last pruned one (afterPrune; engine-api.ts quantizationBase). */
  model: LoadedModel;
  modelRef: ModelRef;
  backend: Backend;
  fallbackReason?: string;
  text: string;
  calibText: string;
  signal: AbortSignal;
  gate: PauseGate;
}

export function parseL4QMethod(m: unknown) {
  const parsed = l4qMethodSchema.safeParse(m);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new StudioError('input', `L4Q settings: ${issue.path.join('.') || 'method'}: ${issue.message}`);
  }
  // Cross-field rules (warm-up ≤ steps, positive rates, …) before any work starts.
  checkL4QOptions(l4qOptions(parsed.data));
  return parsed.data;
}

/** `onEvent` may return a promise for a progress event: the job awaits it (the worker's test hold). */
export async function l4qJob(req: L4QJobRequest, ctx: L4QJobContext, onEvent: (e: L4QEvent) => void | Promise<void>): Promise<L4QResult> {
  const method = parseL4QMethod(req.method);
  const source = (d: L4QJobRequest['dataset']) => (d.kind === 'bundled' ? 'bundled' : d.source);
  // Cancelling a paused job must not wait for a resume.
  ctx.signal.addEventListener('abort', () => ctx.gate.resume());
  return runL4QExperiment({
    model: ctx.model,
    modelRef: ctx.modelRef,
    backend: ctx.backend,
    fallbackReason: ctx.fallbackReason,
    text: ctx.text,
    dataset: { name: req.dataset.name, source: source(req.dataset) },
    seqlen: req.seqlen,
    windows: req.windows,
    calibration: { text: ctx.calibText, dataset: { name: req.calibration.dataset.name, source: source(req.calibration.dataset) }, sampling: req.calibration.sampling },
    method,
    compareRtn: req.compareRtn ?? true,
    compareRtnLora: req.compareRtnLora ?? false,
    runtime: 'browser',
    signal: ctx.signal,
    gate: ctx.gate.gate,
    onProgress: (p) => onEvent({ jobId: req.jobId, ...p }),
    onStep: (s) => onEvent({ jobId: req.jobId, type: 'step', step: s.step, total: s.total, loss: s.loss, phase: s.phase, run: s.run, etaMs: s.etaMs, ms: s.ms }),
  });
}

/**
 * The job hold of the worker's test hooks (`testHold`; only in a worker started with test
 * hooks): the next job whose progress reaches an armed phase waits right after reporting it,
 * until it is released or cancelled. End-to-end tests use it to act on a job that is
 * certainly running (cancel it, reload the page, lose the GPU device, queue another run)
 * instead of racing the job's end on a fast or a loaded machine.
 */
import type { JobEvent, JobPhase, TestHoldState } from './protocol';

export class JobHold {
  private armed: TestHoldState['armed'] = null;
  private current: { at: NonNullable<TestHoldState['held']>; release: () => void } | null = null;

  /** The next job reaching `phase` with at least `done` units done is held (replaces a hold not reached yet). */
  arm(phase: JobPhase, done: number): void {
    this.armed = { phase, done };
  }

  /** Lets the held job go on; drops a hold not reached yet. */
  release(): void {
    this.armed = null;
    this.current?.release();
  }

  state(): Omit<TestHoldState, 'parked'> {
    return { armed: this.armed, held: this.current?.at ?? null };
  }

  /**
   * Called with each progress event a job reports, after the page was told: a promise the job
   * awaits when the event reaches the armed hold (resolved by `release` or the job's cancel),
   * otherwise nothing. A phase announcement (`total` null) is never held: the engine does not
   * wait on those, only on its progress reports.
   */
  reached(e: JobEvent, signal: AbortSignal): Promise<void> | undefined {
    const a = this.armed;
    if (!a || this.current || signal.aborted || e.total === null || e.phase !== a.phase || e.done < a.done) return undefined;
    this.armed = null;
    return new Promise<void>((resolve) => {
      const release = () => {
        signal.removeEventListener('abort', release);
        if (this.current?.release === release) this.current = null;
        resolve();
      };
      this.current = { at: { jobId: e.jobId, phase: e.phase, done: e.done, total: e.total }, release };
      signal.addEventListener('abort', release);
    });
  }
}

/**
 * Cancel that always works. The engine stops a cancelled job at its next window or step,
 * but a job stuck inside one synchronous call (a tokenizer regex that backtracks for hours,
 * a kernel loop) never reads its abort signal, and its worker cannot even receive the
 * cancel message. So the page's client starts a timer when it asks a job to cancel; a job
 * still running when the timer fires is ended from the outside: its call rejects as
 * cancelled and the client terminates the worker (see client.ts), which the studio replaces.
 *
 * Kept apart from client.ts (which needs a browser Worker) so that Node tests can drive it
 * with fake timers.
 */

/** How long a job may take to stop after Cancel before its worker is terminated. */
export const CANCEL_GRACE_MS = 3000;
/**
 * A job whose windows or steps are slow (a large model on a CPU backend) stops only at the
 * end of the one in progress: its grace is twice the longest gap it has shown between two
 * progress events, up to this bound, so a healthy job is not killed for being slow while a
 * job stuck inside one call (no events at all) still ends after CANCEL_GRACE_MS.
 */
export const CANCEL_GRACE_MAX_MS = 60_000;

/** The rejection of a job that did not stop in time: a cancellation, as the studio reports it. */
/** Seconds for messages, to a tenth. */
export const graceSeconds = (ms: number) => Math.round(ms / 100) / 10;

export class CancelTimeoutError extends Error {
  readonly code = 'cancelled';
  constructor(graceMs: number) {
    super(`it did not stop within ${graceSeconds(graceMs)} s of Cancel, so the engine running it was stopped`);
    this.name = 'CancelledError';
  }
}

interface Tracked {
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout> | null;
  /** When the job started or last reported progress, and the longest gap between those. */
  lastEventAt: number;
  longestGap: number;
}

export class CancelWatchdog {
  private readonly jobs = new Map<string, Tracked>();
  private readonly onExpired: (jobId: string, graceMs: number) => void;
  readonly graceMs: number;

  /** `onExpired` runs once the job's call has been rejected (end the worker there). */
  constructor(onExpired: (jobId: string, graceMs: number) => void, graceMs = CANCEL_GRACE_MS) {
    this.onExpired = onExpired;
    this.graceMs = graceMs;
  }

  /** The job's call, rejecting with CancelTimeoutError when the watchdog gives up on it. */
  track<T>(jobId: string, call: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Tracked = { reject, timer: null, lastEventAt: Date.now(), longestGap: 0 };
      this.jobs.set(jobId, entry);
      const done = () => {
        if (entry.timer !== null) clearTimeout(entry.timer);
        if (this.jobs.get(jobId) === entry) this.jobs.delete(jobId);
      };
      call.then(
        (v) => {
          done();
          resolve(v);
        },
        (e: unknown) => {
          done();
          reject(e);
        },
      );
    });
  }

  /** The job reported progress (its worker is working through windows or steps). */
  progress(jobId: string): void {
    const entry = this.jobs.get(jobId);
    if (!entry) return;
    const now = Date.now();
    entry.longestGap = Math.max(entry.longestGap, now - entry.lastEventAt);
    entry.lastEventAt = now;
  }

  /** The grace `jobId` gets after Cancel (see CANCEL_GRACE_MAX_MS). */
  graceFor(jobId: string): number {
    const gap = this.jobs.get(jobId)?.longestGap ?? 0;
    return Math.min(Math.max(this.graceMs, 2 * gap), Math.max(this.graceMs, CANCEL_GRACE_MAX_MS));
  }

  /** Cancel was asked for `jobId`: if it is still running after its grace period, it is ended. */
  cancelled(jobId: string): void {
    const entry = this.jobs.get(jobId);
    if (!entry || entry.timer !== null) return;
    const grace = this.graceFor(jobId);
    entry.timer = setTimeout(() => {
      if (this.jobs.get(jobId) !== entry) return;
      this.jobs.delete(jobId);
      entry.reject(new CancelTimeoutError(grace));
      this.onExpired(jobId, grace);
    }, grace);
  }

  /** Whether a job is running (tracked and not settled). */
  running(jobId: string): boolean {
    return this.jobs.has(jobId);
  }

  /** Stops every timer (the worker is gone for another reason). */
  dispose(): void {
    for (const e of this.jobs.values()) if (e.timer !== null) clearTimeout(e.timer);
    this.jobs.clear();
  }
}

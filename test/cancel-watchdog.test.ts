/**
 * The cancel watchdog: a job that does not stop within CANCEL_GRACE_MS of Cancel (a worker
 * stuck in one synchronous call answers no message) is rejected as cancelled and its
 * worker terminated, so that the studio can start a new one. Driven with fake timers, and
 * through the real client over a fake Worker that never answers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CANCEL_GRACE_MAX_MS, CANCEL_GRACE_MS, CancelTimeoutError, CancelWatchdog } from '../src/worker/cancel-watchdog';
import { createStudioClient, WorkerCrashedError } from '../src/worker/client';

beforeEach(() => vi.useFakeTimers());
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

const never = () => new Promise<never>(() => {});

describe('CancelWatchdog', () => {
  it('gives a cancelled job the grace period, then rejects it as cancelled and reports it once', async () => {
    expect(CANCEL_GRACE_MS).toBe(3000);
    const expired: string[] = [];
    const w = new CancelWatchdog((id) => expired.push(id));
    const job = w.track('job-1', never());
    const outcome = job.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    w.cancelled('job-1');
    w.cancelled('job-1'); // a second click does not restart the clock
    await vi.advanceTimersByTimeAsync(CANCEL_GRACE_MS - 1);
    expect(expired).toEqual([]);
    expect(w.running('job-1')).toBe(true);
    await vi.advanceTimersByTimeAsync(1);
    const e = await outcome;
    expect(e).toBeInstanceOf(CancelTimeoutError);
    expect((e as Error).name).toBe('CancelledError');
    expect((e as { code: string }).code).toBe('cancelled');
    expect((e as Error).message).toBe('it did not stop within 3 s of Cancel, so the engine running it was stopped');
    expect(expired).toEqual(['job-1']);
    expect(w.running('job-1')).toBe(false);
  });

  it('leaves alone a job that stops in time, one never cancelled, and unknown ids', async () => {
    const expired: string[] = [];
    const w = new CancelWatchdog((id) => expired.push(id));
    let stop!: (v: string) => void;
    const job = w.track('a', new Promise<string>((r) => (stop = r)));
    const other = w.track('b', never());
    w.cancelled('a');
    w.cancelled('nope');
    await vi.advanceTimersByTimeAsync(1000);
    stop('stopped');
    expect(await job).toBe('stopped');
    await vi.advanceTimersByTimeAsync(10 * CANCEL_GRACE_MS);
    expect(expired).toEqual([]);
    expect(w.running('b')).toBe(true);
    void other;
  });
});

/** A Worker that receives messages and never answers (a thread stuck in a busy loop). */
class StuckWorker extends EventTarget {
  static last: StuckWorker | null = null;
  terminated = false;
  constructor() {
    super();
    StuckWorker.last = this;
  }
  postMessage(): void {}
  terminate(): void {
    this.terminated = true;
  }
}

describe('the client over a stuck worker', () => {
  it('terminates the worker 3 s after Cancel: the job ends as cancelled, other calls fail, onCrash says why', async () => {
    vi.stubGlobal('Worker', StuckWorker);
    const crashes: WorkerCrashedError[] = [];
    const client = createStudioClient({ onCrash: (e) => crashes.push(e) });
    const job = client.evaluate({ jobId: 'eval-1', dataset: { kind: 'bundled', name: 'tinystories' }, datasetsUrl: '/', seqlen: 64, windows: '0:1', backend: 'cpu' }, () => {});
    const outcome = job.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    const other = client.setBackend('cpu').then(
      () => 'resolved',
      (e: unknown) => e,
    );
    const cancel = client.cancel('eval-1');
    await vi.advanceTimersByTimeAsync(CANCEL_GRACE_MS - 10);
    expect(StuckWorker.last!.terminated).toBe(false);
    await vi.advanceTimersByTimeAsync(10);
    const e = (await outcome) as Error;
    expect(e.name).toBe('CancelledError');
    expect(e.message).toMatch(/did not stop within 3 s of Cancel/);
    expect(StuckWorker.last!.terminated).toBe(true);
    expect(crashes).toHaveLength(1);
    expect(crashes[0]!.reason).toBe('unresponsive');
    expect(crashes[0]!.message).toBe('the engine worker stopped: a cancelled job did not stop within 3 s, so the engine was terminated');
    expect(await other).toBeInstanceOf(WorkerCrashedError);
    // The cancel call itself settles quietly: the job it asked about has ended.
    await expect(cancel).resolves.toBeUndefined();
  });
});

describe('a slow but healthy job', () => {
  it('gets twice its longest gap between progress events (bounded), a job with none the base grace', async () => {
    const expired: [string, number][] = [];
    const w = new CancelWatchdog((id, grace) => expired.push([id, grace]));
    const slow = w.track('slow', never());
    slow.catch(() => {});
    // Windows of 8 s each: Cancel mid-window must wait for the window to end, not kill it.
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(8000);
      w.progress('slow');
    }
    expect(w.graceFor('slow')).toBe(16_000);
    w.cancelled('slow');
    await vi.advanceTimersByTimeAsync(15_999);
    expect(expired).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(expired).toEqual([['slow', 16_000]]);
    await expect(slow).rejects.toThrow('did not stop within 16 s of Cancel');

    const stuck = w.track('stuck', never());
    stuck.catch(() => {});
    w.progress('stuck'); // an event right at the start, then nothing: stuck inside one call
    expect(w.graceFor('stuck')).toBe(CANCEL_GRACE_MS);

    const glacial = w.track('glacial', never());
    glacial.catch(() => {});
    await vi.advanceTimersByTimeAsync(10 * CANCEL_GRACE_MAX_MS);
    w.progress('glacial');
    expect(w.graceFor('glacial')).toBe(CANCEL_GRACE_MAX_MS);
  });
});

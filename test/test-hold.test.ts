/**
 * The worker's job hold (testHold, test hooks only), through the engine API on the CPU: a
 * job whose progress reaches the armed phase waits there until released or cancelled, so
 * the e2e tests act on a job that is certainly running; L4Q reports when a paused job waits
 * at its gate; without test hooks the hold is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StudioError } from '../src/engine/errors';
import type { L4QMethod } from '../src/engine/record';
import { createEngineApi, type EngineApi } from '../src/worker/engine-api';
import type { EvaluateRequest, JobEvent, TestHoldState } from '../src/worker/protocol';
import { loadBundled, PASTED_STORY, servePublic, storyPruneJob, type PublicServer } from './support/served-engine';

let server: PublicServer;
let api: EngineApi;

beforeAll(async () => {
  server = await servePublic();
  api = createEngineApi(() => undefined, { testHooks: true });
  await loadBundled(api, server.base);
});

afterAll(() => server.close());

const evaluation = (jobId: string, windows = '0:4'): EvaluateRequest => ({ jobId, dataset: PASTED_STORY, datasetsUrl: `${server.base}datasets/`, seqlen: 64, windows, backend: 'cpu' });

/** Resolves with the state once `ok` holds for it (the job reached the hold); polls the worker API. */
async function until(ok: (s: TestHoldState) => boolean): Promise<TestHoldState> {
  for (let i = 0; i < 2000; i++) {
    const s = api.testHold({});
    if (ok(s)) return s;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`hold state never matched: ${JSON.stringify(api.testHold({}))}`);
}

const settled = <T>(p: Promise<T>) => p.then(
  (v) => ({ ok: true as const, v }),
  (e: unknown) => ({ ok: false as const, e }),
);

describe('testHold', () => {
  it('holds an evaluation after its first window until released; then it finishes with the same numbers', async () => {
    const free = await api.evaluate(evaluation('free'), () => {});
    expect(api.testHold({ hold: { phase: 'evaluate', done: 1 } }).armed).toEqual({ phase: 'evaluate', done: 1 });
    const events: JobEvent[] = [];
    const job = settled(api.evaluate(evaluation('held'), (e) => events.push(e)));
    const s = await until((x) => x.held !== null);
    expect(s).toEqual({ armed: null, held: { jobId: 'held', phase: 'evaluate', done: 1, total: 4 }, parked: [] });
    // Held: the page was told of window 1, and nothing after it comes while held.
    await new Promise((r) => setTimeout(r, 50));
    expect(events.filter((e) => e.total !== null).map((e) => e.done)).toEqual([0, 1]);
    expect(api.testHold({ release: true }).held).toBeNull();
    const r = await job;
    expect(r.ok && r.v.meanNll).toBe(free.meanNll);
    expect(events.filter((e) => e.total !== null).map((e) => e.done)).toEqual([0, 1, 2, 3, 4]);
  });

  it('a held job that is cancelled ends at once as cancelled; the hold is gone', async () => {
    api.testHold({ hold: { phase: 'evaluate', done: 1 } });
    const job = settled(api.evaluate(evaluation('cancel-me'), () => {}));
    await until((x) => x.held?.jobId === 'cancel-me');
    api.cancel('cancel-me');
    const r = await job;
    expect(r.ok).toBe(false);
    expect(!r.ok && r.e instanceof StudioError && r.e.code).toBe('cancelled');
    expect(api.testHold({})).toEqual({ armed: null, held: null, parked: [] });
    // The next job is not held.
    await expect(api.evaluate(evaluation('after', '0:1'), () => {})).resolves.toMatchObject({ scoredTokens: 63 });
  });

  it('holds a prune job in calibration; phase announcements are never held', async () => {
    // A hold at done 0 matches the first calibration progress, not the phase change before it.
    api.testHold({ hold: { phase: 'calibrate', done: 0 } });
    const job = settled(api.prune(storyPruneJob(server.base, 'wanda-held', { name: 'wanda', sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false }), () => {}));
    const s = await until((x) => x.held !== null);
    expect(s.held).toMatchObject({ jobId: 'wanda-held', phase: 'calibrate', done: 0 });
    expect(s.held!.total).toBeGreaterThan(0);
    api.cancel('wanda-held');
    const r = await job;
    expect(!r.ok && (r.e as StudioError).code).toBe('cancelled');
  });

  it('release drops a hold no job reached; a new hold replaces the armed one', () => {
    api.testHold({ hold: { phase: 'evaluate', done: 3 } });
    expect(api.testHold({ hold: { phase: 'train', done: 2 } }).armed).toEqual({ phase: 'train', done: 2 });
    expect(api.testHold({ release: true }).armed).toBeNull();
  });

  it('an L4Q job paused at a held step waits at its pause gate (parked) until resumed', async () => {
    const method: L4QMethod = { name: 'l4q', bits: 3, groupSize: 32, symmetric: false, rank: 2, alpha: 4, steps: 4, warmup: 1, lr: 1e-3, lrQuant: 1e-4, batch: 1, seed: 3, init: 'l4q', gradScale: null };
    api.testHold({ hold: { phase: 'train', done: 1 } });
    const steps: number[] = [];
    const job = settled(
      api.l4q(
        { jobId: 'l4q-held', method, dataset: PASTED_STORY, datasetsUrl: `${server.base}datasets/`, seqlen: 64, windows: '0:1', calibration: { dataset: PASTED_STORY, sampling: { samples: 2, seqlen: 24, offset: 0, seed: null } }, compareRtn: false, backend: 'cpu' },
        (e) => {
          if ('type' in e) steps.push(e.step);
        },
      ),
    );
    await until((x) => x.held?.jobId === 'l4q-held');
    api.pause('l4q-held');
    expect(api.testHold({}).parked).toEqual([]);
    api.testHold({ release: true });
    await until((x) => x.parked.includes('l4q-held'));
    expect(steps).toEqual([0]);
    api.resume('l4q-held');
    const r = await job;
    expect(r.ok).toBe(true);
    expect(steps).toEqual([0, 1, 2, 3]);
    expect(api.testHold({}).parked).toEqual([]);
  }, 60_000);

  it('is refused without test hooks', () => {
    const plain = createEngineApi(() => undefined);
    expect(() => plain.testHold({ hold: { phase: 'evaluate' } })).toThrow(/test hooks are disabled/);
  });

  it('no job waits on its event callback (the page\'s Comlink callback returns a promise of its reply)', async () => {
    const plain = createEngineApi(() => undefined);
    await loadBundled(plain, server.base);
    // A callback whose promise never settles, as a page that stopped answering.
    const never = (() => new Promise<void>(() => {})) as unknown as (e: JobEvent) => void;
    for (const a of [plain, api]) {
      await expect(a.evaluate(evaluation('no-wait', '0:2'), never)).resolves.toMatchObject({ scoredTokens: 126 });
      const pruned = await a.prune(storyPruneJob(server.base, 'no-wait-prune', { name: 'wanda', sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false }), never);
      expect(pruned.method.name).toBe('wanda');
      const inspected = await a.inspectLayer(
        { jobId: 'no-wait-inspect', method: { name: 'wanda', sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false }, layer: 1, matrix: 'up', calibration: { dataset: PASTED_STORY, sampling: { samples: 2, seqlen: 32, offset: 0, seed: null } }, datasetsUrl: `${server.base}datasets/`, backend: 'cpu' },
        never,
      );
      expect(inspected.layer).toBe(1);
    }
  });
});

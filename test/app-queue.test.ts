/**
 * The studio's run queue (src/app/store.ts) against a fake engine client: runs start one
 * after another in order, cancelling the running one starts the next, a queued one can be
 * removed before it starts, a failure does not stop the queue; share links open into the
 * store or leave it empty with the reason.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseExperimentRecord, type ExperimentRecord, type MethodSpec } from '../src/engine/record';
import { encodeShareHash, shareDocument } from '../src/engine/share-link';
import type { StudioClient } from '../src/worker/client';
import type { ModelSummary, PruneJobRequest } from '../src/worker/protocol';

const records: ExperimentRecord[] = (JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'share-records.json'), 'utf8')) as unknown[]).map(parseExperimentRecord);
const template = records[0]!;

type Store = typeof import('../src/app/store');
let store: Store;

beforeAll(async () => {
  // The store resolves bundled paths against the page; Node has no document.
  (globalThis as { document?: unknown }).document ??= { baseURI: 'http://studio.test/' };
  store = await import('../src/app/store');
});

interface Pending {
  req: PruneJobRequest;
  resolve(r: ExperimentRecord): void;
  reject(e: Error): void;
}

function fakeClient() {
  const pending: Pending[] = [];
  const started: string[] = [];
  const client = {
    prune: (req: PruneJobRequest) =>
      new Promise<ExperimentRecord>((resolve, reject) => {
        started.push(req.jobId);
        pending.push({ req, resolve, reject });
      }),
    cancel: async (jobId: string) => {
      const p = pending.find((x) => x.req.jobId === jobId);
      const e = new Error('prune job was cancelled');
      e.name = 'CancelledError';
      p?.reject(e);
    },
  } as unknown as StudioClient;
  return { client, pending, started };
}

const model = { ref: template.model, maxPositionEmbeddings: 512, headDim: 8, weightBytes: 1, loadMs: 1, backend: template.backend } as unknown as ModelSummary;

function method(sparsity: number): Exclude<MethodSpec, { name: 'dense' }> {
  return { name: 'magnitude', sparsity, pattern: 'unstructured', granularity: 'matrix' };
}

const calibration = { dataset: 'tinystories' as const, sampling: { samples: 4, seqlen: 64, offset: 0, seed: null } };
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('run queue', () => {
  let fake: ReturnType<typeof fakeClient>;
  beforeEach(() => {
    fake = fakeClient();
    store.useStudio.setState({ client: fake.client, model, job: null, queue: [], results: [], notices: [], historyStatus: 'memory', windows: '0:1', seqlenText: '128', dataSource: 'tinystories', shared: null, shareError: null });
  });

  it('runs queued jobs one after another, in order', async () => {
    const s = store.useStudio.getState();
    const done = s.sweep([method(0.1), method(0.2), method(0.3)], calibration);
    await tick();
    expect(fake.started).toHaveLength(1);
    expect(store.useStudio.getState().queue.map((q) => q.label)).toEqual(['Magnitude 20% unstructured · tinystories 0:1', 'Magnitude 30% unstructured · tinystories 0:1']);
    expect(store.useStudio.getState().job?.label).toBe('Magnitude 10% unstructured · tinystories 0:1');
    for (let i = 0; i < 3; i++) {
      expect(fake.pending[i]!.req.method).toEqual(method([0.1, 0.2, 0.3][i]!));
      expect(fake.pending[i]!.req.seqlen).toBe(128);
      expect(fake.pending[i]!.req.windows).toBe('0:1');
      fake.pending[i]!.resolve({ ...template, id: `r${i}` });
      await tick();
      await tick();
    }
    await done;
    expect(store.useStudio.getState().results.map((r) => r.id)).toEqual(['r2', 'r1', 'r0']);
    expect(store.useStudio.getState().job).toBeNull();
  });

  it('cancel stops the running job and the next one runs; a queued job can be removed', async () => {
    const s = store.useStudio.getState();
    void s.sweep([method(0.1), method(0.2), method(0.3)], calibration);
    await tick();
    const [, second, third] = [store.useStudio.getState().job!, ...store.useStudio.getState().queue];
    await s.cancelRun(third!.id); // removed before it starts
    await s.cancelRun(store.useStudio.getState().job!.id);
    await tick();
    await tick();
    expect(store.useStudio.getState().notices.map((n) => n.title)).toContain('Pruning cancelled');
    expect(store.useStudio.getState().job?.id).toBe(second!.id);
    expect(fake.started).toEqual([fake.started[0], second!.id]);
    fake.pending[1]!.reject(new Error('out of memory'));
    await tick();
    await tick();
    expect(store.useStudio.getState().notices.map((n) => n.title)).toContain('Pruning failed');
    expect(store.useStudio.getState().job).toBeNull();
    expect(store.useStudio.getState().queue).toEqual([]);
    expect(fake.started).toHaveLength(2);
  });

  it('opens a share link, or keeps the studio empty and says why', () => {
    const s = store.useStudio.getState();
    s.openShareLink(encodeShareHash(shareDocument('sweep', records.slice(0, 5))));
    expect(store.useStudio.getState().shared?.doc.results).toHaveLength(5);
    expect(store.rerunProblem(store.useStudio.getState().shared!.doc, model)).toBeNull();
    s.openShareLink('#pq1=broken');
    expect(store.useStudio.getState().shared).toBeNull();
    expect(store.useStudio.getState().shareError).toMatch(/^Share link: /);
  });

  it('re-running a shared sweep queues its runs with the link\'s protocol', async () => {
    const s = store.useStudio.getState();
    s.openShareLink(encodeShareHash(shareDocument('sweep', records.slice(0, 3))));
    store.useStudio.getState().rerunShared();
    await tick();
    expect(fake.pending[0]!.req.seqlen).toBe(512);
    expect(fake.pending[0]!.req.windows).toBe('0:4');
    expect(fake.pending[0]!.req.method).toEqual(records[0]!.method);
    expect(fake.pending[0]!.req.calibration.sampling).toEqual({ samples: 64, seqlen: 128, offset: 200000, seed: null });
    expect(store.useStudio.getState().queue).toHaveLength(2);
  });

  it('a link to a Hub model that is not loaded says so instead of running', () => {
    const hub = records.slice(0, 1).map((r) => ({ ...r, model: { ...r.model, id: 'HuggingFaceTB/SmolLM2-135M', source: 'hub' as const } }));
    const doc = shareDocument('hub', hub);
    expect(store.rerunProblem(doc, model)).toMatch(/Hub model HuggingFaceTB\/SmolLM2-135M.*Load HuggingFaceTB\/SmolLM2-135M first/);
  });
});

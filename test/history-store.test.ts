/**
 * The store's history paths (src/app/store.ts) against a fake history module (Node has no
 * IndexedDB; the real database, the BroadcastChannel between two tabs and beforeunload are
 * covered in e2e/history-guard.spec.ts): a save refused for quota keeps the run visible
 * and offers export and clearing the Hub cache; records are validated before they are
 * saved; an import reusing ids asks first; a history file over the cap is refused before
 * it is read; another tab's clear/remove/save updates this page; over-limit runs are
 * refused before they are queued; a large re-run asks with its numbers first.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseExperimentRecord, recordForSaving, type ExperimentRecord, type L4QMethod } from '../src/engine/record';
import { shareDocument } from '../src/engine/share-link';
import type { StudioClient } from '../src/worker/client';
import type { ModelSummary } from '../src/worker/protocol';

const records: ExperimentRecord[] = (JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'share-records.json'), 'utf8')) as unknown[]).map(parseExperimentRecord);
const template = records[0]!;

/** What the fake database holds, and what the store asked of it. */
const db = vi.hoisted(() => ({ stored: new Map<string, unknown>(), quotaFull: false, saveCalls: [] as string[][] }));

vi.mock('../src/app/history', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/app/history')>();
  const put = async (rs: ExperimentRecord[]) => {
    // The real module validates before it writes: keep that, so the store sees its errors.
    const fitted = rs.map(recordForSaving);
    db.saveCalls.push(fitted.map((r) => r.id));
    if (db.quotaFull) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    for (const r of fitted) db.stored.set(r.id, r);
  };
  return {
    ...real,
    save: (r: ExperimentRecord) => put([r]),
    saveMany: (rs: ExperimentRecord[]) => put(rs),
    remove: async (id: string) => void db.stored.delete(id),
    clear: async () => db.stored.clear(),
    existingIds: async (ids: string[]) => ids.filter((id) => db.stored.has(id)),
    getMany: async (ids: string[]) => real.validateEntries(ids.map((id) => db.stored.get(id)).filter((x) => x !== undefined)).records,
    loadAll: async () => {
      const b = real.validateEntries([...db.stored.values()]);
      return { records: real.newestFirst(b.records), skipped: b.skipped };
    },
    requestPersistence: async () => true,
  };
});

type Store = typeof import('../src/app/store');
let store: Store;

beforeAll(async () => {
  (globalThis as { document?: unknown }).document ??= { baseURI: 'http://studio.test/' };
  store = await import('../src/app/store');
});

const model = { ref: template.model, maxPositionEmbeddings: 512, headDim: 8, weightBytes: 1, loadMs: 1, backend: template.backend } as unknown as ModelSummary;
const tick = () => new Promise((r) => setTimeout(r, 0));
const L4Q: L4QMethod = { name: 'l4q', bits: 4, groupSize: 32, symmetric: false, rank: 8, alpha: 16, steps: 100, warmup: 10, lr: 1e-3, lrQuant: 1e-3, batch: 4, seed: 0, init: 'l4q', gradScale: null };

/** A client whose every run finishes at once with this record. */
function clientReturning(record: ExperimentRecord, calls: string[] = []): StudioClient {
  const run = async (req: { jobId: string }) => {
    calls.push(req.jobId);
    return record;
  };
  return { evaluate: run, prune: run, quantize: run, l4q: run, clearHubCache: async () => ({ entries: 0, bytes: 0 }) } as unknown as StudioClient;
}

function reset(client: StudioClient) {
  db.stored.clear();
  db.quotaFull = false;
  db.saveCalls.length = 0;
  store.useStudio.setState({ client, model, job: null, queue: [], results: [], notices: [], historyStatus: 'saved', unsaved: [], pendingImport: null, windows: '0:4', seqlenText: '512', dataSource: 'tinystories', shared: null, shareError: null });
}

const notices = () => store.useStudio.getState().notices;

describe('saving runs', () => {
  beforeEach(() => reset(clientReturning(template)));

  it('a quota error keeps the run visible and offers export and clearing the Hub cache; clearing saves it', async () => {
    db.quotaFull = true;
    await store.useStudio.getState().evaluate();
    await tick();
    const s = store.useStudio.getState();
    expect(s.results.map((r) => r.id)).toEqual([template.id]);
    expect(s.unsaved).toEqual([template.id]);
    expect(notices()).toHaveLength(1);
    expect(notices()[0]).toMatchObject({ kind: 'error', title: 'Storage is full: not saved', actions: ['export-history', 'clear-hub-cache'] });
    expect(notices()[0]!.message).toMatch(/shared with the Hub model cache/);
    // Export holds the unsaved run too.
    expect(JSON.parse(await s.exportHistory()).records.map((r: ExperimentRecord) => r.id)).toEqual([template.id]);
    // After the Hub cache is cleared, the unsaved runs are saved.
    db.quotaFull = false;
    await store.useStudio.getState().clearHubCache();
    await store.useStudio.getState().saveUnsaved();
    expect(store.useStudio.getState().unsaved).toEqual([]);
    expect(db.stored.has(template.id)).toBe(true);
  });

  it('saves a run whose fallback message is over the schema maximum, cut to it', async () => {
    reset(clientReturning({ ...template, id: 'long-msg', backend: { ...template.backend, fallbackReason: 'why '.repeat(400) } }));
    await store.useStudio.getState().evaluate();
    await tick();
    expect(notices()).toEqual([]);
    expect((db.stored.get('long-msg') as ExperimentRecord).backend.fallbackReason).toHaveLength(500);
    // What was saved reads back.
    expect((await import('../src/app/history')).validateEntries([db.stored.get('long-msg')]).skipped).toBe(0);
  });

  it('a record the schema would refuse is not saved silently: the notice names the problem, the run stays shown', async () => {
    const bad = { ...template, id: 'bad-1', windowMeanNll: [...template.windowMeanNll, 1] };
    reset(clientReturning(bad));
    await store.useStudio.getState().evaluate();
    await tick();
    expect(db.stored.has('bad-1')).toBe(false);
    expect(store.useStudio.getState().results.map((r) => r.id)).toEqual(['bad-1']);
    expect(notices()[0]).toMatchObject({ title: 'Result not saved' });
    expect(notices()[0]!.message).toMatch(/windowMeanNll: 5 per-window values for 4 windows/);
  });
});

describe('refusing over-limit runs before they are queued', () => {
  it('names the limit (windows, L4Q steps, training windows) and queues nothing', async () => {
    const calls: string[] = [];
    reset(clientReturning(template, calls));
    store.useStudio.setState({ windows: '0:100001', seqlenText: '2' });
    await store.useStudio.getState().evaluate();
    expect(notices().at(-1)).toMatchObject({ title: 'Run over the limits' });
    expect(notices().at(-1)!.message).toMatch(/over the limit of 100000 per run/);
    store.useStudio.setState({ windows: '0:4', seqlenText: '512' });
    await store.useStudio.getState().trainL4Q({ ...L4Q, steps: 100_001, warmup: 0 }, { dataset: 'tinystories', sampling: { samples: 16, seqlen: 512, offset: 0, seed: null } });
    expect(notices().at(-1)!.message).toBe('L4Q: 100001 steps is over the limit of 100000.');
    await store.useStudio.getState().trainL4Q(L4Q, { dataset: 'tinystories', sampling: { samples: 100_001, seqlen: 512, offset: 0, seed: null } });
    expect(notices().at(-1)!.message).toMatch(/^L4Q training windows: 100001 samples is over the limit of 100000/);
    expect(calls).toEqual([]);
    expect(store.useStudio.getState().queue).toEqual([]);
  });

  it('a large re-run asks with its numbers first; declined, nothing is queued; confirmed, it runs', async () => {
    const calls: string[] = [];
    reset(clientReturning(template, calls));
    const doc = shareDocument('big', [template]);
    doc.experiment.runs = [{ method: { ...L4Q, steps: 100_000, batch: 64 }, calibration: { dataset: 'tinystories', samples: 64, seqlen: 512, offset: 0, seed: null } }];
    store.useStudio.setState({ shared: { doc, rerunQueued: false } });
    store.useStudio.getState().rerunShared();
    const work = store.useStudio.getState().shared!.confirmWork!;
    expect(work.large).toBe(true);
    expect(work.lines[0]).toMatch(/^l4q: 100,000 steps × 64 windows × 512 tokens/);
    expect(store.useStudio.getState().queue).toEqual([]);
    store.useStudio.getState().declineRerun();
    expect(store.useStudio.getState().shared!.confirmWork).toBeUndefined();
    expect(calls).toEqual([]);
    store.useStudio.getState().rerunShared({ confirmed: true });
    await tick();
    expect(calls).toHaveLength(1);
    expect(store.useStudio.getState().shared!.rerunQueued).toBe(true);
  });

  it('refuses a re-run over the hard limit, with the numbers', () => {
    reset(clientReturning(template));
    const doc = shareDocument('huge', [template]);
    doc.experiment.runs = Array.from({ length: 8 }, () => ({ method: { ...L4Q, steps: 100_000, batch: 4096 }, calibration: { dataset: 'tinystories', samples: 64, seqlen: 512, offset: 0, seed: null } }));
    expect(store.rerunProblem(doc, model)).toMatch(/over the 20,000,000,000 a re-run may queue/);
  });
});

describe('importing history', () => {
  beforeEach(() => reset(clientReturning(template)));
  const file = (recs: unknown[]) => JSON.stringify({ schema: 'pq-studio/history', version: 1, records: recs });

  it('asks before replacing runs whose ids are in the history (another tab may have saved them)', async () => {
    db.stored.set(records[1]!.id, records[1]);
    await store.useStudio.getState().importHistory(file([records[1], records[2]]), 'h.json');
    const pending = store.useStudio.getState().pendingImport!;
    expect(pending.existing).toEqual([records[1]!.id]);
    expect(db.saveCalls).toEqual([]);
    await store.useStudio.getState().resolveImport('new-only');
    expect(db.saveCalls).toEqual([[records[2]!.id]]);
    await store.useStudio.getState().importHistory(file([records[1], records[2]]), 'h.json');
    expect(store.useStudio.getState().pendingImport!.existing).toHaveLength(2);
    await store.useStudio.getState().resolveImport('replace');
    expect([...db.saveCalls.at(-1)!].sort()).toEqual([records[1]!.id, records[2]!.id].sort());
    expect(notices().at(-1)!.message).toMatch(/2 existing runs were replaced/);
    await store.useStudio.getState().importHistory(file([records[1]]), 'h.json');
    await store.useStudio.getState().resolveImport('cancel');
    expect(db.saveCalls).toHaveLength(2);
  });

  it('refuses a file over the size cap before reading it', async () => {
    const text = vi.fn(async () => '{}');
    await store.useStudio.getState().importHistoryFile({ name: 'big.json', size: 17 * 1024 * 1024, text } as unknown as File);
    expect(text).not.toHaveBeenCalled();
    expect(notices().at(-1)).toMatchObject({ title: 'Could not import big.json' });
    expect(notices().at(-1)!.message).toMatch(/17\.0 MiB; the studio imports history files up to 16 MiB/);
  });
});

describe('another tab', () => {
  beforeEach(() => reset(clientReturning(template)));

  it("follows another tab's save, remove and clear; a clear says so; unsaved runs stay", async () => {
    store.useStudio.setState({ results: [records[0]!, records[1]!, records[3]!], unsaved: [records[3]!.id] });
    db.stored.set(records[2]!.id, records[2]);
    store.useStudio.getState().applyHistoryChange({ type: 'saved', ids: [records[2]!.id] });
    await tick();
    expect(store.useStudio.getState().results.map((r) => r.id)).toContain(records[2]!.id);
    store.useStudio.getState().applyHistoryChange({ type: 'removed', ids: [records[1]!.id] });
    expect(store.useStudio.getState().results.map((r) => r.id)).not.toContain(records[1]!.id);
    expect(notices()).toEqual([]);
    store.useStudio.getState().applyHistoryChange({ type: 'cleared' });
    expect(store.useStudio.getState().results.map((r) => r.id)).toEqual([records[3]!.id]);
    expect(notices()[0]).toMatchObject({ title: 'History cleared in another tab' });
    expect(notices()[0]!.message).toMatch(/its 2 runs were removed from this page too/);
  });
});

describe('leaving the page', () => {
  it('asks while runs are queued or running, not during a model load or when idle', () => {
    const job = (kind: 'load' | 'evaluate') => ({ kind }) as never;
    expect(store.runsPending({ job: null, queue: [] })).toBe(false);
    expect(store.runsPending({ job: job('load'), queue: [] })).toBe(false);
    expect(store.runsPending({ job: job('evaluate'), queue: [] })).toBe(true);
    expect(store.runsPending({ job: null, queue: [{} as never] })).toBe(true);
  });
});

describe('persistent storage', () => {
  it('asks navigator.storage.persist() once it is not persisted yet', async () => {
    const real = await vi.importActual<typeof import('../src/app/history')>('../src/app/history');
    const persist = vi.fn(async () => true);
    const persisted = vi.fn(async () => false);
    vi.stubGlobal('navigator', { storage: { persist, persisted } });
    try {
      expect(await real.requestPersistence()).toBe(true);
      expect(persist).toHaveBeenCalledTimes(1);
      persisted.mockResolvedValue(true);
      expect(await real.requestPersistence()).toBe(true);
      expect(persist).toHaveBeenCalledTimes(1);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});

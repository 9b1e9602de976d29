/**
 * The worker's engine API driven from Node, against the bundled files served over HTTP on
 * 127.0.0.1 (as the page serves them): load, evaluate, prune with before/after numbers,
 * cancellation, and a failed load keeping the earlier model.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExperimentRecord } from '../src/engine/record';
import { createEngineApi, type EngineApi } from '../src/worker/engine-api';
import type { JobEvent } from '../src/worker/protocol';
import { REPO_ROOT } from './support/paths';

const PUBLIC = path.join(REPO_ROOT, 'public');
let server: Server;
let base = '';
let api: EngineApi;

beforeAll(async () => {
  server = createServer((req, res) => {
    const file = path.join(PUBLIC, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!file.startsWith(PUBLIC) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
  api = createEngineApi(() => undefined);
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

const paste = { kind: 'text' as const, name: 'story', source: 'paste' as const, text: 'Once upon a time, there was a little girl named Lily. She liked to play with her red ball in the park.\n'.repeat(60) };

describe('engine API (worker)', () => {
  it('loads the bundled model over HTTP and reports download progress', async () => {
    const events: JobEvent[] = [];
    const s = await api.loadModel({ jobId: 'load-1', id: 'stories260K', url: `${base}models/stories260K/`, source: 'bundled', backend: 'auto' }, (e) => events.push(e));
    expect(s.ref.parameters).toBe(260032);
    expect(s.backend.name).toBe('cpu');
    expect(s.fallbackReason).toMatch(/WebGPU is not available/);
    expect(events.some((e) => e.phase === 'download' && e.unit === 'bytes' && e.done === e.total)).toBe(true);
  });

  it('keeps the earlier model when a load fails', async () => {
    await expect(api.loadModel({ jobId: 'load-2', id: 'missing', url: `${base}models/missing/`, source: 'local', backend: 'cpu' }, () => {})).rejects.toThrow(
      /config\.json: not found \(HTTP 404\)/,
    );
    const r = await api.evaluate({ jobId: 'ev-1', dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 64, windows: '0:1', backend: 'cpu' }, () => {});
    expect(r.model.id).toBe('stories260K');
  });

  it('prunes with Wanda and returns before/after on the same windows', async () => {
    const phases = new Set<string>();
    const r = await api.prune(
      {
        jobId: 'prune-1',
        method: { name: 'wanda', sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false },
        dataset: paste,
        datasetsUrl: `${base}datasets/`,
        seqlen: 64,
        windows: '0:2',
        calibration: { dataset: paste, sampling: { samples: 4, seqlen: 32, offset: 10, seed: null } },
        backend: 'cpu',
      },
      (e) => phases.add(e.phase),
    );
    const rec = parseExperimentRecord(JSON.parse(JSON.stringify(r)));
    expect(rec.method.name).toBe('wanda');
    expect(rec.baseline).toBeDefined();
    expect(rec.baseline!.scoredTokens).toBe(rec.scoredTokens);
    expect(rec.ppl).toBeGreaterThan(rec.baseline!.ppl);
    expect(rec.sparsity?.kind).toBe('zeros');
    expect(rec.sparsity?.achieved).toBeCloseTo(0.5, 2);
    // Sequential Wanda prunes each layer inside its calibration pass.
    expect([...phases]).toEqual(expect.arrayContaining(['baseline', 'calibrate', 'evaluate']));
    expect(api.lastCompressed()?.recordId).toBe(rec.id);
  });

  it('refuses method settings that do not fit the schema', async () => {
    const bad = { name: 'wanda', sparsity: 1.5, pattern: 'unstructured', mode: 'sequential', variant: false } as const;
    await expect(
      api.prune(
        { jobId: 'prune-bad', method: bad, dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 64, windows: '0:1', calibration: { dataset: paste, sampling: { samples: 2, seqlen: 32, offset: 0, seed: null } }, backend: 'cpu' },
        () => {},
      ),
    ).rejects.toThrow(/method settings: sparsity/);
  });

  it('cancels a prune job', async () => {
    const run = api.prune(
      {
        jobId: 'prune-2',
        method: { name: 'wanda', sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false },
        dataset: paste,
        datasetsUrl: `${base}datasets/`,
        seqlen: 64,
        windows: '0:4',
        calibration: { dataset: paste, sampling: { samples: 8, seqlen: 64, offset: 0, seed: null } },
        backend: 'cpu',
      },
      (e) => {
        if (e.phase === 'calibrate') api.cancel('prune-2');
      },
    );
    await expect(run).rejects.toThrow(/cancelled/);
  });
});

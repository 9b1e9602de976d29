/**
 * The worker's `quantize` job from Node (bundled files over HTTP, as the page gets them):
 * an RTN record with sizes and progress, settings validated, prune-then-quantize keeping
 * the zeros, cancellation.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINEAR_NAMES } from '../src/engine/model/weights';
import { parseExperimentRecord, type MethodSpec } from '../src/engine/record';
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
  await api.loadModel({ jobId: 'load', id: 'stories260K', url: `${base}models/stories260K/`, source: 'bundled', backend: 'cpu' }, () => {});
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

const paste = { kind: 'text' as const, name: 'story', source: 'paste' as const, text: 'Once upon a time, there was a little girl named Lily. She liked to play with her red ball in the park.\n'.repeat(60) };
const job = (jobId: string, method: MethodSpec, extra: object = {}) => ({ jobId, method, dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 64, windows: '0:2', backend: 'cpu' as const, ...extra });

describe('worker quantize job', () => {
  it('quantizes with RTN, reports phases, returns sizes and before/after perplexity', async () => {
    const events: JobEvent[] = [];
    const r = parseExperimentRecord(await api.quantize(job('q-1', { name: 'rtn', bits: 3, groupSize: 32, symmetric: false }), (e) => events.push(e)));
    expect(r.method).toEqual({ name: 'rtn', bits: 3, groupSize: 32, symmetric: false });
    expect(r.baseline!.scoredTokens).toBe(r.scoredTokens);
    expect(r.ppl).toBeGreaterThan(r.baseline!.ppl);
    expect(r.size!.bytesAfter).toBeLessThan(r.size!.bytesBefore / 2);
    expect(new Set(events.map((e) => e.phase))).toEqual(new Set(['tokenize', 'baseline', 'quantize', 'evaluate']));
    expect(api.lastCompressed()!.weights.layers[0]!.gate.packed?.bits).toBe(3);
  });

  it('refuses bad settings and a prune-then-quantize without a pruned model', async () => {
    await expect(api.quantize(job('q-2', { name: 'rtn', bits: 9, groupSize: 32, symmetric: true } as MethodSpec), () => {})).rejects.toThrow(/quantization settings/);
    await expect(api.quantize(job('q-3', { name: 'magnitude', sparsity: 0.5, pattern: 'unstructured', granularity: 'matrix' }), () => {})).rejects.toThrow(/not a quantization method/);
    // The last compressed model is the quantized one from the first test.
    await expect(api.quantize(job('q-4', { name: 'rtn', bits: 4, groupSize: 64, symmetric: true }, { afterPrune: true }), () => {})).rejects.toThrow(/already quantized/);
  });

  it('prune then quantize: the pruned zeros stay exactly zero in the integer model', async () => {
    await api.prune(
      {
        ...job('p-1', { name: 'magnitude', sparsity: 0.5, pattern: '2:4', granularity: 'matrix' }),
        calibration: { dataset: { kind: 'bundled', name: 'tinystories' }, sampling: { samples: 1, seqlen: 8, offset: 0, seed: null } },
      },
      () => {},
    );
    const pruned = api.lastCompressed()!.weights;
    const r = await api.quantize(job('q-5', { name: 'rtn', bits: 4, groupSize: 64, symmetric: true }, { afterPrune: true }), () => {});
    const q = api.lastCompressed()!;
    expect(q.recordId).toBe(r.id);
    let zeros = 0;
    pruned.layers.forEach((l, i) => {
      for (const n of LINEAR_NAMES) {
        const after = q.weights.layers[i]![n].data;
        l[n].data.forEach((v, j) => {
          if (v === 0) {
            zeros++;
            expect(Math.abs(after[j]!)).toBe(0); // −0 with a negative symmetric scale
          }
        });
      }
    });
    expect(zeros).toBeGreaterThan(100_000);
  });

  it('a cancelled job rejects as cancelled', async () => {
    const p = api.quantize(job('q-6', { name: 'rtn', bits: 4, groupSize: 64, symmetric: false }), () => {});
    api.cancel('q-6');
    await expect(p).rejects.toThrow(/cancelled/);
  });
});

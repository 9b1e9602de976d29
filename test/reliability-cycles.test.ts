/**
 * Reliability of jobs through the worker's engine API (the same code the page's worker
 * runs), on the WebGPU backend (Dawn on SwiftShader in Node) and the CPU reference:
 *
 * - 50 start/cancel cycles cancelling in every phase (download, tokenize, baseline,
 *   calibration, pruning, quantized evaluation, L4Q training, evaluation) leave the buffer pool with 0 bytes and 0 buffers in
 *   use after each cycle, on the same device throughout, and a later full job gives the
 *   same numbers as before the cycles;
 * - a device destroyed in the middle of an evaluation ends that job with a 'device' error,
 *   and the next job runs on a fresh device with the same result;
 * - after an uncaptured GPU error the backend is not reused (the "sticky" failure);
 * - NaN/Inf weights stop evaluation and pruning with a 'numerics' error naming the window.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { BackendHolder } from '../src/engine/backend/select';
import { WebGpuBackend } from '../src/engine/backend/webgpu';
import { StudioError } from '../src/engine/errors';
import { runEvaluation } from '../src/engine/experiment';
import { loadModel } from '../src/engine/model/load';
import { hubCheckpointFiles, readCompanions } from '../src/engine/model/save';
import type { MethodSpec } from '../src/engine/record';
import { createEngineApi, type EngineApi } from '../src/worker/engine-api';
import { isL4QStepEvent, type DatasetChoice, type JobPhase, type L4QEvent, type PruneJobRequest } from '../src/worker/protocol';
import { bundledFiles, memorySource } from './support/memory-source';
import { loadBundled, servePublic, type PublicServer } from './support/served-engine';
import { gpuOrSkip, makeBackend, webGpuUnavailable } from './support/webgpu';

/** Crafted model folders served beside the public ones: name → file → bytes. */
const crafted = new Map<string, Record<string, Uint8Array>>();
let server: PublicServer;
let base = '';

beforeAll(async () => {
  server = await servePublic({
    route: (pathname, res) => {
      const m = /^\/crafted\/([^/]+)\/(.+)$/.exec(pathname);
      if (!m) return false;
      const body = crafted.get(m[1]!)?.[m[2]!];
      if (!body) res.writeHead(404).end();
      else res.writeHead(200, { 'content-length': body.byteLength }).end(Buffer.from(body));
      return true;
    },
  });
  base = server.base;
});

afterAll(() => server.close());

const paste: DatasetChoice = {
  kind: 'text',
  name: 'story',
  source: 'paste',
  text: 'Once upon a time, there was a little girl named Lily. She liked to play with her red ball in the park.\n'.repeat(40),
};

type PruneMethod = Exclude<MethodSpec, { name: 'dense' }>;
const METHODS: PruneMethod[] = [
  { name: 'wanda', sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false },
  {
    name: 'flap',
    pruningRatio: 0.2,
    metric: 'WIFV',
    structure: 'AL-AM',
    removeHeads: null,
    headCost: 'truncated',
    gqaUnit: 'group',
    biasCompensation: true,
    fluctuation: 'official',
    baselineDtype: 'fp32',
  },
  { name: 'magnitude', sparsity: 0.5, pattern: 'unstructured', granularity: 'matrix' },
];

function pruneRequest(jobId: string, method: MethodSpec, backend: 'webgpu' | 'cpu'): PruneJobRequest {
  return {
    jobId,
    method,
    dataset: paste,
    datasetsUrl: `${base}datasets/`,
    seqlen: 32,
    windows: '0:2',
    calibration: { dataset: paste, sampling: { samples: 3, seqlen: 16, offset: 0, seed: null } },
    backend,
  };
}

/** Runs `start` and cancels it at the first event of `phase` (with done ≥ `atDone`). */
async function cancelAt(api: EngineApi, jobId: string, phase: JobPhase, atDone: number, start: (onEvent: (e: L4QEvent) => void) => Promise<unknown>): Promise<unknown> {
  let sent = false;
  const seen = new Set<JobPhase>();
  const run = start((e) => {
    if (isL4QStepEvent(e)) return; // the loss curve; its progress comes as a 'train' JobEvent
    seen.add(e.phase);
    if (!sent && e.phase === phase && e.done >= atDone) {
      sent = true;
      api.cancel(jobId);
    }
  });
  const err = await run.then(
    () => new Error(`job ${jobId} finished although it was cancelled in ${phase} (phases seen: ${[...seen].join(', ')})`),
    (e: unknown) => e,
  );
  expect(sent, `phase ${phase} never reached (seen: ${[...seen].join(', ')})`).toBe(true);
  return err;
}

const RTN: MethodSpec = { name: 'rtn', bits: 4, groupSize: 32, symmetric: false };
const L4Q: MethodSpec = { name: 'l4q', bits: 4, groupSize: null, symmetric: false, rank: 2, alpha: 4, steps: 6, warmup: 1, lr: 3e-4, lrQuant: 3e-5, batch: 2, seed: 0, init: 'l4q', gradScale: null };

type Cycle = { kind: 'load' | 'evaluate' | 'prune' | 'quantize' | 'l4q'; phase: JobPhase; atDone: number; method?: number };
/** Every phase a job can be cancelled in; pruning phases for each method that has them. */
const CYCLES: Cycle[] = [
  { kind: 'load', phase: 'download', atDone: 0 },
  { kind: 'evaluate', phase: 'tokenize', atDone: 0 },
  { kind: 'evaluate', phase: 'evaluate', atDone: 1 },
  { kind: 'prune', phase: 'baseline', atDone: 1, method: 0 },
  { kind: 'prune', phase: 'calibrate', atDone: 2, method: 0 },
  { kind: 'prune', phase: 'evaluate', atDone: 1, method: 0 },
  { kind: 'prune', phase: 'calibrate', atDone: 3, method: 1 },
  { kind: 'prune', phase: 'prune', atDone: 0, method: 1 },
  { kind: 'prune', phase: 'evaluate', atDone: 1, method: 1 },
  { kind: 'prune', phase: 'prune', atDone: 0, method: 2 },
  { kind: 'quantize', phase: 'evaluate', atDone: 1 },
  { kind: 'l4q', phase: 'train', atDone: 2 },
];

async function runCycles(api: EngineApi, backend: 'webgpu' | 'cpu', n: number, afterEach: (i: number, c: Cycle) => void): Promise<void> {
  for (let i = 0; i < n; i++) {
    const c = CYCLES[i % CYCLES.length]!;
    const id = `cycle-${backend}-${i}`;
    const err = await cancelAt(api, id, c.phase, c.atDone, (cb) => {
      if (c.kind === 'load') return loadBundled(api, base, backend, cb, id);
      if (c.kind === 'evaluate') return api.evaluate({ jobId: id, dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 32, windows: '0:3', backend }, cb);
      if (c.kind === 'quantize') return api.quantize({ jobId: id, method: RTN, dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 32, windows: '0:2', backend }, cb);
      if (c.kind === 'l4q') {
        const { method: _m, ...rest } = pruneRequest(id, L4Q, backend);
        return api.l4q({ ...rest, method: L4Q, compareRtn: false }, cb);
      }
      return api.prune(pruneRequest(id, METHODS[c.method!]!, backend), cb);
    });
    expect(err, `cycle ${i} (${c.kind} cancelled in ${c.phase})`).toBeInstanceOf(StudioError);
    expect((err as StudioError).code, `cycle ${i}: ${(err as Error).message}`).toBe('cancelled');
    afterEach(i, c);
  }
}

/** 50 in the suite; RELIABILITY_CYCLES=500 for a longer run by hand. */
const CYCLE_COUNT = Number(process.env.RELIABILITY_CYCLES ?? 50);

describe('start/cancel cycles', () => {
  it(`${CYCLE_COUNT} cycles on WebGPU free every buffer and keep the device`, async (ctx) => {
    const gpu = await gpuOrSkip('reliability-cycles');
    if (!gpu) return ctx.skip(webGpuUnavailable());
    const api = createEngineApi(() => gpu);
    await loadBundled(api, base, 'webgpu');
    const backend = api.backendInUse();
    expect(backend).toBeInstanceOf(WebGpuBackend);
    const gb = backend as unknown as WebGpuBackend;
    const before = await api.evaluate({ jobId: 'ev-before', dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 32, windows: '0:3', backend: 'webgpu' }, () => {});
    expect(gb.memory().bytesInUse).toBe(0);

    const pooled: number[] = [];
    await runCycles(api, 'webgpu', CYCLE_COUNT, (i, c) => {
      const m = gb.memory();
      expect(api.backendInUse(), `cycle ${i}: the backend was replaced`).toBe(backend);
      expect(m.bytesInUse, `cycle ${i} (${c.kind} cancelled in ${c.phase}): bytes still in use`).toBe(0);
      expect(m.liveBuffers, `cycle ${i}: buffers still in use`).toBe(0);
      pooled.push(m.pooledBytes);
    });
    // Free lists hold the working set of the largest job and stop growing once every kind of
    // cycle ran once.
    const settled = pooled.slice(CYCLES.length);
    expect(Math.max(...settled)).toBe(pooled[CYCLES.length - 1]);

    const after = await api.evaluate({ jobId: 'ev-after', dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 32, windows: '0:3', backend: 'webgpu' }, () => {});
    expect(after.meanNll).toBe(before.meanNll);
    const pruned = await api.prune(pruneRequest('prune-after', METHODS[0]!, 'webgpu'), () => {});
    expect(pruned.baseline!.windowMeanNll).toEqual(before.windowMeanNll.slice(0, 2));
    expect(gb.memory().bytesInUse).toBe(0);
    console.log(`[reliability] ${CYCLE_COUNT} WebGPU start/cancel cycles: 0 bytes in use after each, pooled ${pooled[CYCLES.length - 1]} bytes, buffers created ${gb.memory().created}`);
  }, 120_000 + CYCLE_COUNT * 3_000);

  it('cancelling in every phase on the CPU reference leaves the API usable', async () => {
    const api = createEngineApi(() => undefined);
    await loadBundled(api, base);
    const before = await api.evaluate({ jobId: 'ev-before', dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 32, windows: '0:3', backend: 'cpu' }, () => {});
    await runCycles(api, 'cpu', CYCLES.length, () => {});
    const after = await api.evaluate({ jobId: 'ev-after', dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 32, windows: '0:3', backend: 'cpu' }, () => {});
    expect(after.meanNll).toBe(before.meanNll);
  }, 60_000);
});

describe('GPU device loss and failures', () => {
  it('a device lost mid-evaluation ends the job with a clear message; the next job gets a fresh device', async (ctx) => {
    const gpu = await gpuOrSkip('reliability-cycles');
    if (!gpu) return ctx.skip(webGpuUnavailable());
    const api = createEngineApi(() => gpu, { testHooks: true });
    await loadBundled(api, base, 'webgpu');
    const req = (jobId: string) => ({ jobId, dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 32, windows: '0:3', backend: 'webgpu' as const });
    const earlier = await api.evaluate(req('ev-1'), () => {});
    const first = api.backendInUse();

    let lostAt = -1;
    const err = await api
      .evaluate(req('ev-2'), (e) => {
        if (lostAt < 0 && e.phase === 'evaluate' && e.done === 1) {
          lostAt = e.done;
          api.testHook('lose-device');
        }
      })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(lostAt).toBe(1);
    expect(err).toBeInstanceOf(StudioError);
    expect((err as StudioError).code).toBe('device');
    expect((err as Error).message).toMatch(/GPU stopped during the job.*WebGPU device lost.*next job starts on a fresh WebGPU device/s);

    const next = await api.evaluate(req('ev-3'), () => {});
    expect(api.backendInUse()).not.toBe(first);
    expect(api.backendInUse()).toBeInstanceOf(WebGpuBackend);
    expect(next.meanNll).toBe(earlier.meanNll);
    expect(earlier.ppl).toBeGreaterThan(1); // the earlier record is untouched
  }, 60_000);

  it('a backend with an uncaptured GPU error is replaced at the next request', async (ctx) => {
    const gpu = await gpuOrSkip('reliability-cycles');
    if (!gpu) return ctx.skip(webGpuUnavailable());
    const holder = new BackendHolder(() => gpu);
    try {
      const a = (await holder.get('webgpu')).backend as unknown as WebGpuBackend;
      expect((await holder.get('webgpu')).backend).toBe(a);
      // A validation error outside any error scope reaches onuncapturederror.
      a.runtime.device.createBuffer({ size: 4, usage: 0xffff_ffff });
      await expect(a.sync()).rejects.toThrow(/WebGPU error \(uncaptured/);
      expect(a.runtime.failed).toBe(true);
      const b = (await holder.get('webgpu')).backend as unknown as WebGpuBackend;
      expect(b).not.toBe(a);
      expect(a.runtime.isDestroyed).toBe(true);
      const t = b.upload(new Float32Array([1, 2, 3, 4]), [4]);
      expect([...(await b.read(t))]).toEqual([1, 2, 3, 4]);
      b.dispose(t);
    } finally {
      holder.destroy();
    }
  }, 30_000);
});

describe('non-finite numbers', () => {
  /** The bundled model with one weight of layer 2's down_proj, or the whole embedding, set to `value`. */
  async function poisoned(value: number, where: 'down' | 'embed') {
    const src = memorySource(bundledFiles(), 'stories260K');
    const m = await loadModel('stories260K', src);
    if (where === 'down') m.weights.layers[2]!.down.data[7] = value;
    else m.weights.embed.data.fill(value);
    return { m, files: hubCheckpointFiles(m.config, m.weights, await readCompanions(src)) };
  }

  it('NaN weights stop evaluation with a numerics error naming the window (CPU and WebGPU)', async () => {
    const { m } = await poisoned(Number.NaN, 'down');
    const gpu = await gpuOrSkip('reliability-cycles');
    const backends: Backend[] = [new CpuBackend(), ...(gpu ? [(await makeBackend(gpu)) as unknown as Backend] : [])];
    for (const backend of backends) {
      const run = runEvaluation({
        model: m,
        modelRef: { id: 'nan', source: 'local', architecture: 'LlamaForCausalLM', parameters: 1, layers: 5, hiddenSize: 64, heads: 8, kvHeads: 4, intermediateSize: 172, vocabSize: 512 },
        backend,
        text: paste.text,
        dataset: { name: 'story', source: 'paste' },
        seqlen: 32,
        windows: '0:2',
        runtime: 'node',
      });
      const err = await run.then(() => null, (e: unknown) => e);
      expect(err, backend.info.name).toBeInstanceOf(StudioError);
      expect((err as StudioError).code).toBe('numerics');
      expect((err as Error).message).toMatch(/loss of window 0 \(tokens 0…31\) is not finite — NaN at \d+ of 31 scored positions/);
      if (backend instanceof WebGpuBackend) {
        expect(backend.memory().bytesInUse).toBe(0);
        backend.destroy();
      }
    }
  }, 60_000);

  it('Inf weights stop evaluation and pruning through the engine API; no record is made', async () => {
    const { files } = await poisoned(Number.POSITIVE_INFINITY, 'embed');
    crafted.set('inf-model', files);
    const api = createEngineApi(() => undefined);
    await api.loadModel({ jobId: 'load', id: 'inf-model', url: `${base}crafted/inf-model/`, source: 'local', backend: 'cpu' }, () => {});
    await expect(api.evaluate({ jobId: 'ev', dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 32, windows: '0:2', backend: 'cpu' }, () => {})).rejects.toMatchObject({
      code: 'numerics',
      message: expect.stringMatching(/window 0 .*not finite.*no result was recorded\. Weights holding NaN\/Inf: model\.embed_tokens\.weight \(32768 ±Inf\)\.$/s),
    });
    await expect(api.prune(pruneRequest('pr', METHODS[0]!, 'cpu'), () => {})).rejects.toMatchObject({ code: 'numerics' });
    expect(api.lastCompressed()).toBeNull();
  }, 30_000);
});

/**
 * KV-cached generation against the uncached reference (whole prefix per token):
 * - CPU: identical logits and identical tokens (greedy and seeded sampling), on the bundled
 *   model and on a structurally pruned copy whose layers have 8, 2 and 0 heads;
 * - WebGPU (SwiftShader in Node): the attention-cached kernel and writeRows against the
 *   CPU reference (offsets, GQA, odd head size, row-chunked caches), and cached generation
 *   giving the CPU's tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import type { WebGpuBackend } from '../src/engine/backend/webgpu';
import { generate, generateWithStats, sampleToken } from '../src/engine/generate';
import { KvCache } from '../src/engine/model/kv-cache';
import { LlamaModel } from '../src/engine/model/llama';
import type { HostTensor, LayerWeights, ModelWeights } from '../src/engine/model/weights';
import { seededRandom } from '../src/engine/random';
import { bundledModel } from './support/bundled';
import { gpuOrSkip, makeBackend, randomArray, relErr } from './support/webgpu';

const m = await bundledModel();
const cpu = new CpuBackend();

function rowsOf(t: HostTensor, rows: number[]): HostTensor {
  const c = t.shape[1]!;
  const data = new Float32Array(rows.length * c);
  rows.forEach((r, i) => data.set(t.data.subarray(r * c, (r + 1) * c), i * c));
  return { shape: [rows.length, c], data };
}
function colsOf(t: HostTensor, cols: number[]): HostTensor {
  const [r, c] = t.shape as [number, number];
  const data = new Float32Array(r * cols.length);
  for (let i = 0; i < r; i++) cols.forEach((j, k) => (data[i * cols.length + k] = t.data[i * c + j]!));
  return { shape: [r, cols.length], data };
}
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

/** Keeps query heads `heads` (whole kv groups) of a layer, as FLAP's removal does. */
function keepHeads(L: LayerWeights<HostTensor>, heads: number[], hd: number, group: number): LayerWeights<HostTensor> {
  const kvHeads = [...new Set(heads.map((h) => Math.floor(h / group)))];
  const qRows = heads.flatMap((h) => range(h * hd, (h + 1) * hd));
  const kvRows = kvHeads.flatMap((g) => range(g * hd, (g + 1) * hd));
  return { ...L, q: rowsOf(L.q, qRows), k: rowsOf(L.k, kvRows), v: rowsOf(L.v, kvRows), o: colsOf(L.o, qRows), numHeads: heads.length, numKvHeads: kvHeads.length, kvHeadMap: null };
}

/** stories260K with layer 1 reduced to one kv group (2 heads) and layer 3 to no heads. */
function prunedWeights(): ModelWeights<HostTensor> {
  const w = m.weights;
  const hd = m.config.headDim;
  const group = m.config.numHeads / m.config.numKvHeads;
  const layers = w.layers.map((L, i) => (i === 1 ? keepHeads(L, [2, 3], hd, group) : i === 3 ? keepHeads(L, [], hd, group) : L));
  return { ...w, layers };
}

async function lastRowLogits(lm: LlamaModel, ids: number[]): Promise<Float32Array> {
  const t = lm.forward(Int32Array.from(ids));
  const all = await lm.backend.read(t);
  lm.backend.dispose(t);
  const V = lm.config.vocabSize;
  return all.slice((ids.length - 1) * V);
}

describe('KV cache on the CPU reference', () => {
  for (const [name, weights] of [
    ['dense', () => m.weights],
    ['pruned (8, 2, 0 heads)', prunedWeights],
  ] as const) {
    it(`${name}: cached logits equal the uncached ones bit for bit`, async () => {
      const lm = new LlamaModel(m.config, cpu, weights());
      const ids = [1, ...m.tokenizer.encode('Once upon a time, there was a little dog')];
      const cache = new KvCache(lm, 64);
      // Prefill with the first 5 tokens, then one token at a time.
      const pre = lm.forward(Int32Array.from(ids.slice(0, 5)), { cache });
      const preLogits = await cpu.read(pre);
      const V = m.config.vocabSize;
      expect(preLogits.slice(4 * V)).toEqual(await lastRowLogits(lm, ids.slice(0, 5)));
      for (let n = 5; n < ids.length; n++) {
        const t = lm.forward(Int32Array.from([ids[n]!]), { cache });
        expect(await cpu.read(t)).toEqual(await lastRowLogits(lm, ids.slice(0, n + 1)));
      }
      expect(cache.length).toBe(ids.length);
      if (name !== 'dense') expect(cache.layers[3]).toBeNull();
      cache.dispose();
    });

    it(`${name}: greedy and sampled generation give the uncached tokens`, async () => {
      const lm = new LlamaModel(m.config, cpu, weights());
      const prompt = [1, ...m.tokenizer.encode('Lily')];
      for (const opts of [{}, { temperature: 0.9, seed: 7 }, { temperature: 1, topK: 20, topP: 0.9, seed: 3 }]) {
        const cached = await generate(lm, prompt, { maxNewTokens: 40, ...opts });
        const plain = await generate(lm, prompt, { maxNewTokens: 40, ...opts, cache: false });
        expect(cached).toEqual(plain);
        expect(cached.length).toBe(40);
      }
    });
  }

  it('reports timings and tokens/s, and refuses a prompt beyond the context', async () => {
    const lm = new LlamaModel(m.config, cpu, m.weights);
    const r = await generateWithStats(lm, [1], { maxNewTokens: 10 });
    expect(r.ids).toHaveLength(10);
    expect(r.tokensPerSecond).toBeGreaterThan(0);
    expect(r.prefillMs).toBeGreaterThanOrEqual(0);
    await expect(generate(lm, new Array(600).fill(1), { maxNewTokens: 1 })).rejects.toThrow(/context of 512/);
    await expect(generate(lm, [1], { maxNewTokens: 2, topP: 0 })).rejects.toThrow(/top-p/);
    const cache = new KvCache(lm, 4);
    expect(() => lm.forward(Int32Array.from([1, 2, 3, 4, 5]), { cache })).toThrow(/capacity of 4/);
  });

  it('cancels between tokens', async () => {
    const lm = new LlamaModel(m.config, cpu, m.weights);
    const ctl = new AbortController();
    const seen: number[] = [];
    const run = generate(lm, [1], { maxNewTokens: 50, signal: ctl.signal, onToken: (id) => (seen.push(id), seen.length === 3 && ctl.abort()) });
    await expect(run).rejects.toThrow(/cancelled/);
    expect(seen).toHaveLength(3);
  });

  it('top-k 1 is greedy; top-k/top-p only ever pick from the allowed set', () => {
    const logits = Float32Array.from([0.1, 2, 1.9, -1, 0.5]);
    const rand = seededRandom(1);
    for (let i = 0; i < 200; i++) {
      expect(sampleToken(logits, 0, 5, { temperature: 1, topK: 1 }, rand)).toBe(1);
      expect([1, 2]).toContain(sampleToken(logits, 0, 5, { temperature: 1, topK: 2 }, rand));
      // p(1) ≈ 0.44, p(2) ≈ 0.40: top-p 0.5 needs both, never a third.
      expect([1, 2]).toContain(sampleToken(logits, 0, 5, { temperature: 1, topP: 0.5 }, rand));
    }
  });
});

const gpu = await gpuOrSkip('kv-cache');

describe.skipIf(!gpu)('KV cache on WebGPU (against the CPU reference)', () => {
  let g: WebGpuBackend;
  let chunked: WebGpuBackend;
  beforeAll(async () => {
    g = await makeBackend(gpu!);
    chunked = await makeBackend(gpu!, { maxBindingBytes: 256 });
  });
  afterAll(() => {
    g?.destroy();
    chunked?.destroy();
  });

  async function cachedAttention(b: Backend, s: { T: number; offset: number; cap: number; H: number; KV: number; d: number }, seed: number) {
    const kvd = s.KV * s.d;
    const q = b.upload(randomArray(s.T * s.H * s.d, seed), [s.T, s.H * s.d]);
    // Rows beyond offset+T hold garbage that must not be read.
    const kc = b.upload(randomArray(s.cap * kvd, seed + 1, 50), [s.cap, kvd]);
    const vc = b.upload(randomArray(s.cap * kvd, seed + 2, 50), [s.cap, kvd]);
    const kNew = b.upload(randomArray((s.offset + s.T) * kvd, seed + 3), [s.offset + s.T, kvd]);
    const vNew = b.upload(randomArray((s.offset + s.T) * kvd, seed + 4), [s.offset + s.T, kvd]);
    b.writeRows(kc, kNew, 0);
    b.writeRows(vc, vNew, 0);
    const out = b.attentionCached(q, kc, vc, { numHeads: s.H, numKvHeads: s.KV, headDim: s.d }, s.offset);
    const r = await b.read(out);
    const kBack = await b.read(kc);
    [q, kc, vc, kNew, vNew, out].forEach((t) => b.dispose(t));
    return { r, kBack };
  }

  it('attention-cached and writeRows match the CPU (offsets, GQA, odd head size, chunked caches)', async () => {
    const cases = [
      { T: 1, offset: 0, cap: 8, H: 2, KV: 1, d: 8 },
      { T: 1, offset: 37, cap: 64, H: 4, KV: 2, d: 8 },
      { T: 5, offset: 70, cap: 80, H: 3, KV: 3, d: 6 },
      { T: 70, offset: 3, cap: 80, H: 2, KV: 1, d: 4 },
    ];
    let seed = 100;
    let worst = 0;
    for (const s of cases) {
      const want = await cachedAttention(cpu, s, seed);
      for (const b of [g, chunked]) {
        const got = await cachedAttention(b, s, seed);
        worst = Math.max(worst, relErr(got.r, want.r));
        expect(relErr(got.r, want.r)).toBeLessThan(1e-5);
        expect(got.kBack).toEqual(want.kBack);
      }
      seed += 10;
    }
    console.info(`[kv-cache] attention-cached largest relative error vs CPU: ${worst.toExponential(1)}`);
    const q = g.upload(new Float32Array(16), [2, 8]);
    const kc = g.upload(new Float32Array(24), [3, 8]);
    expect(() => g.attentionCached(q, kc, kc, { numHeads: 1, numKvHeads: 1, headDim: 8 }, 2)).toThrow(/does not fit/);
    expect(() => g.writeRows(kc, q, 2)).toThrow(/does not fit/);
  });

  it('cached generation on WebGPU gives the CPU tokens (dense and pruned)', async () => {
    for (const weights of [m.weights, prunedWeights()]) {
      const want = await generate(new LlamaModel(m.config, cpu, weights), [1], { maxNewTokens: 24 });
      const lm = new LlamaModel(m.config, g, weights);
      const got = await generate(lm, [1], { maxNewTokens: 24 });
      lm.dispose();
      expect(got).toEqual(want);
    }
  });
});

/**
 * f16 weight storage on an adapter with shader-f16: Mesa's lavapipe (software Vulkan), which
 * scripts/setup-lavapipe.sh unpacks under .cache/lavapipe (CI runs it). SwiftShader, the
 * default test adapter, has no shader-f16, so without lavapipe these tests are skipped with
 * the reason (with CI=true they fail once scripts/setup-lavapipe.sh has succeeded).
 *
 * Budgets: with f16 weights the GPU computes x·Ŵᵀ in f32 where Ŵ is W rounded to f16, so the
 * reference is the CPU backend on Ŵ (the same rounding done on the host), to matmul's f32
 * budget; against the unrounded W the error is f16's half-ulp (2⁻¹¹ relative) per weight.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { createWebGpuBackend, type WebGpuBackend } from '../src/engine/backend/webgpu';
import { WebGpuTensor } from '../src/engine/backend/webgpu/tensor';
import { evaluatePerplexity } from '../src/engine/eval/perplexity';
import { encodeF16, f16ToF32 } from '../src/engine/half';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel, type LoadedModel } from '../src/engine/model/load';
import { mapWeights } from '../src/engine/model/weights';
import { dirSource } from '../src/cli/fs-source';
import { REPO_ROOT } from './support/paths';
import { f16GpuOrSkip, randomArray, relErr } from './support/webgpu';

// Skips (with the reason) without lavapipe; with CI=true fails when lavapipe was set up.
const gpu = await f16GpuOrSkip('webgpu-f16');

const rounded = (w: Float32Array) => Float32Array.from(encodeF16(w), f16ToF32);

describe.skipIf(!gpu)('f16 weight storage (lavapipe)', () => {
  const cpu = new CpuBackend();
  let f16: WebGpuBackend;
  let auto: WebGpuBackend;
  beforeAll(async () => {
    f16 = await createWebGpuBackend(gpu!, { weightStorage: 'f16' });
    auto = await createWebGpuBackend(gpu!, { weightStorage: 'auto' });
    expect(f16.adapter.features.shaderF16).toBe(true);
  });
  afterAll(() => {
    f16?.destroy();
    auto?.destroy();
  });

  it.each([
    ['simple', 2, 64, 36],
    ['blocked', 37, 132, 20],
    ['tiled', 70, 96, 68],
  ] as const)('matmul (%s kernel, %i×%i by %i) reads f16 weights and sums in f32', async (kernel, T, K, N) => {
    const x = randomArray(T * K, 11, 1);
    const w = randomArray(N * K, 12, 0.5);
    const bias = randomArray(N, 13, 0.1);
    f16.matmulChoice = kernel === 'simple' ? 'simple' : kernel;
    const xt = f16.upload(x, [T, K]);
    const wt = f16.uploadWeight(w, [N, K]) as WebGpuTensor;
    expect(wt.dtype).toBe('f16');
    expect(wt.bytes).toBe(N * K * 2);
    const bt = f16.upload(bias, [N]);
    const yt = f16.matmul(xt, wt, bt);
    const y = await f16.read(yt);
    [xt, wt, bt, yt].forEach((t) => f16.dispose(t));
    f16.matmulChoice = 'auto';

    const c = cpu.matmul(cpu.upload(x, [T, K]), cpu.upload(rounded(w), [N, K]), cpu.upload(bias, [N]));
    const exact = await cpu.read(c);
    expect(relErr(y, exact)).toBeLessThan(1e-5);
    // Against the unrounded weights the difference is the f16 rounding, not more.
    const full = await cpu.read(cpu.matmul(cpu.upload(x, [T, K]), cpu.upload(w, [N, K]), cpu.upload(bias, [N])));
    expect(relErr(y, full)).toBeLessThan(2e-3);
  });

  it('gathers embeddings from an f16 table, also split over several bindings', async () => {
    const small = await createWebGpuBackend(gpu!, { weightStorage: 'f16', maxBindingBytes: 256 });
    try {
      const table = randomArray(50 * 16, 21, 1);
      const ids = Int32Array.from([0, 49, 7, 7, 23, 31]);
      const t = small.uploadWeight(table, [50, 16]) as WebGpuTensor;
      expect(t.chunks.length).toBeGreaterThan(1);
      const out = await small.read(small.embedding(t, small.uploadIds(ids)));
      const r = rounded(table);
      const want = Float32Array.from({ length: ids.length * 16 }, (_, i) => r[ids[Math.floor(i / 16)]! * 16 + (i % 16)]!);
      expect(Array.from(out)).toEqual(Array.from(want));
      // Reading an f16 tensor back gives the f16 values as floats.
      expect(Array.from(await small.read(t))).toEqual(Array.from(r));
    } finally {
      small.destroy();
    }
  });

  it('refuses f16 tensors where a kernel cannot read them, and values beyond the f16 range', async () => {
    const w = f16.uploadWeight(randomArray(16, 31), [4, 4]);
    expect(() => f16.add(w, w)).toThrow(/stored as f16, which add does not read/);
    f16.dispose(w);
    expect(() => f16.uploadWeight(new Float32Array([1, 2, 3, 1e6]), [1, 4])).toThrow(/beyond the f16 range/);
  });

  it("'auto' stores a matrix as f16 only when nothing is lost; vectors and odd rows stay f32", async () => {
    const exact = rounded(randomArray(64, 41));
    const lossy = randomArray(64, 42);
    const a = auto.uploadWeight(exact, [8, 8]) as WebGpuTensor;
    const b = auto.uploadWeight(lossy, [8, 8]) as WebGpuTensor;
    const v = auto.uploadWeight(exact, [64]) as WebGpuTensor;
    const odd = f16.uploadWeight(randomArray(21, 43), [3, 7]) as WebGpuTensor;
    expect([a.dtype, b.dtype, v.dtype, odd.dtype]).toEqual(['f16', 'f32', 'f32', 'f32']);
    [a, b, v].forEach((t) => auto.dispose(t));
    f16.dispose(odd);
  });

  describe('stories260K', () => {
    let loaded: LoadedModel;
    let stream: Int32Array;
    beforeAll(async () => {
      loaded = await loadModel('stories260K', dirSource(path.join(REPO_ROOT, 'public/models/stories260K')));
      const text = readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 6000);
      stream = Int32Array.from([1, ...loaded.tokenizer.encode(text)]);
    });

    it('perplexity with f16 weights equals the CPU on f16-rounded weights, and is within 1e-3 of f32', async () => {
      const opts = { seqlen: 256, windows: { start: 0, end: 2 } };
      const g = await evaluatePerplexity(new LlamaModel(loaded.config, f16, loaded.weights), stream, opts);
      const halfWeights = mapWeights(loaded.weights, (t) => (t.shape.length === 2 && t.shape[1]! % 4 === 0 ? { ...t, data: rounded(t.data) } : t));
      const c16 = await evaluatePerplexity(new LlamaModel(loaded.config, cpu, halfWeights), stream, opts);
      const c32 = await evaluatePerplexity(new LlamaModel(loaded.config, cpu, loaded.weights), stream, opts);
      console.info(`[webgpu-f16] ppl windows 0:2 @256: GPU f16 weights ${g.ppl.toFixed(6)}, CPU f16-rounded ${c16.ppl.toFixed(6)}, CPU f32 ${c32.ppl.toFixed(6)} (${f16.info.device})`);
      expect(Math.abs(g.ppl - c16.ppl) / c16.ppl).toBeLessThan(1e-4);
      expect(Math.abs(g.ppl - c32.ppl) / c32.ppl).toBeLessThan(1e-3);
      expect(f16.weightBytes.f16).toBeGreaterThan(0);
    });

    it("'auto' keeps the f32 checkpoint's numbers exactly (its weights are not f16-exact)", async () => {
      const opts = { seqlen: 128, windows: { start: 0, end: 1 } };
      const before = auto.weightBytes.f16;
      const g = await evaluatePerplexity(new LlamaModel(loaded.config, auto, loaded.weights), stream, opts);
      const c = await evaluatePerplexity(new LlamaModel(loaded.config, cpu, loaded.weights), stream, opts);
      expect(auto.weightBytes.f16).toBe(before);
      expect(Math.abs(g.ppl - c.ppl) / c.ppl).toBeLessThan(1e-4);
    });
  });
});

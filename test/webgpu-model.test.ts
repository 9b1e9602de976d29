/**
 * The whole Llama forward pass on WebGPU against the CPU reference, on the bundled
 * stories260K model and TinyStories text: logits of one 512-token window, perplexity,
 * weights split over many small bindings, and buffer-pool use across forward passes.
 *
 * Budgets: logits relErr (max|Δ| / max|cpu|) < 1e-5; perplexity relative difference < 1e-4.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import type { WebGpuBackend } from '../src/engine/backend/webgpu';
import type { WebGpuTensor } from '../src/engine/backend/webgpu/tensor';
import { evaluatePerplexity } from '../src/engine/eval/perplexity';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel, type LoadedModel } from '../src/engine/model/load';
import { dirSource } from '../src/cli/fs-source';
import { REPO_ROOT } from './support/paths';
import { gpuOrSkip, makeBackend, relErr } from './support/webgpu';

const gpu = await gpuOrSkip('webgpu-model');

describe.skipIf(!gpu)('Llama forward on WebGPU (stories260K)', () => {
  let loaded: LoadedModel;
  let stream: Int32Array;
  let window: Int32Array;
  let cpuLogits: Float32Array;
  let gpuLogits: Float32Array | null = null;
  let b: WebGpuBackend;
  let model: LlamaModel;

  beforeAll(async () => {
    loaded = await loadModel('stories260K', dirSource(path.join(REPO_ROOT, 'public/models/stories260K')));
    const text = readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 10_000);
    stream = Int32Array.from([1, ...loaded.tokenizer.encode(text)]);
    expect(stream.length).toBeGreaterThan(2 * 512);
    window = stream.slice(0, 512);
    const cpuModel = new LlamaModel(loaded.config, new CpuBackend(), loaded.weights);
    const l = cpuModel.forward(window);
    cpuLogits = await cpuModel.backend.read(l);
    b = await makeBackend(gpu!);
    model = new LlamaModel(loaded.config, b, loaded.weights);
  });
  afterAll(() => b?.destroy());

  it('logits of a 512-token window agree with the CPU backend', async () => {
    const t0 = performance.now();
    const logits = model.forward(window);
    const got = await b.read(logits);
    b.dispose(logits);
    const ms = performance.now() - t0;
    gpuLogits = got;
    expect(got.length).toBe(512 * loaded.config.vocabSize);
    const e = relErr(got, cpuLogits);
    console.info(`[webgpu] stories260K logits, 512 tokens: max relative error ${e.toExponential(2)}, GPU forward ${ms.toFixed(0)} ms on ${b.info.device}`);
    expect(e).toBeLessThan(1e-5);
  });

  it('perplexity on the GPU equals the CPU to 1e-4 relative', async () => {
    const opts = { seqlen: 512, windows: { start: 0, end: 2 } };
    const g = await evaluatePerplexity(model, stream, opts);
    const c = await evaluatePerplexity(new LlamaModel(loaded.config, new CpuBackend(), loaded.weights), stream, opts);
    console.info(`[webgpu] perplexity windows 0:2: GPU ${g.ppl.toFixed(6)}, CPU ${c.ppl.toFixed(6)}, relative difference ${(Math.abs(g.ppl - c.ppl) / c.ppl).toExponential(2)}`);
    expect(g.scoredTokens).toBe(c.scoredTokens);
    expect(Math.abs(g.ppl - c.ppl) / c.ppl).toBeLessThan(1e-4);
    expect(Math.abs(g.meanNll - c.meanNll) / c.meanNll).toBeLessThan(1e-4);
  });

  it('gives the same logits with weights split over 4 KiB bindings', async () => {
    const tiny = await makeBackend(gpu!, { maxBindingBytes: 4096 });
    try {
      const m = new LlamaModel(loaded.config, tiny, loaded.weights);
      // The 512×64 embedding (also the tied LM head) is 128 KiB: 32 chunks of 16 rows.
      expect((m.weights.embed as WebGpuTensor).chunks.length).toBe(32);
      expect((m.weights.layers[0]!.gate as WebGpuTensor).chunks.length).toBeGreaterThan(1);
      const logits = m.forward(window);
      const got = await tiny.read(logits);
      tiny.dispose(logits);
      const e = relErr(got, cpuLogits);
      console.info(`[webgpu] split weights (maxBindingBytes 4096): max relative error ${e.toExponential(2)}`);
      expect(e).toBeLessThan(1e-5);
      // Each output is summed in the same order whichever chunk computes it: bit-identical.
      if (gpuLogits) expect(relErr(got, gpuLogits)).toBe(0);
    } finally {
      tiny.destroy();
    }
  });

  it('returns to the weights-only memory level after each forward (no growth)', async () => {
    const p = await makeBackend(gpu!);
    try {
      const m = new LlamaModel(loaded.config, p, loaded.weights);
      const weightsOnly = p.memory().bytesInUse;
      expect(weightsOnly).toBeGreaterThan(4 * loaded.parameters);
      const ids = window.subarray(0, 200);
      const created: number[] = [];
      for (let i = 0; i < 3; i++) {
        const logits = m.forward(ids);
        await p.read(logits);
        p.dispose(logits);
        expect(p.memory().bytesInUse).toBe(weightsOnly);
        created.push(p.memory().created);
      }
      // After the first pass every buffer comes from the pool.
      expect(created[2]).toBe(created[0]);
      const mem = p.memory();
      console.info(`[webgpu] pool: weights ${weightsOnly} B, peak ${mem.peakBytes} B, pooled ${mem.pooledBytes} B, created ${mem.created}, reused ${mem.reused}`);
      m.dispose();
      expect(p.memory().bytesInUse).toBe(0);
    } finally {
      p.destroy();
    }
  });
});

/**
 * Teaching mode's engine (src/engine/inspect): per-layer inspection on the bundled model
 * (CPU reference, 4 calibration samples of 32 tokens), block-mean image pooling and weight
 * histograms with shared edges.
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { weightHistogram, layerMatrix } from '../src/engine/inspect/histogram';
import { inspectLayer } from '../src/engine/inspect/layer-inspect';
import { poolImage } from '../src/engine/inspect/pool-image';
import { LlamaModel } from '../src/engine/model/llama';
import type { MethodSpec } from '../src/engine/record';
import { FLAP_DEFAULTS } from '../src/engine/prune/flap';
import { bundledModel } from './support/bundled';

const m = await bundledModel();
const cpu = new CpuBackend();
const text = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her friends. One day she saw a big red ball.';
const ids = Int32Array.from([1, ...m.tokenizer.encode(`${text} ${text} ${text}`)]);
const samples = [0, 1, 2, 3].map((i) => ids.slice(i * 32, (i + 1) * 32));
const wanda = (sparsity: number): MethodSpec => ({ name: 'wanda', sparsity, pattern: 'unstructured', mode: 'one-shot', variant: false });

const run = (method: MethodSpec, layer: number, matrix: 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down') =>
  inspectLayer({ config: m.config, weights: m.weights, backend: cpu, samples, method, layer, matrix });

describe('inspectLayer', () => {
  it('Wanda 50%: input statistics equal the forward hook, ⌊p·in⌋ pruned per row, the layer output changes', async () => {
    const r = await run(wanda(0.5), 2, 'gate');
    expect(r.shape).toEqual([172, 64]);
    expect(r.input.point).toBe('mlpIn');
    expect(r.input.readBy).toEqual(['gate', 'up']);
    expect(r.input.tokens).toBe(128);
    // Independent: the gate input of layer 2 captured from the plain forward pass.
    const lm = new LlamaModel(m.config, cpu, m.weights);
    const sumSq = new Float64Array(64);
    const sum = new Float64Array(64);
    for (const s of samples) {
      const pending: Promise<Float32Array>[] = [];
      lm.forward(s, { hooks: { linearInput: (e) => e.layer === 2 && e.linears[0] === 'gate' && pending.push(cpu.read(e.x)) } });
      const x = await pending[0]!;
      for (let i = 0; i < x.length; i++) {
        sumSq[i % 64] += x[i]! ** 2;
        sum[i % 64] += x[i]!;
      }
    }
    r.input.l2.forEach((v, j) => expect(v).toBeCloseTo(Math.sqrt(sumSq[j]!), 3));
    r.input.mean.forEach((v, j) => expect(v).toBeCloseTo(sum[j]! / 128, 4));
    expect(r.mask.total).toBe(172 * 64);
    expect(r.mask.pruned).toBe(172 * 32);
    expect(r.scores.kind).toBe('weight');
    // 172 rows > 128 cells: pairs of rows are averaged.
    expect([r.scores.image.rows, r.scores.image.cols, r.scores.image.blockRows, r.scores.image.blockCols]).toEqual([86, 64, 2, 1]);
    // Cells of 2 weights: 0, ½ or 1 pruned, half of all on average.
    expect(r.mask.image.values.every((v) => v === 0 || v === 0.5 || v === 1)).toBe(true);
    expect(r.mask.image.values.reduce((a, b) => a + b) / r.mask.image.values.length).toBe(0.5);
    expect(r.output.relError).toBeGreaterThan(1e-3);
    expect(r.output.relError).toBeLessThan(1);
    expect(r.output.blockChange).toBeGreaterThan(r.output.relError);
    expect(r.flap).toBeNull();
  });

  it('sparsity 0 leaves the layer output exactly unchanged; more sparsity changes it more', async () => {
    expect((await run(wanda(0), 1, 'q')).output.relError).toBe(0);
    const a = await run({ name: 'magnitude', sparsity: 0.3, pattern: 'unstructured', granularity: 'matrix' } as MethodSpec, 1, 'q');
    const b = await run({ name: 'magnitude', sparsity: 0.8, pattern: 'unstructured', granularity: 'matrix' } as MethodSpec, 1, 'q');
    expect(a.scores.formula).toBe('S_ij = |W_ij|');
    expect(b.output.relError).toBeGreaterThan(a.output.relError);
  });

  it('FLAP: kept heads and channels agree with the mask of each matrix', async () => {
    const method = { name: 'flap', ...FLAP_DEFAULTS, pruningRatio: 0.3 } as MethodSpec;
    const hd = m.config.headDim;
    const q = await run(method, 1, 'q');
    expect(q.flap).not.toBeNull();
    expect(q.scores.kind).toBe('channel');
    expect(q.scores.of).toBe('o');
    expect(q.scores.image.cols).toBe(64);
    const f = q.flap!;
    expect(q.mask.pruned).toBe((f.heads - f.keptHeads.length) * hd * 64);
    const down = await run(method, 1, 'down');
    expect(down.mask.pruned).toBe((down.flap!.channels - down.flap!.keptChannels) * 64);
    expect(down.flap!.keptChannels).toBeLessThan(172);
    expect(down.output.relError).toBeGreaterThan(0);
  });

  it('names bad requests', async () => {
    await expect(run(wanda(0.5), 9, 'q')).rejects.toThrow(/layer 9 does not exist/);
    await expect(run({ name: 'dense' }, 0, 'q')).rejects.toThrow(/teaching mode explains/);
  });
});

describe('poolImage', () => {
  it('averages blocks, edges included', () => {
    const v = Array.from({ length: 15 }, (_, i) => i); // 3 × 5
    const p = poolImage(v, 3, 5, 2);
    expect([p.rows, p.cols, p.blockRows, p.blockCols]).toEqual([2, 2, 2, 3]);
    expect(p.values).toEqual([(0 + 1 + 2 + 5 + 6 + 7) / 6, (3 + 4 + 8 + 9) / 4, (10 + 11 + 12) / 3, (13 + 14) / 2]);
    expect(poolImage(v, 3, 5, 8).values).toEqual(v);
  });
});

describe('weightHistogram', () => {
  it('shares edges between before and after and counts exact zeros', () => {
    const dense = { shape: [2, 3], data: Float32Array.from([-1, -0.5, 0.2, 0.4, 0.9, 1]) };
    const after = { shape: [2, 3], data: Float32Array.from([-1, 0, 0, 0, 0.9, 1.2]) };
    const h = weightHistogram(dense, after, 4);
    expect(h.edges[0]).toBe(-1);
    expect(h.edges[4]).toBeCloseTo(1.2, 6);
    expect(h.dense.counts.reduce((a, b) => a + b)).toBe(6);
    expect(h.compressed!.counts.reduce((a, b) => a + b)).toBe(6);
    // Bin width 0.55: [-1, -0.45) [-0.45, 0.1) [0.1, 0.65) [0.65, 1.2]
    expect(h.dense.counts).toEqual([2, 0, 2, 2]);
    expect(h.compressed!.counts).toEqual([1, 3, 0, 2]);
    expect(h.compressed!.zeros).toBe(3);
    expect(h.dense.zeros).toBe(0);
    expect(() => weightHistogram(dense, null, 0)).toThrow(/bins/);
  });

  it('finds a layer matrix or says what is wrong', () => {
    expect(layerMatrix(m.weights, 0, 'down').shape).toEqual([64, 172]);
    expect(() => layerMatrix(m.weights, 5, 'q')).toThrow(/layers 0…4/);
    expect(() => layerMatrix(m.weights, 0, 'x')).toThrow(/unknown matrix/);
  });
});

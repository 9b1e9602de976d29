/**
 * L4Q quantizer, LoRA, merge and training loop on tiny random models (CPU reference).
 */
import { describe, expect, it } from 'vitest';
import { CpuTrainingBackend } from '../src/engine/backend/cpu/cpu-grad';
import { StudioError } from '../src/engine/errors';
import { LlamaModel } from '../src/engine/model/llama';
import { randomWeights } from '../src/engine/model/random-model';
import { dequantizeIntegers, fakeQuantize, initGroupQuant, quantGrid, quantizeToIntegers, roundHalfEven } from '../src/engine/quant/l4q';
import { Adam } from '../src/engine/quant/adam';
import { createLora, loraGrads, mergeLora } from '../src/engine/quant/lora';
import { L4Q_DEFAULTS, L4QTrainer, type L4QOptions } from '../src/engine/quant/train';
import { seededNormal } from '../src/engine/random';
import { patterned, tinyTrainingConfig } from './support/tiny-training';

const cfg = tinyTrainingConfig;

const base: L4QOptions = { ...L4Q_DEFAULTS, bits: 3, group: 8, rank: 4, alpha: 8, steps: 30, warmup: 5, lr: 1e-2, lrQuant: 1e-2, batch: 2, seed: 1 };

async function train(o: L4QOptions, seed = 2, w = randomWeights(cfg, seed)) {
  const tr = new L4QTrainer(new CpuTrainingBackend(), cfg, w, patterned(8, 12, 4), o);
  const losses: number[] = [];
  while (!tr.done) losses.push((await tr.trainStep()).loss);
  return { tr, losses };
}

describe('L4Q quantizer', () => {
  it('grid and rounding convention', () => {
    expect(quantGrid(4)).toEqual({ bits: 4, qn: -8, qp: 7 });
    expect(quantGrid(3)).toEqual({ bits: 3, qn: -4, qp: 3 });
    expect(() => quantGrid(1)).toThrow(StudioError);
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 1.2, -2.7].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 1, -3]);
  });

  it('L4Q init never clips; min-max maps min to Qn; the merge equals the fake-quantized weight', () => {
    const g = seededNormal(3);
    const [rows, cols, G] = [5, 20, 8];
    const w = Float32Array.from({ length: rows * cols }, () => g());
    const grid = quantGrid(4);
    const p = initGroupQuant(w, rows, cols, G, grid, 'l4q');
    expect(p.groupsPerRow).toBe(3);
    for (let i = 0; i < w.length; i++) {
      const gi = Math.floor(i / cols) * 3 + Math.floor((i % cols) / G);
      const v = (w[i]! - p.b[gi]!) / p.s[gi]!;
      expect(v).toBeGreaterThanOrEqual(grid.qn - 1e-6);
      expect(v).toBeLessThanOrEqual(grid.qp + 1e-6);
    }
    const mm = initGroupQuant(w, rows, cols, G, grid, 'minmax');
    const fq = fakeQuantize(w, mm, grid);
    // The minimum of each group is reproduced (it sits on code Qn).
    const row0 = Math.min(...w.subarray(0, 8));
    expect(Math.min(...fq.subarray(0, 8))).toBeCloseTo(row0, 5);
    const ints = quantizeToIntegers(w, mm, grid);
    expect(Math.min(...ints.codes)).toBeGreaterThanOrEqual(-8);
    expect(Math.max(...ints.codes)).toBeLessThanOrEqual(7);
    expect(dequantizeIntegers(ints)).toEqual(fq);
  });

  it('masked weights are exactly zero in the fake-quantized and merged weights', () => {
    const w = Float32Array.from([0.3, 0, -0.7, 0.2, 0, 0.9, -0.1, 0.5]);
    const mask = Uint8Array.from(w, (x) => (x === 0 ? 0 : 1));
    const grid = quantGrid(3);
    const p = initGroupQuant(w, 2, 4, 4, grid, 'minmax', mask);
    const fq = fakeQuantize(w, p, grid, mask);
    expect([fq[1], fq[4]]).toEqual([0, 0]);
    expect(dequantizeIntegers(quantizeToIntegers(w, p, grid, mask))).toEqual(fq);
  });

  it('LoRA: B = 0 at init leaves the weight unchanged; gradients are c·Γ·Aᵀ and c·Bᵀ·Γ', () => {
    const w0 = Float32Array.from({ length: 6 }, (_, i) => i / 10);
    const l = createLora(2, 3, 2, 4, 7);
    expect(l.scale).toBe(2);
    expect(mergeLora(w0, l)).toEqual(w0);
    l.B.set([1, 0, 0, 1]);
    const gamma = Float32Array.from([1, 0, 0, 0, 0, 0]);
    const { dA, dB } = loraGrads(gamma, l);
    expect(dB[0]).toBeCloseTo(2 * l.A[0]!, 6);
    expect(dB[1]).toBeCloseTo(2 * l.A[3]!, 6);
    expect(dA[0]).toBeCloseTo(2, 6);
    expect(Array.from(dA.subarray(1))).toEqual([0, 0, 0, 0, 0]);
  });

  it('Adam moves a quadratic to its minimum', () => {
    const p = Float32Array.from([3, -2]);
    const opt = new Adam([p], { lr: 0.1 });
    for (let i = 0; i < 300; i++) opt.step([Float32Array.from(p, (x) => 2 * x)]);
    expect(Math.abs(p[0]!)).toBeLessThan(0.05);
    expect(Math.abs(p[1]!)).toBeLessThan(0.05);
    expect(opt.stateBytes).toBe(16);
  });
});

describe('L4Q training', () => {
  it('the loss falls on a tiny model, warm-up then joint, and is deterministic for a seed', async () => {
    const a = await train(base);
    expect(a.losses).toHaveLength(30);
    const joint = a.losses.slice(base.warmup);
    const first = joint[0]!;
    const last = joint.slice(-5).reduce((x, y) => x + y, 0) / 5;
    expect(last).toBeLessThan(0.7 * first);
    const again = await train(base);
    expect(again.losses).toEqual(a.losses);
    const other = await train({ ...base, seed: 2 });
    expect(other.losses).not.toEqual(a.losses);
  });

  it('the merged integer model computes the trained fake-quantized model, LoRA gone', async () => {
    const { tr } = await train({ ...base, steps: 8 });
    const seq = patterned(1, 12, 9)[0]!;
    const trained = (await tr.gradients([seq])).loss;
    const merged = tr.merge();
    const b = new CpuTrainingBackend();
    const lm = new LlamaModel(cfg, b, merged.weights);
    const nll = await b.read(lm.backend.nll(lm.forward(seq.subarray(0, 11)), b.uploadIds(seq.subarray(1))));
    const mean = nll.reduce((x, y) => x + y, 0) / nll.length;
    expect(Math.abs(mean - trained)).toBeLessThan(1e-5);
    const q = merged.linears[1]!.down!;
    expect(q.bits).toBe(3);
    expect(q.codes.every((c) => c >= -4 && c <= 3)).toBe(true);
    expect(q.scales.length).toBe(16 * 3);
    const mem = tr.memory();
    // rank 4 × (in + out) per linear: q 32, k 24, v 24, o 32, gate 40, up 40, down 40; 2 layers; float32.
    expect(mem.loraBytes).toBe(4 * 4 * 2 * (32 + 24 + 24 + 32 + 40 + 40 + 40));
    expect(mem.activationBytes).toBeGreaterThan(0);
  });

  it('pruned weights stay zero through training and merging', async () => {
    const w = randomWeights(cfg, 3);
    for (const l of w.layers) for (const m of [l.q, l.up, l.down]) m.data.forEach((x, i, d) => (i % 2 === 0 ? (d[i] = 0) : x));
    const { tr } = await train({ ...base, steps: 6, warmup: 2 }, 3, w);
    const merged = tr.merge();
    for (const l of merged.weights.layers) for (const m of [l.q, l.up, l.down]) for (let i = 0; i < m.data.length; i += 2) expect(m.data[i]).toBe(0);
    expect(tr.linears.filter((x) => x.mask).map((x) => x.name)).toEqual(['q', 'up', 'down', 'q', 'up', 'down']);
  });

  it('trains a structurally pruned model (a layer without heads and without MLP channels, output biases)', async () => {
    const w = randomWeights(cfg, 5);
    const l = w.layers[1]!;
    const H = cfg.hiddenSize;
    const empty = (rows: number, cols: number) => ({ shape: [rows, cols], data: new Float32Array(0) });
    Object.assign(l, { q: empty(0, H), k: empty(0, H), v: empty(0, H), o: empty(H, 0), gate: empty(0, H), up: empty(0, H), down: empty(H, 0), numHeads: 0, numKvHeads: 0, intermediateSize: 0 });
    l.oBias = { shape: [H], data: Float32Array.from({ length: H }, (_, i) => 0.01 * i) };
    l.downBias = { shape: [H], data: Float32Array.from({ length: H }, (_, i) => -0.02 * i) };
    const { tr, losses } = await train({ ...base, steps: 4, warmup: 1 }, 5, w);
    expect(tr.linears.map((x) => x.layer)).toEqual([0, 0, 0, 0, 0, 0, 0]);
    expect(losses.every(Number.isFinite)).toBe(true);
    const seq = patterned(1, 12, 2)[0]!;
    const trained = (await tr.gradients([seq])).loss;
    const b = new CpuTrainingBackend();
    const lm = new LlamaModel(cfg, b, tr.merge().weights);
    const nll = await b.read(b.nll(lm.forward(seq.subarray(0, 11)), b.uploadIds(seq.subarray(1))));
    expect(Math.abs(nll.reduce((x, y) => x + y, 0) / nll.length - trained)).toBeLessThan(1e-5);
  });

  it('a non-finite loss stops training with a clear error; bad options are refused', async () => {
    const w = randomWeights(cfg, 4);
    w.layers[0]!.q.data[0] = Number.NaN;
    const tr = new L4QTrainer(new CpuTrainingBackend(), cfg, w, patterned(2, 8, 1), base);
    await expect(tr.trainStep()).rejects.toThrow(/not finite/);
    const mk = (o: Partial<L4QOptions>) => () => new L4QTrainer(new CpuTrainingBackend(), cfg, randomWeights(cfg, 1), patterned(2, 8, 1), { ...base, ...o });
    expect(mk({ warmup: 40 })).toThrow(/warm-up/);
    expect(mk({ bits: 9 })).toThrow(/bits/);
    expect(mk({ lr: 0 })).toThrow(/lr/);
    expect(mk({ symmetric: true, init: 'minmax' })).toThrow(/asymmetric/);
  });
});

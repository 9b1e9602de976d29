/**
 * L4Q's parameter-side ops (QuantTrainOps) on WebGPU against the CPU implementation, which
 * is the host math of l4q.ts, lora.ts and adam.ts: LoRA merge, fake quantization and its
 * STE/LSQ/LSQ+ gradient, LoRA gradients and Adam, on tiny odd shapes (a last group shorter
 * than G, per-channel groups), 2/3/4 bits, symmetric and asymmetric, with and without a
 * pruning mask; and the conventions at rounding ties and clamp limits. Then the trainer's
 * device path (parameters and Adam state as backend tensors): with the CPU ops against the
 * host loop, its readbacks, and on WebGPU end to end against the CPU reference.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import type { WebGpuBackend } from '../src/engine/backend/webgpu';
import { WebGpuQuantTrainOps } from '../src/engine/backend/webgpu/quant-train-ops';
import { CpuTrainingBackend } from '../src/engine/backend/cpu/cpu-grad';
import { isTrainingBackend } from '../src/engine/backend/training';
import { randomWeights } from '../src/engine/model/random-model';
import { fakeQuantize, fakeQuantizeGrad, groupsPerRow, initGroupQuant, quantGrid, type QuantGrid } from '../src/engine/quant/l4q';
import { L4Q_DEFAULTS, L4QTrainer, quantTrainOpsFor, type L4QOptions } from '../src/engine/quant/train';
import { CpuQuantTrainOps } from '../src/engine/quant/quant-train-ops-cpu';
import type { QuantTrainOps } from '../src/engine/backend/quant-train-ops';
import { gpuOrSkip, makeBackend, randomArray, relErr } from './support/webgpu';
import { patterned, tinyTrainingConfig } from './support/tiny-training';

const g = await gpuOrSkip('l4q-gpu-ops');
// One backend for the file, made up front so the end-to-end test can ask whether it trains.
const gb: WebGpuBackend | null = g ? await makeBackend(g) : null;
const cpu = new CpuBackend();
const cpuOps = new CpuQuantTrainOps();

interface Case {
  rows: number;
  cols: number;
  group: number;
  bits: number;
  sym: boolean;
  masked: boolean;
}

// rows 5 × cols 12 (3 full groups of 4), 7 × 10 (last group of 2), 3 × 9 per channel, 4 × 6 (G > cols/2), wide groups.
const CASES: Case[] = [
  { rows: 5, cols: 12, group: 4, bits: 4, sym: false, masked: false },
  { rows: 5, cols: 12, group: 4, bits: 3, sym: true, masked: true },
  { rows: 7, cols: 10, group: 4, bits: 2, sym: false, masked: true },
  { rows: 7, cols: 10, group: 4, bits: 3, sym: false, masked: false },
  { rows: 3, cols: 9, group: 9, bits: 4, sym: true, masked: false },
  { rows: 4, cols: 6, group: 5, bits: 2, sym: true, masked: true },
  // Groups wider than a kernel segment (32 columns): per channel 70 = 32 + 32 + 6; G 40 with a last group of 20.
  { rows: 3, cols: 70, group: 70, bits: 4, sym: false, masked: true },
  { rows: 2, cols: 100, group: 40, bits: 3, sym: false, masked: false },
];

const label = (c: Case) => `${c.rows}×${c.cols} G${c.group} ${c.bits}-bit ${c.sym ? 'sym' : 'asym'}${c.masked ? ' masked' : ''}`;

/** Weights, a mask (about a third pruned, zeros in W), and s, b moved off their init so values clip at both ends. */
function fixture(c: Case, seed: number) {
  const n = c.rows * c.cols;
  const grid = quantGrid(c.bits);
  const w = randomArray(n, seed);
  const mask = c.masked ? Uint8Array.from(randomArray(n, seed + 1), (x) => (x > -0.35 ? 1 : 0)) : null;
  if (mask) w.forEach((_, i) => (mask[i] ? 0 : (w[i] = 0)));
  const p = initGroupQuant(w, c.rows, c.cols, c.group, grid, c.sym ? 'l4q' : 'minmax', mask);
  const jit = randomArray(p.s.length, seed + 2);
  p.s.forEach((s, i) => (p.s[i] = s * (0.75 + 0.3 * jit[i]!)));
  if (!c.sym) p.b.forEach((b, i) => (p.b[i] = b + 0.4 * jit[i]! * p.s[i]!));
  const gamma = randomArray(n, seed + 3, 0.5);
  return { grid, w, mask, s: p.s, b: p.b, gamma };
}

const maskF = (m: Uint8Array | null) => (m ? Float32Array.from(m) : null);

/** The WebGPU backend inside suites that are skipped without it (collection still runs their bodies). */
function theGpuBackend(): WebGpuBackend {
  return gb ?? (null as unknown as WebGpuBackend);
}

afterAll(() => gb?.destroy());

describe.skipIf(!gb)('L4Q quantizer ops: WebGPU against the CPU', () => {
  const gb = theGpuBackend();
  const gpuOps: QuantTrainOps = new WebGpuQuantTrainOps(gb);

  const up = (b: Backend, x: Float32Array | null, shape: number[]): Tensor | null => (x ? b.upload(x.slice(), shape) : null);
  const both = (x: Float32Array | null, shape: number[]) => ({ c: up(cpu, x, shape), g: up(gb, x, shape) });
  const read = (b: Backend, t: Tensor) => b.read(t);

  it('loraMerge: W0 + c·B·A, masked weights exactly 0', async () => {
    for (const [i, c] of CASES.entries()) {
      const { w, mask } = fixture(c, 10 + i);
      const rank = 3;
      const A = randomArray(rank * c.cols, 20 + i, 0.4);
      const B = randomArray(c.rows * rank, 30 + i, 0.4);
      const [W0, At, Bt, M] = [both(w, [c.rows, c.cols]), both(A, [rank, c.cols]), both(B, [c.rows, rank]), both(maskF(mask), [c.rows, c.cols])];
      const ref = await read(cpu, cpuOps.loraMerge(W0.c!, At.c!, Bt.c!, 0.75, M.c));
      const got = await read(gb, gpuOps.loraMerge(W0.g!, At.g!, Bt.g!, 0.75, M.g));
      expect(relErr(got, ref), label(c)).toBeLessThanOrEqual(1e-5);
      if (mask) mask.forEach((k, j) => k || expect(got[j], `${label(c)} [${j}]`).toBe(0));
    }
  });

  it('fakeQuant and its gradient (dW, ds, db) match the CPU; masked weights give exactly 0', async () => {
    for (const [i, c] of CASES.entries()) {
      const { grid, w, mask, s, b, gamma } = fixture(c, 40 + i);
      const shape = [c.rows, c.cols];
      const gs = [c.rows * groupsPerRow(c.cols, c.group)];
      const [W, G, S, Bo, M] = [both(w, shape), both(gamma, shape), both(s, gs), both(b, gs), both(maskF(mask), shape)];
      const refQ = await read(cpu, cpuOps.fakeQuant(W.c!, S.c!, Bo.c!, grid, c.group, M.c));
      const gotQ = await read(gb, gpuOps.fakeQuant(W.g!, S.g!, Bo.g!, grid, c.group, M.g));
      expect(relErr(gotQ, refQ), label(c)).toBeLessThanOrEqual(1e-5);
      const ref = cpuOps.fakeQuantGrad(W.c!, G.c!, S.c!, Bo.c!, grid, c.group, 0.37, M.c);
      const got = gpuOps.fakeQuantGrad(W.g!, G.g!, S.g!, Bo.g!, grid, c.group, 0.37, M.g);
      const [rdW, rds, rdb] = await Promise.all([ref.dW, ref.ds, ref.db].map((t) => read(cpu, t)));
      const [gdW, gds, gdb] = await Promise.all([got.dW, got.ds, got.db].map((t) => read(gb, t)));
      expect(relErr(gdW, rdW), `${label(c)} dW`).toBeLessThanOrEqual(1e-5);
      expect(relErr(gds, rds), `${label(c)} ds`).toBeLessThanOrEqual(1e-5);
      expect(relErr(gdb, rdb), `${label(c)} db`).toBeLessThanOrEqual(1e-5);
      // The fixtures clip at both ends and keep some weights in range, so every branch ran.
      expect(rdb.some((x) => x !== 0), `${label(c)}: some weights clip`).toBe(true);
      expect(rdW.some((x) => x !== 0), `${label(c)}: some weights in range`).toBe(true);
      if (mask) mask.forEach((k, j) => k || (expect(gotQ[j]).toBe(0), expect(gdW[j]).toBe(0)));
      // The CPU op is the host function itself (no other path to compare against).
      const host = fakeQuantize(w, { rows: c.rows, cols: c.cols, group: c.group, groupsPerRow: groupsPerRow(c.cols, c.group), s, b }, grid, mask);
      expect(refQ).toEqual(host);
      for (const t of [...Object.values(got)]) gb.dispose(t);
    }
  });

  it('rounding ties and clamp limits follow the CPU conventions (half to even; v = Qn, Qp in range; beyond clipped)', async () => {
    // s = 0.5 and b ∈ {0, 0.25}: every v = (w − b)/s below is exact in f32 and f64.
    for (const bits of [2, 3, 4]) {
      const grid: QuantGrid = quantGrid(bits);
      const vs = [-0.5, 0.5, 1.5, -1.5, 2.5 > grid.qp ? 0 : 2.5, grid.qn, grid.qp, grid.qn - 0.5, grid.qp + 0.5, grid.qn - 0.25, grid.qp + 0.25, 0];
      for (const off of [0, 0.25]) {
        const cols = vs.length;
        const w = Float32Array.from(vs, (v) => v * 0.5 + off);
        const s = Float32Array.of(0.5, 0.5, 0.5);
        const b = Float32Array.of(off, off, off);
        const gamma = Float32Array.from({ length: cols }, (_, j) => 0.125 * (j + 1));
        const shape = [1, cols];
        const [W, G, S, Bo] = [both(w, shape), both(gamma, shape), both(s, [3]), both(b, [3])];
        const q = await read(gb, gpuOps.fakeQuant(W.g!, S.g!, Bo.g!, grid, 4, null));
        const qRef = await read(cpu, cpuOps.fakeQuant(W.c!, S.c!, Bo.c!, grid, 4, null));
        expect(q, `${bits}-bit b=${off}`).toEqual(qRef);
        const rg = cpuOps.fakeQuantGrad(W.c!, G.c!, S.c!, Bo.c!, grid, 4, 1, null);
        const gg = gpuOps.fakeQuantGrad(W.g!, G.g!, S.g!, Bo.g!, grid, 4, 1, null);
        expect(await read(gb, gg.dW)).toEqual(await read(cpu, rg.dW));
        expect(relErr(await read(gb, gg.ds), await read(cpu, rg.ds))).toBeLessThanOrEqual(1e-6);
        expect(await read(gb, gg.db)).toEqual(await read(cpu, rg.db));
        // Exactly what the convention says: v = ±0.5 rounds to 0, 1.5 → 2, −1.5 → −2;
        // v = Qn and v = Qp are in range (they pass Γ); beyond them the weight is clipped.
        const host = fakeQuantizeGrad(w, gamma, { rows: 1, cols, group: 4, groupsPerRow: 3, s, b }, grid, 1);
        expect(Array.from(q.subarray(0, 4)).map((x) => (x - off) / 0.5 + 0)).toEqual([0, 0, Math.min(2, grid.qp), -2]);
        expect(host.dW[5]).toBe(gamma[5]);
        expect(host.dW[6]).toBe(gamma[6]);
        expect([host.dW[7], host.dW[8], host.dW[9], host.dW[10]]).toEqual([0, 0, 0, 0]);
      }
    }
  });

  it('at the initialisations (group extremes on the clamp limits) the clip decisions are the CPU\'s', async () => {
    let clipped = 0;
    for (const [i, c] of CASES.entries()) {
      for (const init of ['minmax', 'l4q', 'lsq'] as const) {
        const { grid, w, mask, gamma } = fixture(c, 110 + i);
        const p = initGroupQuant(w, c.rows, c.cols, c.group, grid, init, mask);
        const shape = [c.rows, c.cols];
        const [W, G, S, Bo, M] = [both(w, shape), both(gamma, shape), both(p.s, [p.s.length]), both(p.b, [p.b.length]), both(maskF(mask), shape)];
        const ref = cpuOps.fakeQuantGrad(W.c!, G.c!, S.c!, Bo.c!, grid, c.group, 1, M.c);
        const got = gpuOps.fakeQuantGrad(W.g!, G.g!, S.g!, Bo.g!, grid, c.group, 1, M.g);
        const rdW = await read(cpu, ref.dW);
        // dW is Γ or 0 per weight: equal arrays mean every in-range/clipped decision agreed.
        expect(await read(gb, got.dW), `${label(c)} ${init}`).toEqual(rdW);
        expect(relErr(await read(gb, got.ds), await read(cpu, ref.ds)), `${label(c)} ${init} ds`).toBeLessThanOrEqual(1e-5);
        expect(relErr(await read(gb, got.db), await read(cpu, ref.db)), `${label(c)} ${init} db`).toBeLessThanOrEqual(1e-5);
        clipped += rdW.filter((x, j) => x === 0 && (!mask || mask[j])).length;
      }
    }
    // Some extremes land just outside the limits on the CPU (float64 v), so both sides occur.
    expect(clipped).toBeGreaterThan(0);
  });

  it('loraGrads: c·Bᵀ·Γ\' and c·Γ\'·Aᵀ, with and without a mask on Γ', async () => {
    for (const [i, c] of CASES.entries()) {
      const { mask, gamma } = fixture(c, 60 + i);
      const rank = i % 2 ? 1 : 4;
      const A = randomArray(rank * c.cols, 70 + i, 0.4);
      const B = randomArray(c.rows * rank, 80 + i, 0.4);
      const [G, At, Bt, M] = [both(gamma, [c.rows, c.cols]), both(A, [rank, c.cols]), both(B, [c.rows, rank]), both(maskF(mask), [c.rows, c.cols])];
      const ref = cpuOps.loraGrads(G.c!, At.c!, Bt.c!, 1.5, M.c);
      const got = gpuOps.loraGrads(G.g!, At.g!, Bt.g!, 1.5, M.g);
      expect(relErr(await read(gb, got.dA), await read(cpu, ref.dA)), `${label(c)} dA`).toBeLessThanOrEqual(1e-5);
      expect(relErr(await read(gb, got.dB), await read(cpu, ref.dB)), `${label(c)} dB`).toBeLessThanOrEqual(1e-5);
    }
  });

  it('adamStep: five steps in place (p, m, v), with and without the floor', async () => {
    const n = 37;
    for (const floored of [false, true]) {
      const p = randomArray(n, 90, 0.1);
      const floor = floored ? Float32Array.from(p, (x) => x - 0.002) : null;
      const [P, Mm, V, F] = [both(p, [n]), both(new Float32Array(n), [n]), both(new Float32Array(n), [n]), both(floor, [n])];
      for (let t = 1; t <= 5; t++) {
        const grad = randomArray(n, 100 + t, t === 3 ? 1e-4 : 1);
        const Gr = both(grad, [n]);
        const o = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, t };
        cpuOps.adamStep(P.c!, Gr.c!, Mm.c!, V.c!, o, F.c);
        gpuOps.adamStep(P.g!, Gr.g!, Mm.g!, V.g!, o, F.g);
      }
      for (const [name, x] of [['p', P], ['m', Mm], ['v', V]] as const) {
        expect(relErr(await read(gb, x.g!), await read(cpu, x.c!)), `${name} floored=${floored}`).toBeLessThanOrEqual(1e-5);
      }
      if (floor) {
        const got = await read(gb, P.g!);
        got.forEach((x, i) => expect(x).toBeGreaterThanOrEqual(floor[i]!));
        expect(got.some((x, i) => x === floor[i])).toBe(true);
      }
    }
  });

  it('the trainer\'s default: the host path on the CPU and on a software adapter', () => {
    expect(quantTrainOpsFor(cpu)).toBeNull();
    if (gb.adapter.isFallbackAdapter) expect(quantTrainOpsFor(gb)).toBeNull();
    else expect(quantTrainOpsFor(gb)).toBeInstanceOf(WebGpuQuantTrainOps);
  });

  it('refuses tensors that do not fit with a clear error', () => {
    const W = gb.upload(new Float32Array(12), [3, 4]);
    const A = gb.upload(new Float32Array(8), [2, 4]);
    const B = gb.upload(new Float32Array(4), [2, 2]);
    expect(() => gpuOps.loraMerge(W, A, B, 1, null)).toThrow(/do not fit a \[3, 4\] weight/);
    const s = gb.upload(new Float32Array(2), [2]);
    expect(() => gpuOps.fakeQuant(W, s, s, quantGrid(4), 2, null)).toThrow(/s has 2 values/);
    expect(() => gpuOps.fakeQuant(cpu.upload(new Float32Array(12), [3, 4]), s, s, quantGrid(4), 2, null)).toThrow(/another backend/);
  });
});

// ---- the trainer's device path ---------------------------------------------------------------

const cfg = tinyTrainingConfig;

const opts: L4QOptions = { ...L4Q_DEFAULTS, bits: 3, group: 8, rank: 4, alpha: 8, steps: 8, warmup: 3, lr: 1e-2, lrQuant: 1e-2, batch: 2, seed: 1 };

/** A model whose q, up and down of layer 0 are half pruned (masks: b ≡ 0 there). */
function prunedWeights(seed: number) {
  const w = randomWeights(cfg, seed);
  const l = w.layers[0]!;
  for (const m of [l.q, l.up, l.down]) m.data.forEach((x, i, d) => (i % 2 === 0 ? (d[i] = 0) : x));
  return w;
}

async function run(tr: L4QTrainer) {
  const losses: number[] = [];
  while (!tr.done) losses.push((await tr.trainStep()).loss);
  return losses;
}

function maxRel(a: Float32Array[], b: Float32Array[]): number {
  return Math.max(...a.map((x, i) => relErr(x, b[i]!)));
}

describe('L4Q trainer: the device path (QuantTrainOps) against the host path', () => {
  it('with the CPU ops, losses, A, B, s, b and the merged codes equal the host loop (asym, sym, pruned)', async () => {
    for (const o of [opts, { ...opts, symmetric: true, init: 'l4q' as const, bits: 4 }]) {
      const w = prunedWeights(3);
      const host = new L4QTrainer(new CpuTrainingBackend(), cfg, w, patterned(6, 12, 4), o);
      const dev = new L4QTrainer(new CpuTrainingBackend(), cfg, w, patterned(6, 12, 4), o, true, new CpuQuantTrainOps());
      const [lh, ld] = [await run(host), await run(dev)];
      expect(ld.length).toBe(o.steps);
      for (let i = 0; i < lh.length; i++) expect(Math.abs(ld[i]! - lh[i]!), `step ${i}`).toBeLessThan(1e-6);
      expect(maxRel(dev.linears.map((x) => x.lora.A), host.linears.map((x) => x.lora.A))).toBeLessThan(1e-5);
      expect(maxRel(dev.linears.map((x) => x.lora.B), host.linears.map((x) => x.lora.B))).toBeLessThan(1e-5);
      expect(maxRel(dev.linears.map((x) => x.quant!.s), host.linears.map((x) => x.quant!.s))).toBeLessThan(1e-5);
      expect(maxRel(dev.linears.map((x) => x.quant!.b), host.linears.map((x) => x.quant!.b))).toBeLessThan(1e-5);
      // b is learned only where the linear is dense and the mode asymmetric.
      for (const x of dev.linears) if (x.mask || o.symmetric) expect(x.quant!.b.every((v) => v === 0)).toBe(true);
      expect(dev.linears.some((x) => x.quant!.b.some((v) => v !== 0))).toBe(!o.symmetric);
      const [mh, md] = [host.merge(), dev.merge()];
      let differing = 0;
      let total = 0;
      mh.linears.forEach((l, li) => {
        for (const [name, q] of Object.entries(l)) {
          const qd = md.linears[li]![name as keyof typeof l]!;
          total += q!.codes.length;
          q!.codes.forEach((c, i) => (differing += c === qd.codes[i] ? 0 : 1));
        }
      });
      expect(differing / total).toBeLessThan(1e-3);
      // Pruned weights are exactly zero in the merged model.
      for (const m of [md.weights.layers[0]!.q, md.weights.layers[0]!.down]) for (let i = 0; i < m.data.length; i += 2) expect(m.data[i]).toBe(0);
      expect(dev.memory()).toEqual({ ...host.memory() });
      host.dispose();
      dev.dispose();
    }
  });

  it('a device step reads back only the loss (one read per sequence); a host step every Γ too', async () => {
    const count = async (ops: QuantTrainOps | null) => {
      const b = new CpuTrainingBackend();
      const tr = new L4QTrainer(b, cfg, prunedWeights(2), patterned(4, 10, 1), { ...opts, steps: 4, warmup: 1 }, true, ops);
      const reads: number[] = [];
      const read = b.read.bind(b);
      let n = 0;
      b.read = (t) => (n++, read(t));
      while (!tr.done) {
        n = 0;
        await tr.trainStep();
        reads.push(n);
      }
      return { reads, L: tr.linears.length };
    };
    const dev = await count(new CpuQuantTrainOps());
    // Besides the losses: A, B once when s, b are initialised (step Tw = 1), and A, B, s, b after the last step.
    expect(dev.reads).toEqual([opts.batch, opts.batch + 2 * dev.L, opts.batch, opts.batch + 4 * dev.L]);
    const host = await count(null);
    expect(host.reads).toEqual(Array(4).fill(opts.batch + host.L));
  });

  it('gradients() reads the device gradients back; merge() before the host copies are current is refused', async () => {
    const w = randomWeights(cfg, 2);
    const host = new L4QTrainer(new CpuTrainingBackend(), cfg, w, patterned(4, 10, 1), opts);
    const dev = new L4QTrainer(new CpuTrainingBackend(), cfg, w, patterned(4, 10, 1), opts, true, new CpuQuantTrainOps());
    for (let i = 0; i < 4; i++) {
      await host.trainStep();
      await dev.trainStep();
    }
    expect(() => dev.merge()).toThrow(/syncHost/);
    expect(() => dev.floatWeights()).toThrow(/syncHost/);
    await dev.syncHost();
    const batch = patterned(2, 10, 7);
    const [gh, gd] = [await host.gradients(batch), await dev.gradients(batch)];
    expect(Math.abs(gd.loss - gh.loss)).toBeLessThan(1e-6);
    expect(gd.lora.length).toBe(gh.lora.length);
    expect(gd.quant.length).toBe(gh.quant.length);
    expect(maxRel(gd.lora, gh.lora)).toBeLessThan(1e-4);
    expect(maxRel(gd.quant.map((x) => Float32Array.from(x)), gh.quant.map((x) => Float32Array.from(x)))).toBeLessThan(1e-4);
    expect(dev.merge().linears.length).toBe(cfg.numLayers);
  });
});

/*
 * On WebGPU the merge, the gradients and Adam sum in f32, so A, B and W' differ from the CPU's
 * in the last bits. That is harmless except at one moment: the quantizer's initialisation puts
 * each group's extremes exactly on the clamp limits, where the gradient jumps (a clipped weight
 * passes Qn·Γ to s, an in-range one ≈ 0), and a last-bit difference in W' picks the side. So
 * the end-to-end comparison runs the LoRA phase alone, and the joint phase from step 0 (B = 0:
 * W' = W0 exactly on both), where the limits are decided identically (exact sign in the kernel).
 */
describe.skipIf(!gb || !isTrainingBackend(gb))('L4Q trainer end to end on WebGPU', () => {
  async function compare(o: L4QOptions, seed: number) {
    const gpu = theGpuBackend();
    if (!isTrainingBackend(gpu)) throw new Error('unreachable: the suite runs only on a training backend');
    const w = prunedWeights(seed);
    const host = new L4QTrainer(new CpuTrainingBackend(), cfg, w, patterned(4, 10, 3), o);
    // Forced: on a software adapter (SwiftShader here) 'auto' would take the host path.
    const dev = new L4QTrainer(gpu, cfg, w, patterned(4, 10, 3), o, true, new WebGpuQuantTrainOps(gpu));
    const [lh, ld] = [await run(host), await run(dev)];
    for (let i = 0; i < lh.length; i++) expect(Math.abs(ld[i]! - lh[i]!) / Math.abs(lh[i]!), `step ${i}`).toBeLessThan(1e-4);
    dev.dispose();
    // Deterministic for a seed: no atomics, fixed summation orders.
    const again = new L4QTrainer(gpu, cfg, w, patterned(4, 10, 3), o, true, new WebGpuQuantTrainOps(gpu));
    expect(await run(again)).toEqual(ld);
    again.dispose();
    return { host, dev };
  }

  it('LoRA warm-up steps: the losses and A, B of the CPU reference', async () => {
    const { host, dev } = await compare({ ...opts, steps: 4, warmup: 4 }, 6);
    expect(maxRel(dev.linears.map((x) => x.lora.A), host.linears.map((x) => x.lora.A))).toBeLessThan(1e-4);
    expect(maxRel(dev.linears.map((x) => x.lora.B), host.linears.map((x) => x.lora.B))).toBeLessThan(1e-4);
  });

  it('joint steps (asymmetric and pruned linears): the losses and final s, b of the CPU reference', async () => {
    const { host, dev } = await compare({ ...opts, steps: 5, warmup: 0 }, 5);
    expect(maxRel(dev.linears.map((x) => x.quant!.s), host.linears.map((x) => x.quant!.s))).toBeLessThan(1e-4);
    expect(maxRel(dev.linears.map((x) => x.quant!.b), host.linears.map((x) => x.quant!.b))).toBeLessThan(1e-4);
    expect(maxRel(dev.linears.map((x) => x.lora.B), host.linears.map((x) => x.lora.B))).toBeLessThan(1e-3);
    // The merge reads the trained values back; pruned weights are exactly zero in it.
    const l0 = dev.merge().weights.layers[0]!;
    for (const m of [l0.q, l0.up, l0.down]) for (let i = 0; i < m.data.length; i += 2) expect(m.data[i]).toBe(0);
  });
});

/**
 * The pruning kernels (backend/webgpu/kernels/prune-*.ts through WebGpuPruneOps) against
 * the host reference (backend/cpu/prune-ops.ts CPU_PRUNE_OPS): every mask and every
 * column sum must be identical, bit for bit — ties, near-ties (one ulp apart, products
 * that round to the same float32), odd sizes, rows longer than one scan chunk (2048
 * columns) and matrices longer than one histogram workgroup (4096 keys). Tiny shapes: the
 * SwiftShader adapter is slow. Skipped (with a warning) when no WebGPU adapter exists.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capability } from '../src/engine/backend/backend';
import type { WebGpuBackend } from '../src/engine/backend/webgpu';
import type { WebGpuPruneOps } from '../src/engine/backend/webgpu/prune-ops';
import { ChannelStats } from '../src/engine/calibrate';
import type { HostTensor } from '../src/engine/model/weights';
import { flapChannelScores } from '../src/engine/prune/flap';
import { magnitudeMask } from '../src/engine/prune/magnitude';
import { CPU_PRUNE_OPS, pruneOpsFor, type ColumnTerm, type PruneOps, type Selection } from '../src/engine/prune/ops';
import { wandaColumnScale, wandaMask } from '../src/engine/prune/wanda';
import { gpuOrSkip, makeBackend, randomArray, webGpuUnavailable } from './support/webgpu';

let backend: WebGpuBackend | null = null;
let ops: PruneOps & { hostFallbacks: Map<string, number> };

beforeAll(async () => {
  const g = await gpuOrSkip('prune-gpu-kernels');
  if (!g) return;
  backend = await makeBackend(g);
  ops = capability(backend, 'prune') as WebGpuPruneOps;
});
afterAll(() => backend?.destroy());

const t = (rows: number, cols: number, data: Float32Array): HostTensor => ({ shape: [rows, cols], data });

/** Values on a coarse grid (many exact ties, ± pairs with equal |w|) plus exact zeros. */
function tied(n: number, seed: number, levels = 4): Float32Array {
  return Float32Array.from(randomArray(n, seed), (v, i) => (i % 11 === 0 ? 0 : Math.round(v * levels) / levels));
}

/** Values packed within a few ulps of each other (near-ties). */
function nearTies(n: number, seed: number): Float32Array {
  const base = new Uint32Array(Float32Array.of(0.3).buffer)[0]!;
  const r = randomArray(n, seed);
  const bits = Uint32Array.from(r, (v) => base + Math.floor((v + 1) * 3));
  return Float32Array.from(new Float32Array(bits.buffer), (v, i) => (i % 2 ? -v : v));
}

function mismatches(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) d++;
  return d;
}

async function expectSameMask(w: HostTensor, scale: Float32Array | null, sel: Selection, label: string): Promise<Uint8Array> {
  const want = await CPU_PRUNE_OPS.mask(w, scale, sel);
  const got = await ops.mask(w, scale, sel);
  expect(mismatches(got, want), `${label}: ${JSON.stringify(sel)}`).toBe(0);
  return got;
}

const ones = (m: Uint8Array) => m.reduce((a, v) => a + v, 0);

describe('GPU pruning selection equals the host reference', () => {
  it('per row: k lowest, ties pruned in column order (odd sizes, all-equal rows, near-ties)', async (ctx) => {
    if (!backend) return ctx.skip(webGpuUnavailable());
    const before = ops.hostFallbacks.size;
    // All-equal rows: exactly the first k columns go.
    const eq = t(3, 37, new Float32Array(3 * 37).fill(0.5));
    for (const k of [1, 5, 18, 36]) {
      const m = await expectSameMask(eq, null, { kind: 'row', k }, 'all equal');
      for (let r = 0; r < 3; r++) for (let c = 0; c < 37; c++) expect(m[r * 37 + c]).toBe(c < k ? 1 : 0);
    }
    for (const [rows, cols] of [[1, 1], [2, 31], [3, 33], [5, 70], [2, 2113]] as const) {
      for (const [name, data] of [['tied', tied(rows * cols, rows * 7 + cols)], ['near-ties', nearTies(rows * cols, cols)], ['random', randomArray(rows * cols, cols + 1)]] as const) {
        for (const p of [0.1, 0.5, 0.9]) {
          const k = Math.floor(cols * p);
          const m = await expectSameMask(t(rows, cols, data), null, { kind: 'row', k }, `${name} ${rows}×${cols}`);
          expect(ones(m)).toBe(k <= 0 ? 0 : rows * Math.min(k, cols));
        }
      }
    }
    expect(ops.hostFallbacks.size).toBe(before);
  });

  it('Wanda scores |W|·√scaler: products that round to the same float32 tie by column', async (ctx) => {
    if (!backend) return ctx.skip(webGpuUnavailable());
    const before = [...ops.hostFallbacks.values()].reduce((a, v) => a + v, 0);
    // 3·(1/3) and 1·1: equal after rounding only in some cases — craft exact f32 collisions:
    // w·s with s = 2^e scales exactly, so |w| = 0.75 at s = 1 equals |w| = 0.375 at s = 2.
    const cols = 8;
    const scaler = Float32Array.from([1, 4, 1, 4, 0, 16, 1, 4]);
    const w = t(2, cols, Float32Array.from([0.75, 0.375, -0.75, -0.375, 5, 0.1875, 0.75, 0.375, 0.1, 0.05, 0.1, -0.05, 1, 0.025, 0.1, 0.05]));
    for (const k of [1, 2, 3, 4, 5, 7]) {
      const want = wandaMask(w, scaler, { sparsity: k / cols, pattern: 'unstructured', mode: 'sequential', variant: false }).mask;
      const got = (await wandaMask(w, scaler, { sparsity: k / cols, pattern: 'unstructured', mode: 'sequential', variant: false }, ops)).mask;
      expect(mismatches(got, want), `k=${k}`).toBe(0);
    }
    // Random and near-tied weights and statistics, rows longer than one scan chunk.
    for (const [rows, cols2] of [[4, 45], [3, 2100]] as const) {
      const sc = Float32Array.from(randomArray(cols2, 9), (v, i) => (i % 13 === 0 ? 0 : Math.abs(v) * 3));
      for (const data of [nearTies(rows * cols2, 3), tied(rows * cols2, 4, 8), randomArray(rows * cols2, 5)]) {
        const wt = t(rows, cols2, data);
        for (const p of [0.3, 0.5]) await expectSameMask(wt, wandaColumnScale(wt, sc), { kind: 'row', k: Math.floor(cols2 * p) }, `wanda ${rows}×${cols2}`);
      }
    }
    expect([...ops.hostFallbacks.values()].reduce((a, v) => a + v, 0)).toBe(before);
  });

  it('per matrix: every |W| ≤ the value at index ⌊numel·p⌋ (ties with it pruned), beyond one workgroup', async (ctx) => {
    if (!backend) return ctx.skip(webGpuUnavailable());
    for (const [rows, cols] of [[1, 1], [3, 5], [7, 33], [37, 150]] as const) {
      for (const data of [tied(rows * cols, 11), nearTies(rows * cols, 12), randomArray(rows * cols, 13)]) {
        const w = t(rows, cols, data);
        for (const p of [0.05, 0.5, 0.77, 0.999]) {
          await expectSameMask(w, null, { kind: 'matrix', sparsity: p }, `matrix ${rows}×${cols}`);
          const want = magnitudeMask(w, { sparsity: p, pattern: 'unstructured', granularity: 'matrix' });
          expect(ones(want)).toBeGreaterThanOrEqual(Math.min(rows * cols, Math.floor(rows * cols * p) + 1));
        }
      }
    }
  });

  it('N:M: the N lowest of each M-block (2:4, 4:8, 3:7; partial last blocks; ties)', async (ctx) => {
    if (!backend) return ctx.skip(webGpuUnavailable());
    for (const [n, m] of [[2, 4], [4, 8], [3, 7], [1, 1], [5, 5]] as const) {
      for (const cols of [m, 30, 33]) {
        for (const data of [tied(3 * cols, n * 31 + m, 2), nearTies(3 * cols, cols), randomArray(3 * cols, m)]) {
          const w = t(3, cols, data);
          await expectSameMask(w, null, { kind: 'nm', n, m }, `${n}:${m} cols ${cols}`);
          const scale = Float32Array.from(randomArray(cols, 77), (v) => Math.abs(v));
          await expectSameMask(w, scale, { kind: 'nm', n, m }, `${n}:${m} scaled cols ${cols}`);
        }
      }
    }
  });

  it('falls back to the host reference for NaN, Inf and subnormal scores, with the same masks', async (ctx) => {
    if (!backend) return ctx.skip(webGpuUnavailable());
    const count = () => [...ops.hostFallbacks.values()].reduce((a, v) => a + v, 0);
    const data = randomArray(2 * 9, 21);
    data[3] = NaN;
    const before = count();
    await expectSameMask(t(2, 9, data), null, { kind: 'row', k: 4 }, 'NaN');
    expect(count()).toBe(before + 1);
    const tiny = randomArray(2 * 9, 22);
    tiny[5] = 1e-40; // subnormal weight: a GPU may flush it to zero
    await expectSameMask(t(2, 9, tiny), Float32Array.from({ length: 9 }, () => 2), { kind: 'row', k: 4 }, 'subnormal');
    expect(count()).toBe(before + 2);
    // A subnormal weight with no scale is only bits: no fallback needed.
    await expectSameMask(t(2, 9, tiny), null, { kind: 'row', k: 4 }, 'subnormal magnitude');
    expect(count()).toBe(before + 2);
  });
});

describe('GPU column sums and FLAP scores equal the host reference', () => {
  const same = (a: Float32Array, b: Float32Array) => {
    expect(a.length).toBe(b.length);
    const ab = new Uint32Array(a.buffer, a.byteOffset, a.length);
    const bb = new Uint32Array(b.buffer, b.byteOffset, b.length);
    let d = 0;
    for (let i = 0; i < ab.length; i++) if (ab[i] !== bb[i]) d++;
    return d;
  };

  it('Σ_i f32(W_ij²) and Σ_i f32(|W_ij|·s_j) in float32 row order, bit for bit', async (ctx) => {
    if (!backend) return ctx.skip(webGpuUnavailable());
    for (const [rows, cols] of [[1, 3], [67, 5], [300, 70]] as const) {
      // Mixed magnitudes make the float32 accumulation order matter.
      const w = t(rows, cols, Float32Array.from(randomArray(rows * cols, rows + cols), (v, i) => v * 10 ** ((i % 7) - 3)));
      const terms: ColumnTerm[] = [{ kind: 'square' }, { kind: 'abs-scaled', scale: Float32Array.from(randomArray(cols, 3), (v, i) => (i === 0 ? 0 : Math.abs(v) * 7)) }];
      for (const term of terms) {
        const want = await CPU_PRUNE_OPS.columnSums(w, term);
        const got = await ops.columnSums(w, term);
        expect(same(got, want), `${term.kind} ${rows}×${cols}`).toBe(0);
      }
    }
  });

  it('integer-arithmetic products and sums round to nearest, ties to even (as Math.fround)', async (ctx) => {
    if (!backend) return ctx.skip(webGpuUnavailable());
    const f = Math.fround;
    // Exact halfway cases: (1 + 2^-12)² = 1 + 2^-11 + 2^-24 (tie → even), (1 + 3·2^-12)² …,
    // products that carry into the next binade, and random significands.
    const xs = [1 + 2 ** -12, 1 + 3 * 2 ** -12, 1 + 2 ** -23, 2 - 2 ** -23, 1.5, 3 - 2 ** -22, ...randomArray(250, 5, 40)].map(f);
    const w1 = t(1, xs.length, Float32Array.from(xs));
    const sq = await ops.columnSums(w1, { kind: 'square' });
    xs.forEach((x, i) => expect(sq[i], `${x}²`).toBe(f(x * x)));
    const scale = Float32Array.from(xs, (_, i) => f(1 + ((i * 2654435761) % 1000) / 997));
    const sc = await ops.columnSums(w1, { kind: 'abs-scaled', scale });
    xs.forEach((x, i) => expect(sc[i], `|${x}|·${scale[i]}`).toBe(f(Math.abs(x) * scale[i]!)));
    // Sums: the same value (carry), far apart (sticky only), one ulp apart, halfway sums, and
    // just above halfway by bits that are shifted out (the sticky bit decides).
    const a = [1, 1, 2 ** 20, 1 + 2 ** -23, 1, 3, 1, 1, ...randomArray(200, 6, 1).map((v) => v * 2 ** ((v * 1000) % 40))].map((v) => f(Math.abs(v)));
    const b = [1, 2 ** -40, 2 ** -4, 2 ** -23, 2 ** -24, 2 ** -23, 2 ** -24 + 2 ** -40, 2 ** -25 + 2 ** -45, ...randomArray(200, 7, 1).map((v) => v * 2 ** ((v * 777) % 40))].map((v) => f(Math.abs(v)));
    // Column j holds a_j, b_j: with scale 1 the terms are the values themselves.
    const w2 = t(2, a.length, Float32Array.from([...a, ...b]));
    const sums = await ops.columnSums(w2, { kind: 'abs-scaled', scale: new Float32Array(a.length).fill(1) });
    a.forEach((x, j) => expect(sums[j], `${x} + ${b[j]}`).toBe(f(x + b[j]!)));
  });

  it('IFV, WIFV and WIFN channel scores', async (ctx) => {
    if (!backend) return ctx.skip(webGpuUnavailable());
    const rows = 40;
    const cols = 24;
    const w = t(rows, cols, randomArray(rows * cols, 99, 0.2));
    const st = new ChannelStats(cols);
    // Two samples of random activations give non-trivial scaler, mean and fluctuation.
    for (const seed of [1, 2]) {
      const x = randomArray(16 * cols, seed, 2);
      const sum = new Float64Array(cols);
      const sumSq = new Float64Array(cols);
      for (let i = 0; i < x.length; i++) {
        sum[i % cols] += x[i]!;
        sumSq[i % cols] += x[i]! * x[i]!;
      }
      st.add({ channels: cols, tokens: 16, sum, sumSq });
    }
    for (const metric of ['IFV', 'WIFV', 'WIFN'] as const) {
      for (const fluc of ['official', 'variance'] as const) {
        const want = flapChannelScores(w, st, metric, fluc);
        const got = await flapChannelScores(w, st, metric, fluc, ops);
        expect(same(got, want), `${metric} ${fluc}`).toBe(0);
      }
    }
  });

  it('the backend offers its ops (by default only on a hardware adapter); the CPU backend gets the host reference', (ctx) => {
    if (!backend) return ctx.skip(webGpuUnavailable());
    expect(pruneOpsFor(backend, 'device').device).toBe('webgpu');
    expect(pruneOpsFor(backend, 'host')).toBe(CPU_PRUNE_OPS);
    expect(pruneOpsFor(backend).device).toBe(backend.adapter.isFallbackAdapter ? 'cpu' : 'webgpu');
    expect(pruneOpsFor(null)).toBe(CPU_PRUNE_OPS);
  });
});

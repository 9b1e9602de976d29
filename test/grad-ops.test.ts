/**
 * Gradient checks of every backward op of the CPU reference (GradOps) against central
 * finite differences of a float64 copy of the forward math. The scalar checked is
 * L = Σ f(x)·R for a fixed random R, so the op's backward is called with dY = R.
 */
import { describe, expect, it } from 'vitest';
import { CpuTrainingBackend } from '../src/engine/backend/cpu/cpu-grad';
import type { Tensor } from '../src/engine/backend/backend';
import { seededNormal } from '../src/engine/random';

const b = new CpuTrainingBackend();

function rand(n: number, seed: number, scale = 1): Float32Array {
  const g = seededNormal(seed);
  return Float32Array.from({ length: n }, () => g() * scale);
}

/** Central differences of L = Σ f(inputs)·R with respect to inputs[which], in float64. */
function numericGrad(f: (xs: Float64Array[]) => Float64Array, inputs: Float32Array[], R: Float32Array, which: number): Float64Array {
  const xs = inputs.map((x) => Float64Array.from(x));
  const loss = () => f(xs).reduce((a, y, i) => a + y * R[i]!, 0);
  const x = xs[which]!;
  const g = new Float64Array(x.length);
  const h = 1e-6;
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i]!;
    x[i] = x0 + h;
    const lp = loss();
    x[i] = x0 - h;
    const lm = loss();
    x[i] = x0;
    g[i] = (lp - lm) / (2 * h);
  }
  return g;
}

async function expectClose(analytic: Tensor, numeric: Float64Array, tol = 2e-4) {
  const a = await b.read(analytic);
  expect(a.length).toBe(numeric.length);
  let scale = 0;
  for (const v of numeric) scale = Math.max(scale, Math.abs(v));
  expect(scale).toBeGreaterThan(0);
  let err = 0;
  for (let i = 0; i < a.length; i++) err = Math.max(err, Math.abs(a[i]! - numeric[i]!));
  expect(err / scale).toBeLessThan(tol);
}

// Float64 forward references (the same math as the CPU backend, in float64).
function matmul64(x: Float64Array, w: Float64Array, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let r = 0; r < n; r++) for (let c = 0; c < m; c++) for (let j = 0; j < k; j++) out[r * m + c] += x[r * k + j]! * w[c * k + j]!;
  return out;
}

function rmsnorm64(x: Float64Array, w: Float64Array, d: number, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let ss = 0;
    for (let j = 0; j < d; j++) ss += x[r * d + j]! ** 2;
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) out[r * d + j] = x[r * d + j]! * inv * w[j]!;
  }
  return out;
}

function rope64(x: Float64Array, cos: Float32Array, sin: Float32Array, heads: number, hd: number): Float64Array {
  const d = heads * hd;
  const half = hd / 2;
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < half; i++) {
        const o = r * d + h * hd;
        const [c, s] = [cos[r * half + i]!, sin[r * half + i]!];
        out[o + i] = x[o + i]! * c - x[o + i + half]! * s;
        out[o + i + half] = x[o + i + half]! * c + x[o + i]! * s;
      }
  return out;
}

function attention64(q: Float64Array, k: Float64Array, v: Float64Array, H: number, KV: number, hd: number): Float64Array {
  const T = q.length / (H * hd);
  const out = new Float64Array(q.length);
  for (let h = 0; h < H; h++) {
    const kvh = Math.floor(h / (H / KV));
    for (let i = 0; i < T; i++) {
      const s: number[] = [];
      for (let j = 0; j <= i; j++) {
        let dot = 0;
        for (let e = 0; e < hd; e++) dot += q[i * H * hd + h * hd + e]! * k[j * KV * hd + kvh * hd + e]!;
        s.push(dot / Math.sqrt(hd));
      }
      const max = Math.max(...s);
      const p = s.map((x) => Math.exp(x - max));
      const den = p.reduce((a, x) => a + x, 0);
      for (let e = 0; e < hd; e++) {
        let acc = 0;
        for (let j = 0; j <= i; j++) acc += (p[j]! / den) * v[j * KV * hd + kvh * hd + e]!;
        out[i * H * hd + h * hd + e] = acc;
      }
    }
  }
  return out;
}

describe('CPU backward ops against finite differences (float64)', () => {
  it('matmul: dX = dY·W and dW = dYᵀ·X', async () => {
    const [n, k, m] = [3, 5, 4];
    const x = rand(n * k, 1);
    const w = rand(m * k, 2);
    const R = rand(n * m, 3);
    const f = (xs: Float64Array[]) => matmul64(xs[0]!, xs[1]!, n, k, m);
    const dy = b.upload(R, [n, m]);
    await expectClose(b.matmulGradInput(dy, b.upload(w, [m, k])), numericGrad(f, [x, w], R, 0));
    await expectClose(b.matmulGradWeight(dy, b.upload(x, [n, k])), numericGrad(f, [x, w], R, 1));
  });

  it('RMSNorm: input gradient with the weight frozen', async () => {
    const [n, d, eps] = [3, 6, 1e-5];
    const x = rand(n * d, 4);
    const w = rand(d, 5);
    const R = rand(n * d, 6);
    const f = (xs: Float64Array[]) => rmsnorm64(xs[0]!, Float64Array.from(w), d, eps);
    await expectClose(b.rmsnormGradInput(b.upload(x, [n, d]), b.upload(w, [d]), eps, b.upload(R, [n, d])), numericGrad(f, [x], R, 0));
  });

  it('RoPE: the inverse rotation', async () => {
    const [T, H, hd] = [3, 2, 4];
    const x = rand(T * H * hd, 7);
    const ang = rand(T * hd / 2, 8, 2);
    const cos = ang.map(Math.cos);
    const sin = ang.map(Math.sin);
    const R = rand(T * H * hd, 9);
    const f = (xs: Float64Array[]) => rope64(xs[0]!, cos, sin, H, hd);
    const g = b.ropeGradInput(b.upload(R, [T, H * hd]), b.upload(cos, [T, hd / 2]), b.upload(sin, [T, hd / 2]), H, hd);
    await expectClose(g, numericGrad(f, [x], R, 0));
  });

  it('causal GQA attention: dq, dk, dv (two query heads per key/value head)', async () => {
    const [T, H, KV, hd] = [4, 4, 2, 3];
    const q = rand(T * H * hd, 10);
    const k = rand(T * KV * hd, 11);
    const v = rand(T * KV * hd, 12);
    const R = rand(T * H * hd, 13);
    const f = (xs: Float64Array[]) => attention64(xs[0]!, xs[1]!, xs[2]!, H, KV, hd);
    const g = b.attentionGrad(b.upload(q, [T, H * hd]), b.upload(k, [T, KV * hd]), b.upload(v, [T, KV * hd]), b.upload(R, [T, H * hd]), { numHeads: H, numKvHeads: KV, headDim: hd });
    await expectClose(g.dq, numericGrad(f, [q, k, v], R, 0));
    await expectClose(g.dk, numericGrad(f, [q, k, v], R, 1));
    await expectClose(g.dv, numericGrad(f, [q, k, v], R, 2));
  });

  it('SwiGLU: gate and up gradients', async () => {
    const n = 12;
    const g0 = rand(n, 14, 2);
    const u0 = rand(n, 15);
    const R = rand(n, 16);
    const f = (xs: Float64Array[]) => xs[0]!.map((x, i) => (x / (1 + Math.exp(-x))) * xs[1]![i]!);
    const g = b.swigluGrad(b.upload(g0, [3, 4]), b.upload(u0, [3, 4]), b.upload(R, [3, 4]));
    await expectClose(g.dGate, numericGrad(f, [g0, u0], R, 0));
    await expectClose(g.dUp, numericGrad(f, [g0, u0], R, 1));
  });

  it('cross-entropy: mean NLL over tokens', async () => {
    const [n, V] = [3, 7];
    const logits = rand(n * V, 17, 3);
    const targets = Int32Array.from([2, 0, 6]);
    const f = (xs: Float64Array[]) => {
      let s = 0;
      for (let r = 0; r < n; r++) {
        const row = xs[0]!.subarray(r * V, (r + 1) * V);
        const max = Math.max(...row);
        s += max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)) - row[targets[r]!]!;
      }
      return Float64Array.of(s / n);
    };
    const g = b.nllGrad(b.upload(logits, [n, V]), b.uploadIds(targets), 1 / n);
    await expectClose(g, numericGrad(f, [logits], Float32Array.of(1), 0));
  });

  it('refuses mismatched shapes with a message', () => {
    expect(() => b.matmulGradInput(b.upload(new Float32Array(6), [2, 3]), b.upload(new Float32Array(8), [4, 2]))).toThrow(/matmulGradInput/);
    expect(() => b.matmulGradWeight(b.upload(new Float32Array(6), [2, 3]), b.upload(new Float32Array(6), [3, 2]))).toThrow(/matmulGradWeight/);
  });
});

/**
 * The CPU reference of the training backward ops (GradOps in ../grad-ops.ts): plain loops,
 * sums in float64, results float32, like the forward CPU backend it extends. Every formula
 * is written on the interface; tests check each against finite differences in float64.
 */
import { rotateHalf } from './rotate-half';
import { causalRowWeights } from './attention-row';
import { capabilityFrom, type AttentionShape, type BackendCapabilities, type CapabilityName, type Tensor } from '../backend';
import type { AttentionGrads, GradOps, SwigluGrads } from '../grad-ops';
import { CpuBackend, CpuIds, CpuTensor } from './cpu-backend';

function t(x: Tensor): CpuTensor {
  if (!(x instanceof CpuTensor)) throw new Error('CPU backend: tensor from another backend');
  return x;
}

function cols(x: CpuTensor): number {
  return x.shape[x.shape.length - 1]!;
}

export class CpuTrainingBackend extends CpuBackend implements GradOps {
  /** The CPU backend's capabilities and the backward ops (this object). */
  override capability<K extends CapabilityName>(name: K): BackendCapabilities[K] | null {
    return capabilityFrom({ grad: () => this }, name) ?? super.capability(name);
  }

  matmulGradInput(dyIn: Tensor, wIn: Tensor): Tensor {
    const dy = t(dyIn);
    const w = t(wIn);
    const [m, k] = [w.shape[0]!, w.shape[1]!];
    if (cols(dy) !== m) throw new Error(`matmulGradInput: dY has ${cols(dy)} columns, weight is [${w.shape.join(', ')}]`);
    const n = dy.data.length / m;
    const out = new Float32Array(n * k);
    const acc = new Float64Array(k);
    for (let r = 0; r < n; r++) {
      acc.fill(0);
      for (let c = 0; c < m; c++) {
        const g = dy.data[r * m + c]!;
        if (g === 0) continue;
        const wo = c * k;
        for (let j = 0; j < k; j++) acc[j] += g * w.data[wo + j]!;
      }
      for (let j = 0; j < k; j++) out[r * k + j] = acc[j]!;
    }
    return new CpuTensor(out, [n, k]);
  }

  matmulGradWeight(dyIn: Tensor, xIn: Tensor): Tensor {
    const dy = t(dyIn);
    const x = t(xIn);
    const m = cols(dy);
    const k = cols(x);
    const n = dy.data.length / m;
    if (x.data.length / k !== n) throw new Error(`matmulGradWeight: dY has ${n} rows, X has ${x.data.length / k}`);
    const acc = new Float64Array(m * k);
    for (let r = 0; r < n; r++) {
      const xo = r * k;
      for (let c = 0; c < m; c++) {
        const g = dy.data[r * m + c]!;
        if (g === 0) continue;
        const ao = c * k;
        for (let j = 0; j < k; j++) acc[ao + j] += g * x.data[xo + j]!;
      }
    }
    return new CpuTensor(Float32Array.from(acc), [m, k]);
  }

  rmsnormGradInput(xIn: Tensor, weightIn: Tensor, eps: number, dyIn: Tensor): Tensor {
    const x = t(xIn).data;
    const w = t(weightIn).data;
    const dy = t(dyIn).data;
    const d = cols(t(xIn));
    const n = x.length / d;
    const out = new Float32Array(x.length);
    for (let r = 0; r < n; r++) {
      const o = r * d;
      let ss = 0;
      let dot = 0;
      for (let j = 0; j < d; j++) {
        ss += x[o + j]! * x[o + j]!;
        dot += dy[o + j]! * w[j]! * x[o + j]!;
      }
      const inv = 1 / Math.sqrt(ss / d + eps);
      const c = (inv * inv * inv * dot) / d;
      for (let j = 0; j < d; j++) out[o + j] = inv * w[j]! * dy[o + j]! - x[o + j]! * c;
    }
    return new CpuTensor(out, t(xIn).shape);
  }

  ropeGradInput(dyIn: Tensor, cosIn: Tensor, sinIn: Tensor, numHeads: number, headDim: number): Tensor {
    const dy = t(dyIn);
    const cos = t(cosIn).data;
    const sin = t(sinIn).data;
    const d = cols(dy);
    if (d !== numHeads * headDim) throw new Error(`ropeGradInput: ${d} columns for ${numHeads} heads of ${headDim}`);
    const n = dy.data.length / d;
    const out = rotateHalf(dy.data, cos, sin, n, numHeads, headDim, -1);
    return new CpuTensor(out, dy.shape);
  }

  attentionGrad(qIn: Tensor, kIn: Tensor, vIn: Tensor, dOutIn: Tensor, s: AttentionShape): AttentionGrads {
    const q = t(qIn).data;
    const k = t(kIn).data;
    const v = t(vIn).data;
    const dO = t(dOutIn).data;
    const { numHeads, numKvHeads, headDim } = s;
    const qStride = numHeads * headDim;
    const kvStride = numKvHeads * headDim;
    const T = q.length / qStride;
    const group = numHeads / numKvHeads;
    const scale = 1 / Math.sqrt(headDim);
    const dq = new Float64Array(q.length);
    const dk = new Float64Array(k.length);
    const dv = new Float64Array(v.length);
    const p = new Float64Array(T);
    const dp = new Float64Array(T);
    for (let h = 0; h < numHeads; h++) {
      const kvh = Math.floor(h / group);
      for (let i = 0; i < T; i++) {
        const qo = i * qStride + h * headDim;
        // Recompute the softmax row exactly as the forward does.
        const denom = causalRowWeights(q, k, qo, kvh * headDim, kvStride, headDim, i, scale, p);
        let pdp = 0;
        for (let j = 0; j <= i; j++) {
          p[j] = p[j]! / denom;
          const vo = j * kvStride + kvh * headDim;
          let dot = 0;
          for (let e = 0; e < headDim; e++) dot += dO[qo + e]! * v[vo + e]!;
          dp[j] = dot;
          pdp += p[j]! * dot;
        }
        for (let j = 0; j <= i; j++) {
          const ds = p[j]! * (dp[j]! - pdp) * scale;
          const ko = j * kvStride + kvh * headDim;
          for (let e = 0; e < headDim; e++) {
            dq[qo + e] += ds * k[ko + e]!;
            dk[ko + e] += ds * q[qo + e]!;
            dv[ko + e] += p[j]! * dO[qo + e]!;
          }
        }
      }
    }
    return {
      dq: new CpuTensor(Float32Array.from(dq), [T, qStride]),
      dk: new CpuTensor(Float32Array.from(dk), [T, kvStride]),
      dv: new CpuTensor(Float32Array.from(dv), [T, kvStride]),
    };
  }

  swigluGrad(gateIn: Tensor, upIn: Tensor, dyIn: Tensor): SwigluGrads {
    const g = t(gateIn);
    const u = t(upIn).data;
    const dy = t(dyIn).data;
    const dGate = new Float32Array(g.data.length);
    const dUp = new Float32Array(g.data.length);
    for (let i = 0; i < dGate.length; i++) {
      const x = g.data[i]!;
      const sig = 1 / (1 + Math.exp(-x));
      dGate[i] = dy[i]! * u[i]! * sig * (1 + x * (1 - sig));
      dUp[i] = dy[i]! * x * sig;
    }
    return { dGate: new CpuTensor(dGate, g.shape), dUp: new CpuTensor(dUp, g.shape) };
  }

  nllGrad(logitsIn: Tensor, targets: Tensor, scale: number): Tensor {
    const l = t(logitsIn);
    if (!(targets instanceof CpuIds)) throw new Error('CPU backend: targets must come from uploadIds');
    const V = cols(l);
    const n = l.data.length / V;
    if (targets.ids.length !== n) throw new Error(`nllGrad: ${n} rows of logits, ${targets.ids.length} targets`);
    const out = new Float32Array(l.data.length);
    for (let r = 0; r < n; r++) {
      const o = r * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (l.data[o + j]! > max) max = l.data[o + j]!;
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(l.data[o + j]! - max);
      for (let j = 0; j < V; j++) out[o + j] = (scale * Math.exp(l.data[o + j]! - max)) / sum;
      out[o + targets.ids[r]!] -= scale;
    }
    return new CpuTensor(out, l.shape);
  }

  addInPlace(aIn: Tensor, bIn: Tensor): void {
    const a = t(aIn).data;
    const b = t(bIn).data;
    if (a.length !== b.length) throw new Error('addInPlace: shapes differ');
    for (let i = 0; i < a.length; i++) a[i] += b[i]!;
  }
}

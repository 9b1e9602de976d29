/**
 * The CPU reference backend: plain loops over Float32Arrays, every sum accumulated in a
 * JS number (float64), results stored as float32. It is the yardstick every GPU kernel is
 * tested against, so it favours obviousness over speed.
 */
import { rotateHalf } from './rotate-half';
import { causalRowWeights } from './attention-row';
import { capabilityFrom, type AttentionShape, type Backend, type BackendCapabilities, type BackendInfo, type CapabilityName, type QuantizedTensor, type Tensor } from '../backend';
import { CPU_PRUNE_OPS } from './prune-ops';
import { dequantize, type PackedLinear } from '../packed-linear';

export class CpuTensor implements Tensor {
  readonly shape: readonly number[];
  data: Float32Array;
  constructor(data: Float32Array, shape: readonly number[]) {
    this.data = data;
    this.shape = [...shape];
  }
}

export class CpuIds implements Tensor {
  readonly shape: readonly number[];
  readonly ids: Int32Array;
  constructor(ids: Int32Array) {
    this.ids = ids;
    this.shape = [ids.length];
  }
}

/** A packed integer linear, kept packed; matmulQuantized dequantizes it per call. */
export class CpuQuantized implements QuantizedTensor {
  readonly quantized = true as const;
  readonly shape: readonly number[];
  readonly packed: PackedLinear;
  constructor(p: PackedLinear) {
    this.packed = p;
    this.shape = [p.rows, p.cols];
  }
}

function t(x: Tensor): CpuTensor {
  if (!(x instanceof CpuTensor)) throw new Error('CPU backend: tensor from another backend');
  return x;
}

function rows(x: CpuTensor): [number, number] {
  const cols = x.shape[x.shape.length - 1]!;
  return [x.data.length / cols, cols];
}

export class CpuBackend implements Backend {
  readonly info: BackendInfo = { name: 'cpu', device: 'JavaScript (float64 accumulation)' };

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    return new CpuTensor(data, shape);
  }

  uploadIds(ids: Int32Array): Tensor {
    return new CpuIds(ids);
  }

  async read(x: Tensor): Promise<Float32Array> {
    return t(x).data.slice();
  }

  dispose(_x: Tensor): void {
    // Host arrays are reclaimed by the garbage collector.
  }

  embedding(table: Tensor, ids: Tensor): Tensor {
    const tab = t(table);
    if (!(ids instanceof CpuIds)) throw new Error('CPU backend: ids must come from uploadIds');
    const dim = tab.shape[1]!;
    const vocab = tab.shape[0]!;
    const out = new Float32Array(ids.ids.length * dim);
    ids.ids.forEach((id, i) => {
      if (id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary (${vocab})`);
      out.set(tab.data.subarray(id * dim, (id + 1) * dim), i * dim);
    });
    return new CpuTensor(out, [ids.ids.length, dim]);
  }

  rmsnorm(xIn: Tensor, weight: Tensor, eps: number): Tensor {
    const x = t(xIn);
    const w = t(weight).data;
    const [n, d] = rows(x);
    const out = new Float32Array(x.data.length);
    for (let r = 0; r < n; r++) {
      let ss = 0;
      for (let j = 0; j < d; j++) ss += x.data[r * d + j]! * x.data[r * d + j]!;
      const inv = 1 / Math.sqrt(ss / d + eps);
      for (let j = 0; j < d; j++) out[r * d + j] = x.data[r * d + j]! * inv * w[j]!;
    }
    return new CpuTensor(out, x.shape);
  }

  matmul(xIn: Tensor, wIn: Tensor, biasIn?: Tensor | null): Tensor {
    const x = t(xIn);
    const w = t(wIn);
    const [n, k] = rows(x);
    const m = w.shape[0]!;
    if (w.shape[1] !== k) throw new Error(`matmul: x has ${k} columns, weight is [${w.shape.join(', ')}]`);
    const b = biasIn ? t(biasIn).data : null;
    const out = new Float32Array(n * m);
    const xd = x.data;
    const wd = w.data;
    for (let r = 0; r < n; r++) {
      const xo = r * k;
      for (let c = 0; c < m; c++) {
        const wo = c * k;
        let acc = 0;
        for (let j = 0; j < k; j++) acc += xd[xo + j]! * wd[wo + j]!;
        out[r * m + c] = b ? acc + b[c]! : acc;
      }
    }
    return new CpuTensor(out, [n, m]);
  }

  uploadQuantized(p: PackedLinear): QuantizedTensor {
    return new CpuQuantized(p);
  }

  matmulQuantized(xIn: Tensor, wIn: Tensor, biasIn?: Tensor | null): Tensor {
    if (!(wIn instanceof CpuQuantized)) throw new Error('matmulQuantized: weight was not made by uploadQuantized');
    // The reference: Ŵ = (u − z)·scale (quant/pack.ts), then the plain matmul.
    return this.matmul(xIn, new CpuTensor(dequantize(wIn.packed), wIn.shape), biasIn);
  }

  rope(xIn: Tensor, cosIn: Tensor, sinIn: Tensor, numHeads: number, headDim: number): Tensor {
    const x = t(xIn);
    const cos = t(cosIn).data;
    const sin = t(sinIn).data;
    const [n, d] = rows(x);
    if (d !== numHeads * headDim) throw new Error(`rope: ${d} columns for ${numHeads} heads of ${headDim}`);
    const out = rotateHalf(x.data, cos, sin, n, numHeads, headDim, 1);
    return new CpuTensor(out, x.shape);
  }

  attention(qIn: Tensor, kIn: Tensor, vIn: Tensor, s: AttentionShape): Tensor {
    return this.attentionCached(qIn, kIn, vIn, s, 0);
  }

  attentionCached(qIn: Tensor, kIn: Tensor, vIn: Tensor, s: AttentionShape, offset: number): Tensor {
    const q = t(qIn).data;
    const k = t(kIn).data;
    const v = t(vIn).data;
    const { numHeads, numKvHeads, headDim } = s;
    const T = q.length / (numHeads * headDim);
    if (!Number.isInteger(offset) || offset < 0 || k.length < (offset + T) * numKvHeads * headDim || v.length !== k.length) {
      throw new Error(`attention: key/value cache of ${k.length / (numKvHeads * headDim)} rows cannot hold ${T} queries at offset ${offset}`);
    }
    const qStride = numHeads * headDim;
    const kvStride = numKvHeads * headDim;
    const group = numHeads / numKvHeads;
    const scale = 1 / Math.sqrt(headDim);
    const out = new Float32Array(T * qStride);
    const scores = new Float64Array(offset + T);
    for (let h = 0; h < numHeads; h++) {
      const kvh = Math.floor(h / group);
      for (let i = 0; i < T; i++) {
        const qo = i * qStride + h * headDim;
        const last = offset + i;
        const denom = causalRowWeights(q, k, qo, kvh * headDim, kvStride, headDim, last, scale, scores);
        for (let e = 0; e < headDim; e++) {
          let acc = 0;
          for (let j = 0; j <= last; j++) acc += scores[j]! * v[j * kvStride + kvh * headDim + e]!;
          out[qo + e] = acc / denom;
        }
      }
    }
    return new CpuTensor(out, [T, qStride]);
  }

  writeRows(dstIn: Tensor, srcIn: Tensor, row: number): void {
    const dst = t(dstIn);
    const src = t(srcIn);
    const [R, C] = rows(dst);
    const [n, c] = rows(src);
    if (c !== C || !Number.isInteger(row) || row < 0 || row + n > R) throw new Error(`writeRows: [${n}, ${c}] does not fit rows ${row}… of [${R}, ${C}]`);
    dst.data.set(src.data, row * C);
  }

  swiglu(gateIn: Tensor, upIn: Tensor): Tensor {
    const g = t(gateIn);
    const u = t(upIn).data;
    const out = new Float32Array(g.data.length);
    for (let i = 0; i < out.length; i++) {
      const x = g.data[i]!;
      out[i] = (x / (1 + Math.exp(-x))) * u[i]!;
    }
    return new CpuTensor(out, g.shape);
  }

  add(aIn: Tensor, bIn: Tensor): Tensor {
    const a = t(aIn);
    const b = t(bIn).data;
    if (a.data.length !== b.length) throw new Error('add: shapes differ');
    const out = new Float32Array(a.data.length);
    for (let i = 0; i < out.length; i++) out[i] = a.data[i]! + b[i]!;
    return new CpuTensor(out, a.shape);
  }

  nll(logitsIn: Tensor, targets: Tensor): Tensor {
    const l = t(logitsIn);
    if (!(targets instanceof CpuIds)) throw new Error('CPU backend: targets must come from uploadIds');
    const [n, V] = rows(l);
    if (targets.ids.length !== n) throw new Error(`nll: ${n} rows of logits, ${targets.ids.length} targets`);
    const out = new Float32Array(n);
    for (let r = 0; r < n; r++) {
      const o = r * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (l.data[o + j]! > max) max = l.data[o + j]!;
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(l.data[o + j]! - max);
      const target = targets.ids[r]!;
      out[r] = max + Math.log(sum) - l.data[o + target]!;
    }
    return new CpuTensor(out, [n]);
  }

  /** The host reference of pruning's ops (./prune-ops.ts); gradients: CpuTrainingBackend (./cpu-grad.ts). */
  capability<K extends CapabilityName>(name: K): BackendCapabilities[K] | null {
    return capabilityFrom({ prune: () => CPU_PRUNE_OPS }, name);
  }

  destroy(): void {}
}

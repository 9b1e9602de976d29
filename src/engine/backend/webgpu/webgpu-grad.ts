/**
 * The training backward ops (GradOps, ../grad-ops.ts) on the WebGPU backend: one WGSL kernel
 * per op (./kernels/grad-*.ts, add-in-place.ts, the inverse rotation of rope.ts), and the
 * two matmul gradients as the backend's own forward matmul on a transposed operand
 * (./kernels/transpose.ts), so they run on whichever matmul kernel is fastest on the adapter.
 * Results stay on the GPU like every other kernel's; nothing is read back.
 *
 * This class holds no state of its own: it borrows the backend's tensor checks, allocation
 * and gathering (`GradHost`), so buffer pool accounting, chunked tensors and GPU errors
 * behave exactly as in the forward ops. Weights stored as f16 (uploadWeight) are read by
 * the input-gradient matmul as f16; every other operand must be f32, as in the forward.
 */
import { attentionRows, shapeStr, type AttentionShape, type Tensor } from '../backend';
import type { AttentionGrads, GradOps, SwigluGrads } from '../grad-ops';
import type { GpuRuntime } from './runtime';
import type { WebGpuTensor } from './tensor';
import { dispatchAddInPlace } from './kernels/add-in-place';
import { attentionGradRows } from './kernels/grad-attention-common';
import { dispatchAttentionGradDkv } from './kernels/grad-attention-dkv';
import { dispatchAttentionGradDq } from './kernels/grad-attention-dq';
import { dispatchNllGrad } from './kernels/grad-nll';
import { dispatchRmsnormGrad } from './kernels/grad-rmsnorm';
import { dispatchSwigluGrad } from './kernels/grad-swiglu';
import { dispatchRope } from './kernels/rope';
import { dispatchTranspose } from './kernels/transpose';

/** What the backend lends the grad ops (its private helpers, see webgpu-backend.ts). */
export interface GradHost {
  readonly runtime: GpuRuntime;
  /** The adapter is SwiftShader (kernel shapes chosen by measurement on it). */
  readonly swiftShader: boolean;
  /** The tensor as this backend's, or an Error naming the kernel (another backend, disposed, f16 where not read). */
  use(x: Tensor, kernel: string, acceptsF16?: boolean): WebGpuTensor;
  /** A new f32 tensor in one pooled buffer (throws when it would exceed the device's binding limit). */
  alloc(shape: readonly number[], kernel: string): WebGpuTensor;
  /** One buffer holding the whole tensor (a gathered copy when chunked; release after encoding). */
  contiguous(x: WebGpuTensor, kernel: string): { buffer: GPUBuffer; release(): void };
  /** The backend's forward matmul y = x·Wᵀ. */
  matmul(x: Tensor, w: Tensor): Tensor;
  dispose(t: Tensor): void;
}

export class WebGpuGrad implements GradOps {
  constructor(private readonly host: GradHost) {}

  private get rt(): GpuRuntime {
    return this.host.runtime;
  }

  /**
   * xᵀ [C, Kp] of x [R, C] (Kp = R rounded up to a multiple of 4 when `pad`, the extra
   * columns zero); one transpose per row-chunk of x, each into its columns.
   */
  private transposed(x: WebGpuTensor, kernel: string, pad: boolean): WebGpuTensor {
    const [R, C] = [x.rows, x.cols];
    const ldo = pad ? Math.ceil(R / 4) * 4 : R;
    const out = this.host.alloc([C, ldo], kernel);
    x.chunks.forEach((c, i) => {
      const last = i === x.chunks.length - 1;
      const span = last ? ldo - c.rowStart : c.rows;
      dispatchTranspose(this.rt, c.buffer, out.chunks[0]!.buffer, { R: c.rows, C, ldo, colOffset: c.rowStart, span }, x.dtype === 'f16' ? 'f16' : 'f32');
    });
    return out;
  }

  /** dX [T, in] = dY [T, out] · W = matmul(dY, Wᵀ). */
  matmulGradInput(dyIn: Tensor, wIn: Tensor): Tensor {
    const h = this.host;
    const dy = h.use(dyIn, 'matmul-grad-input');
    const w = h.use(wIn, 'matmul-grad-input', true);
    if (w.shape.length !== 2) throw new Error(`matmulGradInput: weight ${shapeStr(w.shape)} is not a matrix`);
    if (dy.cols !== w.shape[0]) throw new Error(`matmulGradInput: dY has ${dy.cols} columns, weight is ${shapeStr(w.shape)}`);
    const wT = this.transposed(w, 'matmul-grad-input', false);
    try {
      return h.matmul(dy, wT);
    } finally {
      h.dispose(wT);
    }
  }

  /** dW [out, in] = dYᵀ · X = matmul(dYᵀ, Xᵀ), the sum over the T rows as the reduction (padded to a multiple of 4 with zeros). */
  matmulGradWeight(dyIn: Tensor, xIn: Tensor): Tensor {
    const h = this.host;
    const dy = h.use(dyIn, 'matmul-grad-weight');
    const x = h.use(xIn, 'matmul-grad-weight');
    if (x.rows !== dy.rows) throw new Error(`matmulGradWeight: dY has ${dy.rows} rows, X has ${x.rows}`);
    const dyT = this.transposed(dy, 'matmul-grad-weight', true);
    const xT = this.transposed(x, 'matmul-grad-weight', true);
    try {
      return h.matmul(dyT, xT);
    } finally {
      h.dispose(dyT);
      h.dispose(xT);
    }
  }

  rmsnormGradInput(xIn: Tensor, weightIn: Tensor, eps: number, dyIn: Tensor): Tensor {
    const h = this.host;
    const x = h.use(xIn, 'rmsnorm-grad');
    const w = h.use(weightIn, 'rmsnorm-grad');
    const dy = h.use(dyIn, 'rmsnorm-grad');
    const [n, d] = [x.rows, x.cols];
    if (w.size !== d) throw new Error(`rmsnormGradInput: weight has ${w.size} values for rows of ${d}`);
    if (dy.size !== x.size) throw new Error(`rmsnormGradInput: dY ${shapeStr(dy.shape)} does not match x ${shapeStr(x.shape)}`);
    const out = h.alloc(x.shape, 'rmsnorm-grad');
    const bufs = [h.contiguous(x, 'rmsnorm-grad'), h.contiguous(w, 'rmsnorm-grad'), h.contiguous(dy, 'rmsnorm-grad')];
    dispatchRmsnormGrad(this.rt, bufs[0]!.buffer, bufs[1]!.buffer, bufs[2]!.buffer, out.chunks[0]!.buffer, n, d, eps);
    for (const b of bufs) b.release();
    return out;
  }

  ropeGradInput(dyIn: Tensor, cosIn: Tensor, sinIn: Tensor, numHeads: number, headDim: number): Tensor {
    const h = this.host;
    const dy = h.use(dyIn, 'rope-inverse');
    const cos = h.use(cosIn, 'rope-inverse');
    const sin = h.use(sinIn, 'rope-inverse');
    const [n, d] = [dy.rows, dy.cols];
    if (d !== numHeads * headDim) throw new Error(`ropeGradInput: ${d} columns for ${numHeads} heads of ${headDim}`);
    if (headDim % 2 !== 0) throw new Error(`ropeGradInput: head size ${headDim} is odd`);
    if (cos.size < n * (headDim / 2) || sin.size < n * (headDim / 2)) throw new Error(`ropeGradInput: cos/sin tables ${shapeStr(cos.shape)} are too small for ${n} rows of head size ${headDim}`);
    const out = h.alloc(dy.shape, 'rope-inverse');
    const bufs = [h.contiguous(dy, 'rope-inverse'), h.contiguous(cos, 'rope-inverse'), h.contiguous(sin, 'rope-inverse')];
    dispatchRope(this.rt, bufs[0]!.buffer, bufs[1]!.buffer, bufs[2]!.buffer, out.chunks[0]!.buffer, n, numHeads, headDim, true);
    for (const b of bufs) b.release();
    return out;
  }

  /** Two passes (see the kernels): dq with per-row softmax statistics, then dk, dv per key row. */
  attentionGrad(qIn: Tensor, kIn: Tensor, vIn: Tensor, dOutIn: Tensor, s: AttentionShape): AttentionGrads {
    const h = this.host;
    const q = h.use(qIn, 'attention-grad');
    const k = h.use(kIn, 'attention-grad');
    const v = h.use(vIn, 'attention-grad');
    const dO = h.use(dOutIn, 'attention-grad');
    const { numHeads, numKvHeads, headDim } = s;
    const T = attentionRows('attentionGrad', q.size, s);
    if (!Number.isInteger(T) || k.size !== T * numKvHeads * headDim || v.size !== k.size || dO.size !== q.size) {
      throw new Error(`attentionGrad: shapes q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}, dOut ${shapeStr(dO.shape)} do not match ${numHeads}/${numKvHeads} heads of ${headDim}`);
    }
    const dq = h.alloc([T, numHeads * headDim], 'attention-grad');
    const dk = h.alloc([T, numKvHeads * headDim], 'attention-grad');
    const dv = h.alloc([T, numKvHeads * headDim], 'attention-grad');
    const stats = h.alloc([T * numHeads, 4], 'attention-grad');
    const [qb, kb, vb, ob] = [q, k, v, dO].map((x) => h.contiguous(x, 'attention-grad')) as [ReturnType<GradHost['contiguous']>, ReturnType<GradHost['contiguous']>, ReturnType<GradHost['contiguous']>, ReturnType<GradHost['contiguous']>];
    const shape = { T, numHeads, numKvHeads, headDim, rows: attentionGradRows(headDim, T, h.swiftShader) };
    dispatchAttentionGradDq(this.rt, { q: qb.buffer, k: kb.buffer, v: vb.buffer, dOut: ob.buffer, dq: dq.chunks[0]!.buffer, stats: stats.chunks[0]!.buffer }, shape);
    dispatchAttentionGradDkv(this.rt, { q: qb.buffer, k: kb.buffer, v: vb.buffer, dOut: ob.buffer, stats: stats.chunks[0]!.buffer, dk: dk.chunks[0]!.buffer, dv: dv.chunks[0]!.buffer }, shape);
    for (const b of [qb, kb, vb, ob]) b.release();
    // The statistics are scratch: back to the pool (queue order keeps the kernels' use of it first).
    this.rt.pool.release(stats.chunks[0]!.buffer);
    stats.disposed = true;
    return { dq, dk, dv };
  }

  swigluGrad(gateIn: Tensor, upIn: Tensor, dyIn: Tensor): SwigluGrads {
    const h = this.host;
    const g = h.use(gateIn, 'swiglu-grad');
    const u = h.use(upIn, 'swiglu-grad');
    const dy = h.use(dyIn, 'swiglu-grad');
    if (g.size !== u.size || g.size !== dy.size) throw new Error(`swigluGrad: shapes gate ${shapeStr(g.shape)}, up ${shapeStr(u.shape)}, dY ${shapeStr(dy.shape)} differ`);
    const dGate = h.alloc(g.shape, 'swiglu-grad');
    const dUp = h.alloc(g.shape, 'swiglu-grad');
    const bufs = [h.contiguous(g, 'swiglu-grad'), h.contiguous(u, 'swiglu-grad'), h.contiguous(dy, 'swiglu-grad')];
    dispatchSwigluGrad(this.rt, bufs[0]!.buffer, bufs[1]!.buffer, bufs[2]!.buffer, dGate.chunks[0]!.buffer, dUp.chunks[0]!.buffer, g.size);
    for (const b of bufs) b.release();
    return { dGate, dUp };
  }

  nllGrad(logitsIn: Tensor, targetsIn: Tensor, scale: number): Tensor {
    const h = this.host;
    const l = h.use(logitsIn, 'nll-grad');
    const targets = h.use(targetsIn, 'nll-grad');
    if (targets.dtype !== 'i32' || !targets.hostIds) throw new Error('WebGPU nll-grad: targets must come from uploadIds');
    const [n, V] = [l.rows, l.cols];
    if (targets.hostIds.length !== n) throw new Error(`nllGrad: ${n} rows of logits, ${targets.hostIds.length} targets`);
    for (const id of targets.hostIds) {
      if (id < 0 || id >= V) throw new RangeError(`nllGrad: target ${id} is outside the vocabulary (${V})`);
    }
    if (!Number.isFinite(scale)) throw new Error(`nllGrad: scale ${scale} is not a finite number`);
    const out = h.alloc(l.shape, 'nll-grad');
    const lb = h.contiguous(l, 'nll-grad');
    dispatchNllGrad(this.rt, lb.buffer, targets.chunks[0]!.buffer, out.chunks[0]!.buffer, n, V, scale);
    lb.release();
    return out;
  }

  addInPlace(aIn: Tensor, bIn: Tensor): void {
    const h = this.host;
    const a = h.use(aIn, 'add-in-place');
    const b = h.use(bIn, 'add-in-place');
    if (a.size !== b.size) throw new Error(`addInPlace: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
    if (a.chunked) throw new Error(`WebGPU add-in-place: tensor ${shapeStr(a.shape)} is stored in row chunks and cannot be written in place`);
    const bb = h.contiguous(b, 'add-in-place');
    dispatchAddInPlace(this.rt, a.chunks[0]!.buffer, bb.buffer, a.size);
    bb.release();
  }
}

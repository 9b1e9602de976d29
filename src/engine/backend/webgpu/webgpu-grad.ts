/**
 * The training backward ops (GradOps, ../grad-ops.ts) on the WebGPU backend: one WGSL kernel
 * per op (./kernels/grad-*.ts, add-in-place.ts, the inverse rotation of rope.ts), and the
 * two matmul gradients as the backend's own forward matmul on a transposed operand
 * (./kernels/transpose.ts), so they run on whichever matmul kernel is fastest on the adapter.
 * Results stay on the GPU like every other kernel's; nothing is read back.
 *
 * This class holds no state of its own: it works on the backend's storage (./storage.ts:
 * tensor checks, allocation, gathering, the one `dispatch` step), so buffer pool
 * accounting, chunked tensors and GPU errors behave exactly as in the forward ops. Weights stored as f16 (uploadWeight) are read by
 * the input-gradient matmul as f16; every other operand must be f32, as in the forward.
 */
import { attentionRows, shapeStr, type AttentionShape, type Tensor } from '../backend';
import type { AttentionGrads, GradOps, SwigluGrads } from '../grad-ops';
import type { GpuRuntime } from './runtime';
import type { StorageHost, WebGpuStorage } from './storage';
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

/** What the backend lends the grad ops: its storage, the adapter fact its kernel shapes depend on, and its forward matmul. */
export interface GradHost extends StorageHost {
  /** The adapter is SwiftShader (kernel shapes chosen by measurement on it). */
  readonly swiftShader: boolean;
  /** The backend's forward matmul y = x·Wᵀ. */
  matmul(x: Tensor, w: Tensor): Tensor;
}

export class WebGpuGrad implements GradOps {
  private readonly s: WebGpuStorage;

  constructor(private readonly host: GradHost) {
    this.s = host.storage;
  }

  private get rt(): GpuRuntime {
    return this.s.runtime;
  }

  /**
   * xᵀ [C, Kp] of x [R, C] (Kp = R rounded up to a multiple of 4 when `pad`, the extra
   * columns zero); one transpose per row-chunk of x, each into its columns.
   */
  private transposed(x: WebGpuTensor, kernel: string, pad: boolean): WebGpuTensor {
    const [R, C] = [x.rows, x.cols];
    const ldo = pad ? Math.ceil(R / 4) * 4 : R;
    const [out] = this.s.dispatch(kernel, [], [[C, ldo]], (_, [ob]) => {
      x.chunks.forEach((c, i) => {
        const last = i === x.chunks.length - 1;
        const span = last ? ldo - c.rowStart : c.rows;
        dispatchTranspose(this.rt, c.buffer, ob, { R: c.rows, C, ldo, colOffset: c.rowStart, span }, x.dtype === 'f16' ? 'f16' : 'f32');
      });
    });
    return out;
  }

  /** dX [T, in] = dY [T, out] · W = matmul(dY, Wᵀ). */
  matmulGradInput(dyIn: Tensor, wIn: Tensor): Tensor {
    const s = this.s;
    const dy = s.use(dyIn, 'matmul-grad-input');
    const w = s.use(wIn, 'matmul-grad-input', true);
    if (w.shape.length !== 2) throw new Error(`matmulGradInput: weight ${shapeStr(w.shape)} is not a matrix`);
    if (dy.cols !== w.shape[0]) throw new Error(`matmulGradInput: dY has ${dy.cols} columns, weight is ${shapeStr(w.shape)}`);
    const wT = this.transposed(w, 'matmul-grad-input', false);
    try {
      return this.host.matmul(dy, wT);
    } finally {
      s.dispose(wT);
    }
  }

  /** dW [out, in] = dYᵀ · X = matmul(dYᵀ, Xᵀ), the sum over the T rows as the reduction (padded to a multiple of 4 with zeros). */
  matmulGradWeight(dyIn: Tensor, xIn: Tensor): Tensor {
    const s = this.s;
    const dy = s.use(dyIn, 'matmul-grad-weight');
    const x = s.use(xIn, 'matmul-grad-weight');
    if (x.rows !== dy.rows) throw new Error(`matmulGradWeight: dY has ${dy.rows} rows, X has ${x.rows}`);
    const dyT = this.transposed(dy, 'matmul-grad-weight', true);
    const xT = this.transposed(x, 'matmul-grad-weight', true);
    try {
      return this.host.matmul(dyT, xT);
    } finally {
      s.dispose(dyT);
      s.dispose(xT);
    }
  }

  rmsnormGradInput(xIn: Tensor, weightIn: Tensor, eps: number, dyIn: Tensor): Tensor {
    const s = this.s;
    const x = s.use(xIn, 'rmsnorm-grad');
    const w = s.use(weightIn, 'rmsnorm-grad');
    const dy = s.use(dyIn, 'rmsnorm-grad');
    const [n, d] = [x.rows, x.cols];
    if (w.size !== d) throw new Error(`rmsnormGradInput: weight has ${w.size} values for rows of ${d}`);
    if (dy.size !== x.size) throw new Error(`rmsnormGradInput: dY ${shapeStr(dy.shape)} does not match x ${shapeStr(x.shape)}`);
    const [out] = s.dispatch('rmsnorm-grad', [x, w, dy], [x.shape], ([xb, wb, gb], [ob]) => dispatchRmsnormGrad(this.rt, xb, wb, gb, ob, n, d, eps));
    return out;
  }

  ropeGradInput(dyIn: Tensor, cosIn: Tensor, sinIn: Tensor, numHeads: number, headDim: number): Tensor {
    const s = this.s;
    const dy = s.use(dyIn, 'rope-inverse');
    const cos = s.use(cosIn, 'rope-inverse');
    const sin = s.use(sinIn, 'rope-inverse');
    const [n, d] = [dy.rows, dy.cols];
    if (d !== numHeads * headDim) throw new Error(`ropeGradInput: ${d} columns for ${numHeads} heads of ${headDim}`);
    if (headDim % 2 !== 0) throw new Error(`ropeGradInput: head size ${headDim} is odd`);
    if (cos.size < n * (headDim / 2) || sin.size < n * (headDim / 2)) throw new Error(`ropeGradInput: cos/sin tables ${shapeStr(cos.shape)} are too small for ${n} rows of head size ${headDim}`);
    const [out] = s.dispatch('rope-inverse', [dy, cos, sin], [dy.shape], ([gb, cb, sb], [ob]) => dispatchRope(this.rt, gb, cb, sb, ob, n, numHeads, headDim, true));
    return out;
  }

  /** Two passes (see the kernels): dq with per-row softmax statistics, then dk, dv per key row. */
  attentionGrad(qIn: Tensor, kIn: Tensor, vIn: Tensor, dOutIn: Tensor, sh: AttentionShape): AttentionGrads {
    const s = this.s;
    const q = s.use(qIn, 'attention-grad');
    const k = s.use(kIn, 'attention-grad');
    const v = s.use(vIn, 'attention-grad');
    const dO = s.use(dOutIn, 'attention-grad');
    const { numHeads, numKvHeads, headDim } = sh;
    const T = attentionRows('attentionGrad', q.size, sh);
    if (!Number.isInteger(T) || k.size !== T * numKvHeads * headDim || v.size !== k.size || dO.size !== q.size) {
      throw new Error(`attentionGrad: shapes q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)}, dOut ${shapeStr(dO.shape)} do not match ${numHeads}/${numKvHeads} heads of ${headDim}`);
    }
    const shape = { T, numHeads, numKvHeads, headDim, rows: attentionGradRows(headDim, T, this.host.swiftShader) };
    const [dq, dk, dv, stats] = s.dispatch(
      'attention-grad',
      [q, k, v, dO],
      [[T, numHeads * headDim], [T, numKvHeads * headDim], [T, numKvHeads * headDim], [T * numHeads, 4]],
      ([qb, kb, vb, ob], [dqb, dkb, dvb, statsb]) => {
        dispatchAttentionGradDq(this.rt, { q: qb, k: kb, v: vb, dOut: ob, dq: dqb, stats: statsb }, shape);
        dispatchAttentionGradDkv(this.rt, { q: qb, k: kb, v: vb, dOut: ob, stats: statsb, dk: dkb, dv: dvb }, shape);
      },
    );
    // The statistics are scratch: back to the pool (queue order keeps the kernels' use of it first).
    s.dispose(stats);
    return { dq, dk, dv };
  }

  swigluGrad(gateIn: Tensor, upIn: Tensor, dyIn: Tensor): SwigluGrads {
    const s = this.s;
    const g = s.use(gateIn, 'swiglu-grad');
    const u = s.use(upIn, 'swiglu-grad');
    const dy = s.use(dyIn, 'swiglu-grad');
    if (g.size !== u.size || g.size !== dy.size) throw new Error(`swigluGrad: shapes gate ${shapeStr(g.shape)}, up ${shapeStr(u.shape)}, dY ${shapeStr(dy.shape)} differ`);
    const [dGate, dUp] = s.dispatch('swiglu-grad', [g, u, dy], [g.shape, g.shape], ([gb, ub, yb], [dgb, dub]) => dispatchSwigluGrad(this.rt, gb, ub, yb, dgb, dub, g.size));
    return { dGate, dUp };
  }

  nllGrad(logitsIn: Tensor, targetsIn: Tensor, scale: number): Tensor {
    const s = this.s;
    const l = s.use(logitsIn, 'nll-grad');
    const targets = s.use(targetsIn, 'nll-grad');
    if (targets.dtype !== 'i32' || !targets.hostIds) throw new Error('WebGPU nll-grad: targets must come from uploadIds');
    const [n, V] = [l.rows, l.cols];
    if (targets.hostIds.length !== n) throw new Error(`nllGrad: ${n} rows of logits, ${targets.hostIds.length} targets`);
    for (const id of targets.hostIds) {
      if (id < 0 || id >= V) throw new RangeError(`nllGrad: target ${id} is outside the vocabulary (${V})`);
    }
    if (!Number.isFinite(scale)) throw new Error(`nllGrad: scale ${scale} is not a finite number`);
    const [out] = s.dispatch('nll-grad', [l], [l.shape], ([lb], [ob]) => dispatchNllGrad(this.rt, lb, targets.chunks[0]!.buffer, ob, n, V, scale));
    return out;
  }

  addInPlace(aIn: Tensor, bIn: Tensor): void {
    const s = this.s;
    const a = s.use(aIn, 'add-in-place');
    const b = s.use(bIn, 'add-in-place');
    if (a.size !== b.size) throw new Error(`addInPlace: shapes ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ`);
    if (a.chunked) throw new Error(`WebGPU add-in-place: tensor ${shapeStr(a.shape)} is stored in row chunks and cannot be written in place`);
    s.dispatch('add-in-place', [b], [], ([bb]) => dispatchAddInPlace(this.rt, a.chunks[0]!.buffer, bb, a.size));
  }
}

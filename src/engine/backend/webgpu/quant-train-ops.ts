/**
 * QuantTrainOps (../quant-train-ops.ts) on the WebGPU backend: the parameter side of an
 * L4Q step as kernels over the backend's own tensors, so LoRA A, B, the quantizer's s, b,
 * Adam's state and every per-linear gradient stay on the GPU. Works with any WebGpuBackend,
 * whether or not it implements the model's GradOps. Kernels (./kernels): lora-merge,
 * l4q-fake-quant, l4q-fake-quant-grad (+ l4q-group-sum for groups wider than a segment),
 * lora-grad-a, lora-grad-b, adam; each is tested against the CPU implementation
 * (test/l4q-gpu-ops.test.ts).
 *
 * Every input must be an f32 tensor in one buffer (as `upload` makes them for these sizes).
 */
import type { Tensor } from '../backend';
import { StudioError } from '../../errors';
import { groupsPerRow, type AdamStepOptions, type FakeQuantGradTensors, type LoraGradTensors, type QuantGrid, type QuantTrainOps } from '../quant-train-ops';
import { dispatchAdam } from './kernels/adam';
import { dispatchL4qFakeQuant, type GroupShape } from './kernels/l4q-fake-quant';
import { dispatchL4qFakeQuantGrad, l4qSegments } from './kernels/l4q-fake-quant-grad';
import { dispatchL4qGroupSum } from './kernels/l4q-group-sum';
import { dispatchLoraGradA } from './kernels/lora-grad-a';
import { dispatchLoraGradB } from './kernels/lora-grad-b';
import { dispatchLoraMerge } from './kernels/lora-merge';
import type { WebGpuTensor } from './tensor';
import type { StorageHost, WebGpuStorage } from './storage';

/** What the ops need from the backend (a WebGpuBackend): its storage, which owns the tensors. */
export type QuantTrainOpsHost = StorageHost;

export class WebGpuQuantTrainOps implements QuantTrainOps {
  private readonly store: WebGpuStorage;

  constructor(backend: QuantTrainOpsHost) {
    this.store = backend.storage;
  }

  private get rt() {
    return this.store.runtime;
  }

  /** The single f32 buffer of one of this backend's tensors, with `n` values. */
  private buf(t: Tensor, n: number, what: string, name: string): GPUBuffer {
    return this.store.single(t, n, what, name);
  }

  private maskBuf(m: Tensor | null, n: number, what: string): GPUBuffer | null {
    return m ? this.buf(m, n, what, 'mask') : null;
  }

  /** A new f32 tensor (contents undefined until a kernel writes every value). */
  private alloc(shape: readonly number[], what: string): WebGpuTensor {
    this.rt.check(what);
    return this.store.alloc(shape, what);
  }

  private dims(w: Tensor, what: string): [number, number] {
    if (w.shape.length !== 2) throw new StudioError('input', `${what}: weight must be 2-D, got [${w.shape.join(', ')}]`);
    return [w.shape[0]!, w.shape[1]!];
  }

  private rank(a: Tensor, b: Tensor, rows: number, cols: number, what: string): number {
    const r = a.shape[0]!;
    if (a.shape.length !== 2 || a.shape[1] !== cols || b.shape.length !== 2 || b.shape[0] !== rows || b.shape[1] !== r) {
      throw new StudioError('input', `${what}: A [${a.shape.join(', ')}] and B [${b.shape.join(', ')}] do not fit a [${rows}, ${cols}] weight`);
    }
    return r;
  }

  private groupShape(rows: number, cols: number, group: number, grid: QuantGrid): GroupShape {
    return { rows, cols, group, gpr: groupsPerRow(cols, group), qn: grid.qn, qp: grid.qp };
  }

  loraMerge(w0: Tensor, a: Tensor, b: Tensor, scale: number, mask: Tensor | null): Tensor {
    const what = 'loraMerge';
    const [rows, cols] = this.dims(w0, what);
    const r = this.rank(a, b, rows, cols, what);
    const n = rows * cols;
    const out = this.alloc([rows, cols], what);
    dispatchLoraMerge(this.rt, this.buf(w0, n, what, 'W0'), this.buf(a, r * cols, what, 'A'), this.buf(b, rows * r, what, 'B'), out.chunks[0]!.buffer, this.maskBuf(mask, n, what), rows, cols, r, scale);
    return out;
  }

  fakeQuant(w: Tensor, s: Tensor, b: Tensor, grid: QuantGrid, group: number, mask: Tensor | null): Tensor {
    const what = 'fakeQuant';
    const [rows, cols] = this.dims(w, what);
    const g = this.groupShape(rows, cols, group, grid);
    const n = rows * cols;
    const out = this.alloc([rows, cols], what);
    dispatchL4qFakeQuant(this.rt, this.buf(w, n, what, 'W'), this.buf(s, rows * g.gpr, what, 's'), this.buf(b, rows * g.gpr, what, 'b'), out.chunks[0]!.buffer, this.maskBuf(mask, n, what), g);
    return out;
  }

  fakeQuantGrad(w: Tensor, gamma: Tensor, s: Tensor, b: Tensor, grid: QuantGrid, group: number, gradScale: number, mask: Tensor | null): FakeQuantGradTensors {
    const what = 'fakeQuantGrad';
    const [rows, cols] = this.dims(w, what);
    const g = this.groupShape(rows, cols, group, grid);
    const n = rows * cols;
    const groups = rows * g.gpr;
    const bufs = {
      w: this.buf(w, n, what, 'W'),
      gamma: this.buf(gamma, n, what, 'Γ'),
      s: this.buf(s, groups, what, 's'),
      b: this.buf(b, groups, what, 'b'),
      mask: this.maskBuf(mask, n, what),
    };
    const dW = this.alloc([rows, cols], what);
    const ds = this.alloc(s.shape, what);
    const db = this.alloc(b.shape, what);
    const [dsBuf, dbBuf] = [ds.chunks[0]!.buffer, db.chunks[0]!.buffer];
    const segs = l4qSegments(group);
    if (segs === 1) {
      dispatchL4qFakeQuantGrad(this.rt, { ...bufs, dw: dW.chunks[0]!.buffer, partS: dsBuf, partB: dbBuf }, g, gradScale);
    } else {
      // Groups wider than a segment: partial sums per segment, then one sum per group.
      const partS = this.alloc([groups * segs], what);
      const partB = this.alloc([groups * segs], what);
      const [ps, pb] = [partS.chunks[0]!.buffer, partB.chunks[0]!.buffer];
      dispatchL4qFakeQuantGrad(this.rt, { ...bufs, dw: dW.chunks[0]!.buffer, partS: ps, partB: pb }, g, 1);
      dispatchL4qGroupSum(this.rt, ps, pb, dsBuf, dbBuf, groups, segs, gradScale);
      // Released after encoding: the pool hands them out again only to later commands.
      this.store.dispose(partS);
      this.store.dispose(partB);
    }
    return { dW, ds, db };
  }

  loraGrads(dW: Tensor, a: Tensor, b: Tensor, scale: number, mask: Tensor | null): LoraGradTensors {
    const what = 'loraGrads';
    const [rows, cols] = this.dims(dW, what);
    const r = this.rank(a, b, rows, cols, what);
    const n = rows * cols;
    const g = this.buf(dW, n, what, 'dW');
    const m = this.maskBuf(mask, n, what);
    const dA = this.alloc(a.shape, what);
    const dB = this.alloc(b.shape, what);
    dispatchLoraGradA(this.rt, g, this.buf(b, rows * r, what, 'B'), dA.chunks[0]!.buffer, m, rows, cols, r, scale);
    dispatchLoraGradB(this.rt, g, this.buf(a, r * cols, what, 'A'), dB.chunks[0]!.buffer, m, rows, cols, r, scale);
    return { dA, dB };
  }

  adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamStepOptions, floor: Tensor | null = null): void {
    const what = 'adamStep';
    const n = param.shape.reduce((a, x) => a * x, 1);
    dispatchAdam(this.rt, this.buf(param, n, what, 'parameter'), this.buf(grad, n, what, 'gradient'), this.buf(m, n, what, 'm'), this.buf(v, n, what, 'v'), floor ? this.buf(floor, n, what, 'floor') : null, n, o);
  }
}

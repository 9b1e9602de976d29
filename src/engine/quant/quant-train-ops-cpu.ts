/**
 * QuantTrainOps on CPU tensors: the host functions of l4q.ts, lora.ts and adam.ts applied
 * to the tensors' arrays, so its numbers are those of the host training loop (the yardstick
 * the WebGPU implementation is tested against). Per-group gradients, summed in float64 by
 * fakeQuantizeGrad, are stored as float32 like every tensor.
 */
import { CpuTensor } from '../backend/cpu/cpu-backend';
import type { Tensor } from '../backend/backend';
import { StudioError } from '../errors';
import { adamUpdate } from './adam';
import { fakeQuantize, fakeQuantizeGrad, groupsPerRow, type GroupQuant, type QuantGrid } from './l4q';
import { loraGrads, mergeLora, type LoraAdapter } from './lora';
import type { AdamStepOptions, FakeQuantGradTensors, LoraGradTensors, QuantTrainOps } from '../backend/quant-train-ops';

function data(x: Tensor, what: string): Float32Array {
  if (!(x instanceof CpuTensor)) throw new Error(`CPU quantizer ops (${what}): tensor from another backend`);
  return x.data;
}

function dims(w: Tensor, what: string): [number, number] {
  if (w.shape.length !== 2) throw new StudioError('input', `${what}: weight must be 2-D, got [${w.shape.join(', ')}]`);
  return [w.shape[0]!, w.shape[1]!];
}

function maskOf(m: Tensor | null, n: number, what: string): Uint8Array | null {
  if (!m) return null;
  const d = data(m, what);
  if (d.length !== n) throw new StudioError('input', `${what}: mask has ${d.length} values for ${n} weights`);
  return Uint8Array.from(d, (x) => (x !== 0 ? 1 : 0));
}

function adapter(a: Tensor, b: Tensor, rows: number, cols: number, scale: number, what: string): LoraAdapter {
  const rank = a.shape[0]!;
  if (a.shape.length !== 2 || a.shape[1] !== cols || b.shape.length !== 2 || b.shape[0] !== rows || b.shape[1] !== rank) {
    throw new StudioError('input', `${what}: A [${a.shape.join(', ')}] and B [${b.shape.join(', ')}] do not fit a [${rows}, ${cols}] weight`);
  }
  return { rows, cols, rank, scale, A: data(a, what), B: data(b, what) };
}

function groupQuant(s: Tensor, b: Tensor, rows: number, cols: number, group: number, what: string): GroupQuant {
  const gpr = groupsPerRow(cols, group);
  const sd = data(s, what);
  const bd = data(b, what);
  if (sd.length !== rows * gpr || bd.length !== rows * gpr) throw new StudioError('input', `${what}: s and b need ${rows * gpr} values (${rows} rows × ${gpr} groups), got ${sd.length} and ${bd.length}`);
  return { rows, cols, group, groupsPerRow: gpr, s: sd, b: bd };
}

export class CpuQuantTrainOps implements QuantTrainOps {
  loraMerge(w0: Tensor, a: Tensor, b: Tensor, scale: number, mask: Tensor | null): Tensor {
    const [rows, cols] = dims(w0, 'loraMerge');
    const out = mergeLora(data(w0, 'loraMerge'), adapter(a, b, rows, cols, scale, 'loraMerge'));
    const m = maskOf(mask, out.length, 'loraMerge');
    if (m) for (let i = 0; i < out.length; i++) if (!m[i]) out[i] = 0;
    return new CpuTensor(out, [rows, cols]);
  }

  fakeQuant(w: Tensor, s: Tensor, b: Tensor, grid: QuantGrid, group: number, mask: Tensor | null): Tensor {
    const [rows, cols] = dims(w, 'fakeQuant');
    const wd = data(w, 'fakeQuant');
    return new CpuTensor(fakeQuantize(wd, groupQuant(s, b, rows, cols, group, 'fakeQuant'), grid, maskOf(mask, wd.length, 'fakeQuant')), [rows, cols]);
  }

  fakeQuantGrad(w: Tensor, gamma: Tensor, s: Tensor, b: Tensor, grid: QuantGrid, group: number, gradScale: number, mask: Tensor | null): FakeQuantGradTensors {
    const [rows, cols] = dims(w, 'fakeQuantGrad');
    const wd = data(w, 'fakeQuantGrad');
    const gd = data(gamma, 'fakeQuantGrad');
    if (gd.length !== wd.length) throw new StudioError('input', `fakeQuantGrad: Γ has ${gd.length} values for ${wd.length} weights`);
    const p = groupQuant(s, b, rows, cols, group, 'fakeQuantGrad');
    const g = fakeQuantizeGrad(wd, gd, p, grid, gradScale, maskOf(mask, wd.length, 'fakeQuantGrad'));
    return { dW: new CpuTensor(g.dW, [rows, cols]), ds: new CpuTensor(Float32Array.from(g.ds), s.shape), db: new CpuTensor(Float32Array.from(g.db), b.shape) };
  }

  loraGrads(dW: Tensor, a: Tensor, b: Tensor, scale: number, mask: Tensor | null): LoraGradTensors {
    const [rows, cols] = dims(dW, 'loraGrads');
    let g = data(dW, 'loraGrads');
    const m = maskOf(mask, g.length, 'loraGrads');
    if (m) g = g.map((x, i) => (m[i] ? x : 0));
    const l = adapter(a, b, rows, cols, scale, 'loraGrads');
    const r = loraGrads(g, l);
    return { dA: new CpuTensor(r.dA, a.shape), dB: new CpuTensor(r.dB, b.shape) };
  }

  adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamStepOptions, floor: Tensor | null = null): void {
    const p = data(param, 'adamStep');
    const g = data(grad, 'adamStep');
    const md = data(m, 'adamStep');
    const vd = data(v, 'adamStep');
    if (g.length !== p.length || md.length !== p.length || vd.length !== p.length) throw new StudioError('input', `adamStep: gradient/state lengths ${g.length}, ${md.length}, ${vd.length} for ${p.length} parameters`);
    adamUpdate(p, g, md, vd, o.lr, o.beta1, o.beta2, o.eps, 1 - o.beta1 ** o.t, 1 - o.beta2 ** o.t);
    if (floor) {
      const f = data(floor, 'adamStep');
      for (let i = 0; i < p.length; i++) if (p[i]! < f[i]!) p[i] = f[i]!;
    }
  }
}

/**
 * L4Q fake quantization (quant/l4q.ts fakeQuantize) of W' [rows, cols], with a step s and
 * an offset b per group of G consecutive columns of a row (group index gi = r·gpr + ⌊c/G⌋,
 * gpr = ⌈cols/G⌉) and an optional 0/1 mask M:
 *
 *   v = (W'[r, c] − b[gi]) / s[gi],   q = round(clamp(v, Qn, Qp)),   Ŵ[r, c] = M·(s[gi]·q + b[gi])
 *
 * WGSL's round() is half to even, as roundHalfEven on the CPU. One invocation per weight.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

export function l4qFakeQuantWgsl(masked: boolean): string {
  return /* wgsl */ `
struct Params { rows: u32, cols: u32, group: u32, gpr: u32, qn: f32, qp: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> s: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
${masked ? '@group(0) @binding(5) var<storage, read> mask: array<f32>;' : ''}

${flatKernelStartWgsl(WG, 'i', 'p.rows * p.cols')}
  ${masked ? 'if (mask[i] == 0.0) { out[i] = 0.0; return; }' : ''}
  let gi = (i / p.cols) * p.gpr + (i % p.cols) / p.group;
  let st = s[gi];
  let off = b[gi];
  let q = round(clamp((w[i] - off) / st, p.qn, p.qp));
  out[i] = st * q + off;
}`;
}

export function l4qFakeQuantSource(masked: boolean): PipelineSource {
  return { name: 'l4q-fake-quant', key: `l4q-fake-quant masked=${masked}`, code: l4qFakeQuantWgsl(masked) };
}

export interface GroupShape {
  rows: number;
  cols: number;
  group: number;
  gpr: number;
  qn: number;
  qp: number;
}

export function dispatchL4qFakeQuant(rt: GpuRuntime, w: GPUBuffer, s: GPUBuffer, b: GPUBuffer, out: GPUBuffer, mask: GPUBuffer | null, g: GroupShape): void {
  const buffers = [{ buffer: w }, { buffer: s }, { buffer: b }, { buffer: out }, ...(mask ? [{ buffer: mask }] : [])];
  rt.dispatch('l4q-fake-quant', rt.pipeline(l4qFakeQuantSource(!!mask)), buffers, { u32: [g.rows, g.cols, g.group, g.gpr], f32: [g.qn, g.qp] }, rt.grid(Math.ceil((g.rows * g.cols) / WG)));
}

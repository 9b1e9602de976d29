/**
 * Transpose of a row-major matrix (or of one row-chunk of it) into a wider output, for the
 * backward matmuls: the forward kernels compute y = x·Wᵀ ("NT", both operands K-contiguous),
 * and the gradients of a linear become that form once one operand is transposed:
 *
 *   dX = dY · W   = dY · (Wᵀ)ᵀ        → matmul(dY, Wᵀ)          (Wᵀ [in, out])
 *   dW = dYᵀ · X  = dYᵀ · (Xᵀ)ᵀ       → matmul(dYᵀ, Xᵀ), K = T  (dYᵀ [out, T], Xᵀ [in, T])
 *
 * so every adapter keeps its fastest matmul (tiled, blocked, wide). Per element:
 *
 *   out[c, colOffset + r] = x[r, c]            r < R (rows of this chunk), c < C
 *   out[c, j] = 0                              R + colOffset ≤ j < ldo when `pad` (the last chunk)
 *
 * Zero padding rounds the reduction length up to a multiple of 4 so the vec4 kernels apply
 * (T = 127 predictions is common). One invocation per output element of the chunk's span,
 * x index fastest so writes are contiguous. x may be stored as f16 (a weight kept in f16);
 * the output is f32.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { F16_ENABLE, type WeightStorage } from './matmul-common';

export function transposeWgsl(input: WeightStorage): string {
  return /* wgsl */ `${input === 'f16' ? F16_ENABLE : ''}
struct Params { R: u32, C: u32, ldo: u32, colOffset: u32, span: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<${input}>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64, 4)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;      // column of out within this chunk's span (row of x when < R)
  let c = gid.y;      // row of out (column of x)
  if (r >= p.span || c >= p.C) { return; }
  var v = 0.0;
  if (r < p.R) { v = f32(x[r * p.C + c]); }
  out[c * p.ldo + p.colOffset + r] = v;
}`;
}

export function transposeSource(input: WeightStorage): PipelineSource {
  return { name: 'transpose', key: `transpose ${input}`, code: transposeWgsl(input) };
}

/** x: R rows of C; writes columns colOffset … colOffset+span−1 of out (row stride ldo); span − R columns of zeros after the data. */
export function dispatchTranspose(rt: GpuRuntime, x: GPUBuffer, out: GPUBuffer, s: { R: number; C: number; ldo: number; colOffset: number; span: number }, input: WeightStorage): void {
  const src = transposeSource(input);
  rt.dispatch(src.name, rt.pipeline(src), [{ buffer: x }, { buffer: out }], { u32: [s.R, s.C, s.ldo, s.colOffset, s.span] }, [Math.ceil(s.span / 64), Math.ceil(s.C / 4), 1]);
}

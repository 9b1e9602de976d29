/**
 * RMSNorm of x [rows, d], per row r:
 *
 *   ms = (1/d) Σ_j x[r, j]²          (TPR lanes per row take every TPR-th j, then a tree reduction)
 *   out[r, j] = x[r, j] / sqrt(ms + eps) · w[j]
 *
 * Lanes per row (TPR) grow with d (see ./rows.ts); the code is specialised on TPR.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { rowKernelStartWgsl, rowsWorkgroup, rowTotalWgsl, threadsPerRow } from './rows';

export function rmsnormWgsl(tpr: number): string {
  return /* wgsl */ `
struct Params { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

${rowKernelStartWgsl(tpr, 'f32', 'd')}
  var ss = 0.0;
  for (var j = lane; j < p.d; j += TPR) {
    let v = x[base + j];
    ss += v * v;
  }
  ${rowTotalWgsl(tpr, 'sum', 'ss', 'total')}
  let inv = 1.0 / sqrt(total / f32(p.d) + p.eps);
  if (valid) {
    for (var j = lane; j < p.d; j += TPR) {
      out[base + j] = x[base + j] * inv * w[j];
    }
  }
}`;
}

export function rmsnormSource(d: number): PipelineSource {
  const tpr = threadsPerRow(d);
  return { name: 'rmsnorm', key: `rmsnorm tpr=${tpr}`, code: rmsnormWgsl(tpr) };
}

export function dispatchRmsnorm(rt: GpuRuntime, x: GPUBuffer, w: GPUBuffer, out: GPUBuffer, rows: number, d: number, eps: number): void {
  const { rowsPerGroup } = rowsWorkgroup(threadsPerRow(d));
  rt.dispatch('rmsnorm', rt.pipeline(rmsnormSource(d)), [{ buffer: x }, { buffer: w }, { buffer: out }], { u32: [rows, d], f32: [eps] }, rt.grid(Math.ceil(rows / rowsPerGroup)));
}

/**
 * RMSNorm input gradient (weight w frozen). Forward y_j = x_j · r · w_j with
 * r = 1/√(mean(x²) + eps) over the d features of a row; per row:
 *
 *   dx_j = r · w_j · dy_j − x_j · (r³ / d) · Σ_k dy_k · w_k · x_k
 *
 * The two row sums (Σ x² and Σ dy·w·x) are taken together as a vec2 by TPR lanes per row
 * and combined by the same tree reduction as the forward (./rows.ts).
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { rowKernelStartWgsl, rowsWorkgroup, rowTotalWgsl, threadsPerRow } from './rows';

export function rmsnormGradWgsl(tpr: number): string {
  return /* wgsl */ `
struct Params { rows: u32, d: u32, eps: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

${rowKernelStartWgsl(tpr, 'vec2<f32>', 'd')}
  var part = vec2<f32>(0.0);              // (Σ x², Σ dy·w·x)
  for (var j = lane; j < p.d; j += TPR) {
    let v = x[base + j];
    part += vec2<f32>(v * v, dy[base + j] * w[j] * v);
  }
  ${rowTotalWgsl(tpr, 'sum', 'part', 'total')}
  let inv = 1.0 / sqrt(total.x / f32(p.d) + p.eps);
  let c = inv * inv * inv * total.y / f32(p.d);
  if (valid) {
    for (var j = lane; j < p.d; j += TPR) {
      dx[base + j] = inv * w[j] * dy[base + j] - x[base + j] * c;
    }
  }
}`;
}

export function rmsnormGradSource(d: number): PipelineSource {
  const tpr = threadsPerRow(d);
  return { name: 'rmsnorm-grad', key: `rmsnorm-grad tpr=${tpr}`, code: rmsnormGradWgsl(tpr) };
}

export function dispatchRmsnormGrad(rt: GpuRuntime, x: GPUBuffer, w: GPUBuffer, dy: GPUBuffer, dx: GPUBuffer, rows: number, d: number, eps: number): void {
  const { rowsPerGroup } = rowsWorkgroup(threadsPerRow(d));
  rt.dispatch('rmsnorm-grad', rt.pipeline(rmsnormGradSource(d)), [{ buffer: x }, { buffer: w }, { buffer: dy }, { buffer: dx }], { u32: [rows, d], f32: [eps] }, rt.grid(Math.ceil(rows / rowsPerGroup)));
}

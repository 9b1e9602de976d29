/**
 * What the three matmul kernels share: the parameter block and the dispatch helper.
 *
 * Every kernel computes, for one row-chunk of W (weight rows c0 … c0+N−1, i.e. output
 * columns c0 … c0+N−1 of y):
 *
 *   y[r, c0 + c] = Σ_k x[r, k] · W[c, k]  (+ bias[c0 + c])     r < T, c < N, k < K
 *
 * with x [T, K] and the chunk of W [N, K] both row-major (K contiguous, "NT" layout), y of
 * row stride ldy (the full output width). Accumulation is in f32; W may be stored as f16
 * (converted to f32 on load) when the device has shader-f16.
 */
import type { GpuRuntime, Grid, PipelineSource } from '../runtime';

/** How a kernel's W is stored: f32, or binary16 read through the shader-f16 feature. */
export type WeightStorage = 'f32' | 'f16';

export const F16_ENABLE = 'enable f16;';

export const MATMUL_PARAMS_WGSL = /* wgsl */ `
struct Params { T: u32, N: u32, K: u32, ldy: u32, colOffset: u32, hasBias: u32 }
@group(0) @binding(0) var<uniform> p: Params;`;

export interface MatmulShape {
  /** Rows of x. */
  T: number;
  /** Rows of this chunk of W (output columns written). */
  N: number;
  K: number;
  /** Row stride of y (total output columns). */
  ldy: number;
  colOffset: number;
}

export function dispatchMatmulWith(
  rt: GpuRuntime,
  src: PipelineSource,
  grid: Grid,
  x: GPUBuffer,
  w: GPUBuffer,
  bias: GPUBuffer | null,
  dummy: GPUBuffer,
  y: GPUBuffer,
  s: MatmulShape,
): void {
  rt.dispatch(
    src.name,
    rt.pipeline(src),
    [{ buffer: x }, { buffer: w }, { buffer: bias ?? dummy }, { buffer: y }],
    { u32: [s.T, s.N, s.K, s.ldy, s.colOffset, bias ? 1 : 0] },
    grid,
  );
}

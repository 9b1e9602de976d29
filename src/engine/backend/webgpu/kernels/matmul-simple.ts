/**
 * Matmul, the simple path: one invocation per output element, scalar loads, any shape.
 * Used for very few rows (T < 4, where a 4×4 block would waste most of its work) and as a
 * second opinion in tests.
 *
 *   y[r, c0 + c] = Σ_k x[r, k] · W[c, k]  (+ bias[c0 + c])
 */
import type { Grid } from '../runtime';
import { MATMUL_PARAMS_WGSL } from './matmul-common';

export const MATMUL_SIMPLE_WGSL = /* wgsl */ `
${MATMUL_PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let r = gid.y;
  if (c >= p.N || r >= p.T) { return; }
  let xo = r * p.K;
  let wo = c * p.K;
  var acc = 0.0;
  for (var k = 0u; k < p.K; k++) {
    acc += x[xo + k] * w[wo + k];
  }
  if (p.hasBias != 0u) { acc += bias[p.colOffset + c]; }
  y[r * p.ldy + p.colOffset + c] = acc;
}`;

export const MATMUL_SIMPLE = { name: 'matmul-simple', code: MATMUL_SIMPLE_WGSL };

export function matmulSimpleGrid(T: number, N: number): Grid {
  return [Math.ceil(N / 64), T, 1];
}

/**
 * Matmul, the simple path: one invocation per output element, scalar loads, any shape.
 * Used for very few rows (T < 4, where a 4×4 block would waste most of its work) and as a
 * second opinion in tests.
 *
 *   y[r, c0 + c] = Σ_k x[r, k] · W[c, k]  (+ bias[c0 + c])
 *
 * W may be f16 (converted on load).
 */
import type { Grid } from '../runtime';
import { F16_ENABLE, MATMUL_PARAMS_WGSL, type WeightStorage } from './matmul-common';

export const matmulSimpleWgsl = (weights: WeightStorage): string => /* wgsl */ `${weights === 'f16' ? F16_ENABLE : ''}
${MATMUL_PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<${weights}>;
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
    acc += x[xo + k] * f32(w[wo + k]);
  }
  if (p.hasBias != 0u) { acc += bias[p.colOffset + c]; }
  y[r * p.ldy + p.colOffset + c] = acc;
}`;

export const MATMUL_SIMPLE = { name: 'matmul-simple', code: matmulSimpleWgsl('f32') };
export const MATMUL_SIMPLE_F16 = { name: 'matmul-simple-f16', code: matmulSimpleWgsl('f16') };

export function matmulSimpleGrid(T: number, N: number): Grid {
  return [Math.ceil(N / 64), T, 1];
}

/**
 * Matmul, register-blocked without workgroup memory (fast where barriers and workgroup
 * memory are expensive, e.g. SwiftShader; any K):
 *
 *   y[r, c0 + c] = Σ_k x[r, k] · W[c, k]  (+ bias[c0 + c])
 *
 * Each invocation computes a 4×4 block of y (rows 4·gy … 4·gy+3, columns 4·gx … 4·gx+3)
 * and walks K four at a time: 4 vec4 of x and 4 vec4 of W per step, 16 dot products. Rows
 * past T or N are clamped to the last row (their results are not stored), so the inner
 * loop has no branches.
 *
 * Two specialisations of the same kernel: `vec4` binds x and W as array<vec4<f32>> (needs
 * K % 4 = 0, so rows are 16-byte aligned); `scalar` binds array<f32>, builds the vec4 from
 * four loads and finishes the K % 4 tail one element at a time.
 *
 * With `weights = 'f16'` W is stored as binary16 (array<vec4<f16>> or array<f16>, needs the
 * shader-f16 feature) and converted to f32 as it is loaded: storage halves, the sums stay f32.
 */
import type { Grid } from '../runtime';
import { F16_ENABLE, MATMUL_PARAMS_WGSL, type WeightStorage } from './matmul-common';

export type BlockedVariant = 'vec4' | 'scalar';

export function matmulBlockedWgsl(variant: BlockedVariant, weights: WeightStorage = 'f32'): string {
  const vec = variant === 'vec4';
  const elem = vec ? 'vec4<f32>' : 'f32';
  const welem = vec ? `vec4<${weights}>` : weights;
  const load = (arr: string, base: string) =>
    vec ? `vec4<f32>(${arr}[${base} + k])` : `vec4<f32>(f32(${arr}[${base} + k]), f32(${arr}[${base} + k + 1u]), f32(${arr}[${base} + k + 2u]), f32(${arr}[${base} + k + 3u]))`;
  return /* wgsl */ `${weights === 'f16' ? F16_ENABLE : ''}
${MATMUL_PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> x: array<${elem}>;
@group(0) @binding(2) var<storage, read> w: array<${welem}>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r0 = gid.y * 4u;
  let c0 = gid.x * 4u;
  if (r0 >= p.T || c0 >= p.N) { return; }
  ${vec ? 'let stride = p.K / 4u;  // row stride in vec4' : 'let stride = p.K;'}
  let xr0 = min(r0, p.T - 1u) * stride;
  let xr1 = min(r0 + 1u, p.T - 1u) * stride;
  let xr2 = min(r0 + 2u, p.T - 1u) * stride;
  let xr3 = min(r0 + 3u, p.T - 1u) * stride;
  let wr0 = min(c0, p.N - 1u) * stride;
  let wr1 = min(c0 + 1u, p.N - 1u) * stride;
  let wr2 = min(c0 + 2u, p.N - 1u) * stride;
  let wr3 = min(c0 + 3u, p.N - 1u) * stride;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  ${vec ? 'let kEnd = stride;' : 'let kEnd = p.K & ~3u;'}
  for (var k = 0u; k < kEnd; k += ${vec ? '1u' : '4u'}) {
    let b0 = ${load('w', 'wr0')};
    let b1 = ${load('w', 'wr1')};
    let b2 = ${load('w', 'wr2')};
    let b3 = ${load('w', 'wr3')};
    let a0 = ${load('x', 'xr0')};
    acc0 += vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
    let a1 = ${load('x', 'xr1')};
    acc1 += vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
    let a2 = ${load('x', 'xr2')};
    acc2 += vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
    let a3 = ${load('x', 'xr3')};
    acc3 += vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
  }
  ${
    vec
      ? ''
      : `for (var k = kEnd; k < p.K; k++) {
    let b = vec4<f32>(f32(w[wr0 + k]), f32(w[wr1 + k]), f32(w[wr2 + k]), f32(w[wr3 + k]));
    acc0 += x[xr0 + k] * b;
    acc1 += x[xr1 + k] * b;
    acc2 += x[xr2 + k] * b;
    acc3 += x[xr3 + k] * b;
  }`
  }
  var bv = vec4<f32>(0.0);
  if (p.hasBias != 0u) {
    for (var j = 0u; j < 4u; j++) {
      if (c0 + j < p.N) { bv[j] = bias[p.colOffset + c0 + j]; }
    }
  }
  let accs = array<vec4<f32>, 4>(acc0 + bv, acc1 + bv, acc2 + bv, acc3 + bv);
  for (var i = 0u; i < 4u; i++) {
    let r = r0 + i;
    if (r >= p.T) { break; }
    let o = r * p.ldy + p.colOffset + c0;
    for (var j = 0u; j < 4u; j++) {
      if (c0 + j < p.N) { y[o + j] = accs[i][j]; }
    }
  }
}`;
}

export const MATMUL_BLOCKED_VEC4 = { name: 'matmul-blocked-vec4', code: matmulBlockedWgsl('vec4') };
export const MATMUL_BLOCKED_SCALAR = { name: 'matmul-blocked-scalar', code: matmulBlockedWgsl('scalar') };
export const MATMUL_BLOCKED_VEC4_F16 = { name: 'matmul-blocked-vec4-f16', code: matmulBlockedWgsl('vec4', 'f16') };
export const MATMUL_BLOCKED_SCALAR_F16 = { name: 'matmul-blocked-scalar-f16', code: matmulBlockedWgsl('scalar', 'f16') };

export function matmulBlockedGrid(T: number, N: number): Grid {
  return [Math.ceil(N / 32), Math.ceil(T / 32), 1];
}

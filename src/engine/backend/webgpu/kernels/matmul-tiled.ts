/**
 * Matmul, tiled through workgroup memory and register-blocked (for GPUs; needs K % 4 = 0):
 *
 *   y[r, c0 + c] = Σ_k x[r, k] · W[c, k]  (+ bias[c0 + c])
 *
 * A workgroup of 16×16 invocations computes a 64×64 tile of y. The K dimension is walked in
 * steps of 16: the 64×16 slices of x and of W are loaded into workgroup memory as vec4
 * (one vec4 of each per invocation; rows past T or N are clamped to the last row, k past K
 * reads zeros), then each invocation accumulates a 4×4 block of y, rows ty + 16·i and
 * columns tx + 16·j, with 4×4 dot products of vec4 per step. Rows in workgroup memory are
 * padded to 5 vec4 to spread banks. Results outside [T, N] are not stored. An f16 W is
 * converted to f32 as it enters workgroup memory.
 */
import type { Grid } from '../runtime';
import { F16_ENABLE, MATMUL_PARAMS_WGSL, type WeightStorage } from './matmul-common';

export const matmulTiledWgsl = (weights: WeightStorage): string => /* wgsl */ `${weights === 'f16' ? F16_ENABLE : ''}
${MATMUL_PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<${weights}>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const TILE = 64u;      // rows and columns of y per workgroup
const TK4 = 4u;        // K step in vec4 (16 floats)
const STRIDE = 5u;     // padded row stride in workgroup memory (vec4)
var<workgroup> xs: array<vec4<f32>, 320>;   // TILE * STRIDE
var<workgroup> ws: array<vec4<f32>, 320>;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row0 = wid.y * TILE;
  let col0 = wid.x * TILE;
  let K4 = p.K / 4u;
  // Loader role: row lr of the tile, vec4 lk of the K step.
  let lr = li / TK4;
  let lk = li % TK4;
  let xrow = min(row0 + lr, p.T - 1u) * K4;
  let wrow = min(col0 + lr, p.N - 1u) * K4;
  var acc: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }

  for (var k0 = 0u; k0 < K4; k0 += TK4) {
    let k = k0 + lk;
    var xv = vec4<f32>(0.0);
    var wv = vec4<f32>(0.0);
    if (k < K4) {
      xv = x[xrow + k];
      wv = vec4<f32>(w[wrow + k]);
    }
    xs[lr * STRIDE + lk] = xv;
    ws[lr * STRIDE + lk] = wv;
    workgroupBarrier();
    for (var q = 0u; q < TK4; q++) {
      let b0 = ws[(lid.x) * STRIDE + q];
      let b1 = ws[(lid.x + 16u) * STRIDE + q];
      let b2 = ws[(lid.x + 32u) * STRIDE + q];
      let b3 = ws[(lid.x + 48u) * STRIDE + q];
      for (var i = 0u; i < 4u; i++) {
        let a = xs[(lid.y + 16u * i) * STRIDE + q];
        acc[i] += vec4<f32>(dot(a, b0), dot(a, b1), dot(a, b2), dot(a, b3));
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid.y + 16u * i;
    if (r >= p.T) { break; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + lid.x + 16u * j;
      if (c < p.N) {
        var v = acc[i][j];
        if (p.hasBias != 0u) { v += bias[p.colOffset + c]; }
        y[r * p.ldy + p.colOffset + c] = v;
      }
    }
  }
}`;

export const MATMUL_TILED = { name: 'matmul-tiled', code: matmulTiledWgsl('f32') };
export const MATMUL_TILED_F16 = { name: 'matmul-tiled-f16', code: matmulTiledWgsl('f16') };

export function matmulTiledGrid(T: number, N: number): Grid {
  return [Math.ceil(N / 64), Math.ceil(T / 64), 1];
}

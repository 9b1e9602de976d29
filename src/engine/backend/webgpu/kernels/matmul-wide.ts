/**
 * Matmul with a large register block and no workgroup memory, for SwiftShader (needs
 * K % 4 = 0):
 *
 *   y[r, c0 + c] = Σ_k x[r, k] · W[c, k]  (+ bias[c0 + c])
 *
 * Each invocation computes a block of R×C outputs (rows R·gy …, columns C·gx …) with R·C
 * scalar accumulators, walking K one vec4 at a time: R + C vec4 loads per R·C dot products.
 * SwiftShader's Subzero JIT runs every lane's loads as gathers and does little register
 * allocation, so the loads per flop decide its speed: measured on 2 cores, a 16×8 block gives
 * about twice the throughput of the 4×4 block of matmul-blocked (on the 512×576·576×1536
 * product of the 135M shape: 1.9–2.0 against 0.9–1.0 GFLOP per CPU-second), while lavapipe
 * (LLVM) is as fast or faster with the 4×4 block. The code is generated unrolled, with named
 * accumulators, because Subzero does not unroll loops or promote arrays to registers. Rows
 * past T or N are clamped to the last row (results not stored), so the K loop has no
 * branches. The generator can read f16 W, but SwiftShader has no shader-f16, so only the f32
 * kernel is built (f16 weights take matmul-blocked).
 */
import type { Grid } from '../runtime';
import { F16_ENABLE, MATMUL_PARAMS_WGSL, type WeightStorage } from './matmul-common';

/** Rows and columns of y per invocation, and invocations per workgroup (8×8). */
export const WIDE_ROWS = 16;
export const WIDE_COLS = 8;
const WG = 8;

export function matmulWideWgsl(weights: WeightStorage): string {
  const rs = [...Array(WIDE_ROWS).keys()];
  const cs = [...Array(WIDE_COLS).keys()];
  const acc = (i: number, j: number) => `a${i}_${j}`;
  return /* wgsl */ `${weights === 'f16' ? F16_ENABLE : ''}
${MATMUL_PARAMS_WGSL}
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> w: array<vec4<${weights}>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(${WG}, ${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r0 = gid.y * ${WIDE_ROWS}u;
  let c0 = gid.x * ${WIDE_COLS}u;
  if (r0 >= p.T || c0 >= p.N) { return; }
  let stride = p.K / 4u;  // row stride in vec4
  ${rs.map((i) => `let xr${i} = min(r0 + ${i}u, p.T - 1u) * stride;`).join('\n  ')}
  ${cs.map((j) => `let wr${j} = min(c0 + ${j}u, p.N - 1u) * stride;`).join('\n  ')}
  ${rs.map((i) => cs.map((j) => `var ${acc(i, j)} = 0.0;`).join(' ')).join('\n  ')}
  for (var k = 0u; k < stride; k++) {
    ${cs.map((j) => `let b${j} = vec4<f32>(w[wr${j} + k]);`).join('\n    ')}
    ${rs.map((i) => `{ let a = x[xr${i} + k]; ${cs.map((j) => `${acc(i, j)} += dot(a, b${j});`).join(' ')} }`).join('\n    ')}
  }
  ${cs.map((j) => `let bias${j} = select(0.0, bias[p.colOffset + min(c0 + ${j}u, p.N - 1u)], p.hasBias != 0u);`).join('\n  ')}
  ${rs
    .map(
      (i) =>
        `if (r0 + ${i}u < p.T) {\n    let o = (r0 + ${i}u) * p.ldy + p.colOffset + c0;\n    ${cs
          .map((j) => `if (c0 + ${j}u < p.N) { y[o + ${j}u] = ${acc(i, j)} + bias${j}; }`)
          .join('\n    ')}\n  }`,
    )
    .join('\n  ')}
}`;
}

export const MATMUL_WIDE = { name: 'matmul-wide', code: matmulWideWgsl('f32') };

export function matmulWideGrid(T: number, N: number): Grid {
  return [Math.ceil(N / (WIDE_COLS * WG)), Math.ceil(T / (WIDE_ROWS * WG)), 1];
}

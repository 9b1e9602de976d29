/**
 * LoRA merge of one linear, per weight (r, c) of W0 [rows, cols], with A [rank, cols],
 * B [rows, rank], scale c = α/r and an optional 0/1 mask M:
 *
 *   W'[r, c] = M[r, c] · (W0[r, c] + c · Σ_k B[r, k]·A[k, c])
 *
 * One invocation per weight, or, when cols is a multiple of 4, per 4 consecutive weights of
 * a row read and written as vec4 (a quarter of the loads of B; software adapters pay per
 * load). Masked-out weights are written as exactly 0 (pruned weights stay pruned).
 */
import type { GpuRuntime, PipelineSource } from '../runtime';

const WG = 64;

export function loraMergeWgsl(masked: boolean, vec: boolean): string {
  const T = vec ? 'vec4<f32>' : 'f32';
  return /* wgsl */ `
struct Params { rows: u32, cols: u32, rank: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w0: array<${T}>;
@group(0) @binding(2) var<storage, read> a: array<${T}>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<${T}>;
${masked ? `@group(0) @binding(5) var<storage, read> mask: array<${T}>;` : ''}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let cw = p.cols / ${vec ? 4 : 1}u;      // row length in elements of the arrays
  let i = (wid.y * nwg.x + wid.x) * ${WG}u + li;
  if (i >= p.rows * cw) { return; }
  let r = i / cw;
  let c = i % cw;
  var acc = ${T}(0.0);
  for (var k = 0u; k < p.rank; k++) {
    acc += b[r * p.rank + k] * a[k * cw + c];
  }
  let v = w0[i] + p.scale * acc;
  ${masked ? `out[i] = select(v, ${T}(0.0), mask[i] == ${T}(0.0));` : 'out[i] = v;'}
}`;
}

export function loraMergeSource(masked: boolean, vec: boolean): PipelineSource {
  return { name: 'lora-merge', key: `lora-merge masked=${masked} vec=${vec}`, code: loraMergeWgsl(masked, vec) };
}

export function dispatchLoraMerge(rt: GpuRuntime, w0: GPUBuffer, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, mask: GPUBuffer | null, rows: number, cols: number, rank: number, scale: number): void {
  const vec = cols % 4 === 0;
  const buffers = [{ buffer: w0 }, { buffer: a }, { buffer: b }, { buffer: out }, ...(mask ? [{ buffer: mask }] : [])];
  rt.dispatch('lora-merge', rt.pipeline(loraMergeSource(!!mask, vec)), buffers, { u32: [rows, cols, rank], f32: [scale] }, rt.grid(Math.ceil((rows * cols) / (vec ? 4 : 1) / WG)));
}

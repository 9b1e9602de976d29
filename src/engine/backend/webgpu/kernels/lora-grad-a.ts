/**
 * LoRA gradient of A [rank, cols] from the merged weight's gradient Γ' [rows, cols]
 * (masked by an optional 0/1 mask M), B [rows, rank] and the scale c = α/r:
 *
 *   ∂L/∂A[k, j] = c · Σ_i B[i, k] · M[i, j]·Γ'[i, j]
 *
 * One invocation per element of A (per 4 consecutive columns, as vec4, when cols is a
 * multiple of 4) walks the rows; neighbouring invocations read neighbouring columns of Γ'.
 * The sum is in f32 in row order.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';

const WG = 64;

export function loraGradAWgsl(masked: boolean, vec: boolean): string {
  const T = vec ? 'vec4<f32>' : 'f32';
  return /* wgsl */ `
struct Params { rows: u32, cols: u32, rank: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<${T}>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> da: array<${T}>;
${masked ? `@group(0) @binding(4) var<storage, read> mask: array<${T}>;` : ''}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let cw = p.cols / ${vec ? 4 : 1}u;
  let i = (wid.y * nwg.x + wid.x) * ${WG}u + li;
  if (i >= p.rank * cw) { return; }
  let k = i / cw;
  let j = i % cw;
  var acc = ${T}(0.0);
  for (var r = 0u; r < p.rows; r++) {
    let e = r * cw + j;
    ${masked ? 'acc += b[r * p.rank + k] * (g[e] * mask[e]);' : 'acc += b[r * p.rank + k] * g[e];'}
  }
  da[i] = p.scale * acc;
}`;
}

export function loraGradASource(masked: boolean, vec: boolean): PipelineSource {
  return { name: 'lora-grad-a', key: `lora-grad-a masked=${masked} vec=${vec}`, code: loraGradAWgsl(masked, vec) };
}

export function dispatchLoraGradA(rt: GpuRuntime, g: GPUBuffer, b: GPUBuffer, da: GPUBuffer, mask: GPUBuffer | null, rows: number, cols: number, rank: number, scale: number): void {
  const vec = cols % 4 === 0;
  const buffers = [{ buffer: g }, { buffer: b }, { buffer: da }, ...(mask ? [{ buffer: mask }] : [])];
  rt.dispatch('lora-grad-a', rt.pipeline(loraGradASource(!!mask, vec)), buffers, { u32: [rows, cols, rank], f32: [scale] }, rt.grid(Math.ceil((rank * cols) / (vec ? 4 : 1) / WG)));
}

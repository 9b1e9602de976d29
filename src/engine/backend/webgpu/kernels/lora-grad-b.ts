/**
 * LoRA gradient of B [rows, rank] from the merged weight's gradient Γ' [rows, cols]
 * (masked by an optional 0/1 mask M), A [rank, cols] and the scale c = α/r:
 *
 *   ∂L/∂B[i, k] = c · Σ_j M[i, j]·Γ'[i, j] · A[k, j]
 *
 * One invocation per element of B walks the columns (the invocations of one row read the
 * same Γ' row); when cols is a multiple of 4 it reads vec4s and keeps 4 partial sums
 * (columns j ≡ 0, 1, 2, 3 mod 4) added at the end. The sums are in f32.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';

const WG = 64;

export function loraGradBWgsl(masked: boolean, vec: boolean): string {
  const T = vec ? 'vec4<f32>' : 'f32';
  return /* wgsl */ `
struct Params { rows: u32, cols: u32, rank: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<${T}>;
@group(0) @binding(2) var<storage, read> a: array<${T}>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;
${masked ? `@group(0) @binding(4) var<storage, read> mask: array<${T}>;` : ''}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let cw = p.cols / ${vec ? 4 : 1}u;
  let i = (wid.y * nwg.x + wid.x) * ${WG}u + li;
  if (i >= p.rows * p.rank) { return; }
  let r = i / p.rank;
  let k = i % p.rank;
  var acc = ${T}(0.0);
  for (var j = 0u; j < cw; j++) {
    let e = r * cw + j;
    ${masked ? 'acc += (g[e] * mask[e]) * a[k * cw + j];' : 'acc += g[e] * a[k * cw + j];'}
  }
  ${vec ? 'db[i] = p.scale * ((acc.x + acc.y) + (acc.z + acc.w));' : 'db[i] = p.scale * acc;'}
}`;
}

export function loraGradBSource(masked: boolean, vec: boolean): PipelineSource {
  return { name: 'lora-grad-b', key: `lora-grad-b masked=${masked} vec=${vec}`, code: loraGradBWgsl(masked, vec) };
}

export function dispatchLoraGradB(rt: GpuRuntime, g: GPUBuffer, a: GPUBuffer, db: GPUBuffer, mask: GPUBuffer | null, rows: number, cols: number, rank: number, scale: number): void {
  const vec = cols % 4 === 0;
  const buffers = [{ buffer: g }, { buffer: a }, { buffer: db }, ...(mask ? [{ buffer: mask }] : [])];
  rt.dispatch('lora-grad-b', rt.pipeline(loraGradBSource(!!mask, vec)), buffers, { u32: [rows, cols, rank], f32: [scale] }, rt.grid(Math.ceil((rows * rank) / WG)));
}

/**
 * Rotary embedding, rotate_half layout. For row t, head h, i < d/2, with base = t·(H·d) + h·d:
 *
 *   out[base + i]       = x[base + i] · cos[t, i] − x[base + i + d/2] · sin[t, i]
 *   out[base + i + d/2] = x[base + i + d/2] · cos[t, i] + x[base + i] · sin[t, i]
 *
 * One invocation per (t, h, i) pair, flattened.
 *
 * The rotation's gradient is its inverse, the rotation by −θ: the same kernel with sin
 * negated (`inverse`, used by the backward pass: dx = rope⁻¹(dy)).
 */
import type { GpuRuntime } from '../runtime';

const WG = 64;

export const ropeWgsl = (inverse: boolean): string => /* wgsl */ `
struct Params { n: u32, heads: u32, half: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> cosT: array<f32>;
@group(0) @binding(3) var<storage, read> sinT: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let idx = (wid.y * nwg.x + wid.x) * ${WG}u + li;   // over rows · heads · half
  if (idx >= p.n) { return; }
  let i = idx % p.half;
  let rh = idx / p.half;                 // row · heads + head
  let t = rh / p.heads;
  let base = rh * 2u * p.half;
  let c = cosT[t * p.half + i];
  let s = ${inverse ? '-' : ''}sinT[t * p.half + i];
  let a = x[base + i];
  let b = x[base + i + p.half];
  out[base + i] = a * c - b * s;
  out[base + i + p.half] = b * c + a * s;
}`;

export const ROPE_WGSL = ropeWgsl(false);
export const ROPE = { name: 'rope', code: ROPE_WGSL };
export const ROPE_INVERSE = { name: 'rope-inverse', code: ropeWgsl(true) };

export function dispatchRope(rt: GpuRuntime, x: GPUBuffer, cos: GPUBuffer, sin: GPUBuffer, out: GPUBuffer, rows: number, heads: number, headDim: number, inverse = false): void {
  const half = headDim / 2;
  const n = rows * heads * half;
  const src = inverse ? ROPE_INVERSE : ROPE;
  rt.dispatch(src.name, rt.pipeline(src), [{ buffer: x }, { buffer: cos }, { buffer: sin }, { buffer: out }], { u32: [n, heads, half] }, rt.grid(Math.ceil(n / WG)));
}

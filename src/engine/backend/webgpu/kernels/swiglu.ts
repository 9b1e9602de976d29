/**
 * SwiGLU, elementwise:  out[i] = silu(g[i]) · u[i],  silu(g) = g · σ(g),
 * with σ(g) = 1 / (1 + e^(−g)) for g ≥ 0 and e^g / (1 + e^g) for g < 0 (no overflow).
 */
import type { GpuRuntime } from '../runtime';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

/** WGSL σ(v) without overflow: 1/(1+e^(−v)) for v ≥ 0, e^v/(1+e^v) for v < 0 (also used by ./grad-swiglu.ts). */
export const SIGMOID_WGSL = /* wgsl */ `
fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), v >= 0.0);
}`;

export const SWIGLU_WGSL = /* wgsl */ `${SIGMOID_WGSL}
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

${flatKernelStartWgsl(WG, 'i', 'p.n')}
  let v = g[i];
  out[i] = v * sigmoid(v) * u[i];
}`;

export const SWIGLU = { name: 'swiglu', code: SWIGLU_WGSL };

export function dispatchSwiglu(rt: GpuRuntime, g: GPUBuffer, u: GPUBuffer, out: GPUBuffer, n: number): void {
  rt.dispatch('swiglu', rt.pipeline(SWIGLU), [{ buffer: g }, { buffer: u }, { buffer: out }], { u32: [n] }, rt.grid(Math.ceil(n / WG)));
}

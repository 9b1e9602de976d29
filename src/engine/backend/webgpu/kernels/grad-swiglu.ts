/**
 * SwiGLU gradient, elementwise. Forward y = silu(g)·u with silu(g) = g·σ(g):
 *
 *   dg = dy · u · σ(g) · (1 + g·(1 − σ(g)))
 *   du = dy · g · σ(g)
 *
 * σ computed as in the forward (./swiglu.ts): 1/(1+e^(−g)) for g ≥ 0, e^g/(1+e^g) for g < 0.
 */
import type { GpuRuntime } from '../runtime';
import { SIGMOID_WGSL } from './swiglu';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

export const SWIGLU_GRAD_WGSL = /* wgsl */ `${SIGMOID_WGSL}
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dg: array<f32>;
@group(0) @binding(5) var<storage, read_write> du: array<f32>;

${flatKernelStartWgsl(WG, 'i', 'p.n')}
  let v = g[i];
  let sig = sigmoid(v);
  let d = dy[i];
  dg[i] = d * u[i] * sig * (1.0 + v * (1.0 - sig));
  du[i] = d * v * sig;
}`;

export const SWIGLU_GRAD = { name: 'swiglu-grad', code: SWIGLU_GRAD_WGSL };

export function dispatchSwigluGrad(rt: GpuRuntime, g: GPUBuffer, u: GPUBuffer, dy: GPUBuffer, dg: GPUBuffer, du: GPUBuffer, n: number): void {
  rt.dispatch('swiglu-grad', rt.pipeline(SWIGLU_GRAD), [{ buffer: g }, { buffer: u }, { buffer: dy }, { buffer: dg }, { buffer: du }], { u32: [n] }, rt.grid(Math.ceil(n / WG)));
}

/**
 * One Adam step (quant/adam.ts) on n parameters in place, with the bias corrections
 * c1 = 1 − β1^t, c2 = 1 − β2^t and 1 − β1, 1 − β2 formed on the host in float64:
 *
 *   m ← β1·m + (1−β1)·g,   v ← β2·v + (1−β2)·g²,   p ← p − lr·(m/c1) / (√(v/c2) + ε)
 *
 * and, with a floor array f (L4Q's lower bound on the steps s), p ← max(p, f) afterwards.
 * One invocation per parameter.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

export function adamWgsl(floored: boolean): string {
  return /* wgsl */ `
struct Params { n: u32, lr: f32, beta1: f32, beta2: f32, omb1: f32, omb2: f32, eps: f32, c1: f32, c2: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
${floored ? '@group(0) @binding(5) var<storage, read> lo: array<f32>;' : ''}

${flatKernelStartWgsl(WG, 'i', 'p.n')}
  let g = grad[i];
  let mi = p.beta1 * m[i] + p.omb1 * g;
  let vi = p.beta2 * v[i] + p.omb2 * g * g;
  m[i] = mi;
  v[i] = vi;
  let x = param[i] - (p.lr * (mi / p.c1)) / (sqrt(vi / p.c2) + p.eps);
  ${floored ? 'param[i] = max(x, lo[i]);' : 'param[i] = x;'}
}`;
}

export function adamSource(floored: boolean): PipelineSource {
  return { name: 'adam', key: `adam floored=${floored}`, code: adamWgsl(floored) };
}

export interface AdamKernelOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  t: number;
}

export function dispatchAdam(rt: GpuRuntime, param: GPUBuffer, grad: GPUBuffer, m: GPUBuffer, v: GPUBuffer, floor: GPUBuffer | null, n: number, o: AdamKernelOptions): void {
  const buffers = [param, grad, m, v, ...(floor ? [floor] : [])].map((buffer) => ({ buffer }));
  const f32 = [o.lr, o.beta1, o.beta2, 1 - o.beta1, 1 - o.beta2, o.eps, 1 - o.beta1 ** o.t, 1 - o.beta2 ** o.t];
  rt.dispatch('adam', rt.pipeline(adamSource(!!floor)), buffers, { u32: [n], f32 }, rt.grid(Math.ceil(n / WG)));
}

/**
 * Elementwise add:  out[i] = a[i] + b[i].
 */
import type { GpuRuntime } from '../runtime';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

export const ADD_WGSL = /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

${flatKernelStartWgsl(WG, 'i', 'p.n')}
  out[i] = a[i] + b[i];
}`;

export const ADD = { name: 'add', code: ADD_WGSL };

export function dispatchAdd(rt: GpuRuntime, a: GPUBuffer, b: GPUBuffer, out: GPUBuffer, n: number): void {
  rt.dispatch('add', rt.pipeline(ADD), [{ buffer: a }, { buffer: b }, { buffer: out }], { u32: [n] }, rt.grid(Math.ceil(n / WG)));
}

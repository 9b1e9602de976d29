/**
 * Elementwise accumulation in place (gradients meeting at a residual branch):  a[i] += b[i].
 * (The forward's ./add.ts writes a third buffer; binding a both read and read-write in one
 * dispatch is not allowed, hence a kernel of its own.)
 */
import type { GpuRuntime } from '../runtime';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

export const ADD_IN_PLACE_WGSL = /* wgsl */ `
struct Params { n: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

${flatKernelStartWgsl(WG, 'i', 'p.n')}
  a[i] += b[i];
}`;

export const ADD_IN_PLACE = { name: 'add-in-place', code: ADD_IN_PLACE_WGSL };

export function dispatchAddInPlace(rt: GpuRuntime, a: GPUBuffer, b: GPUBuffer, n: number): void {
  rt.dispatch('add-in-place', rt.pipeline(ADD_IN_PLACE), [{ buffer: a }, { buffer: b }], { u32: [n] }, rt.grid(Math.ceil(n / WG)));
}

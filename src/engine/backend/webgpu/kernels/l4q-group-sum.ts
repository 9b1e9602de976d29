/**
 * Second pass of the L4Q quantizer gradient (l4q-fake-quant-grad.ts) when a group spans
 * several segments: per group gi, with S segments per group and the gradient scale g,
 *
 *   ds[gi] = g · Σ_{k<S} part_s[gi·S + k],   db[gi] = g · Σ_{k<S} part_b[gi·S + k]
 *
 * One invocation per group, segments added in order (deterministic; no atomics, no barriers).
 */
import type { GpuRuntime } from '../runtime';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

export const L4Q_GROUP_SUM_WGSL = /* wgsl */ `
struct Params { groups: u32, segs: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part_s: array<f32>;
@group(0) @binding(2) var<storage, read> part_b: array<f32>;
@group(0) @binding(3) var<storage, read_write> ds: array<f32>;
@group(0) @binding(4) var<storage, read_write> db: array<f32>;

${flatKernelStartWgsl(WG, 'gi', 'p.groups')}
  var ss = 0.0;
  var sb = 0.0;
  for (var k = 0u; k < p.segs; k++) {
    ss += part_s[gi * p.segs + k];
    sb += part_b[gi * p.segs + k];
  }
  ds[gi] = ss * p.scale;
  db[gi] = sb * p.scale;
}`;

export const L4Q_GROUP_SUM = { name: 'l4q-group-sum', code: L4Q_GROUP_SUM_WGSL };

export function dispatchL4qGroupSum(rt: GpuRuntime, partS: GPUBuffer, partB: GPUBuffer, ds: GPUBuffer, db: GPUBuffer, groups: number, segs: number, scale: number): void {
  const buffers = [partS, partB, ds, db].map((buffer) => ({ buffer }));
  rt.dispatch('l4q-group-sum', rt.pipeline(L4Q_GROUP_SUM), buffers, { u32: [groups, segs], f32: [scale] }, rt.grid(Math.ceil(groups / WG)));
}

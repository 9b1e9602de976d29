/**
 * Per-input-channel calibration statistics of x [T, C], accumulated in f32:
 *
 *   stats[0, c] += Σ_t x[t, c]      stats[1, c] += Σ_t x[t, c]²      stats[2, c] += T
 *
 * into a [3, C] tensor (zeroed first unless accumulating over several calls). One
 * invocation per channel walks the rows; neighbouring invocations read neighbouring
 * addresses. Each call's sums are formed separately and then added to the running totals.
 */
import type { GpuRuntime } from '../runtime';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

export const CHANNEL_STATS_WGSL = /* wgsl */ `
struct Params { T: u32, C: u32, accumulate: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;

${flatKernelStartWgsl(WG, 'c', 'p.C')}
  var s = 0.0;
  var s2 = 0.0;
  for (var t = 0u; t < p.T; t++) {
    let v = x[t * p.C + c];
    s += v;
    s2 += v * v;
  }
  if (p.accumulate != 0u) {
    stats[c] += s;
    stats[p.C + c] += s2;
    stats[2u * p.C + c] += f32(p.T);
  } else {
    stats[c] = s;
    stats[p.C + c] = s2;
    stats[2u * p.C + c] = f32(p.T);
  }
}`;

export const CHANNEL_STATS = { name: 'channel-stats', code: CHANNEL_STATS_WGSL };

export function dispatchChannelStats(rt: GpuRuntime, x: GPUBuffer, stats: GPUBuffer, T: number, C: number, accumulate: boolean): void {
  rt.dispatch('channel-stats', rt.pipeline(CHANNEL_STATS), [{ buffer: x }, { buffer: stats }], { u32: [T, C, accumulate ? 1 : 0] }, rt.grid(Math.ceil(C / WG)));
}

/**
 * The step after each histogram pass of the radix select (prune-radix-histogram.ts), one
 * invocation per segment. state_s = (prefix, r): the searched key is the one at index r
 * (0-based, ascending, ties in position order) among the keys that share the prefix's
 * digits above `shift + 8`. With the digit histogram h of those keys:
 *
 *   d = the smallest digit with Σ_{e ≤ d} h[e] > r
 *   prefix ← prefix | (d << shift),    r ← r − Σ_{e < d} h[e]
 *
 * and the histogram is cleared for the next pass. After the four passes (shifts 24, 16, 8,
 * 0) prefix is the key at index r₀ of the segment's ascending order and r is how many keys
 * equal to it come before it in that (stable) order.
 */
import type { GpuRuntime } from '../runtime';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

export const PRUNE_RADIX_PICK_WGSL = /* wgsl */ `
struct Params { segs: u32, shift: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> hist: array<u32>;

${flatKernelStartWgsl(WG, 's', 'p.segs')}
  let r = state[2u * s + 1u];
  var below = 0u;
  var digit = 255u;
  var found = false;
  for (var d = 0u; d < 256u; d++) {
    let h = hist[s * 256u + d];
    if (!found) {
      if (below + h > r) { digit = d; found = true; } else { below += h; }
    }
    hist[s * 256u + d] = 0u;
  }
  state[2u * s] = state[2u * s] | (digit << p.shift);
  state[2u * s + 1u] = r - below;
}`;

export const PRUNE_RADIX_PICK = { name: 'prune-radix-pick', code: PRUNE_RADIX_PICK_WGSL };

export function dispatchPruneRadixPick(rt: GpuRuntime, state: GPUBuffer, hist: GPUBuffer, segs: number, shift: number): void {
  rt.dispatch('prune-radix-pick', rt.pipeline(PRUNE_RADIX_PICK), [{ buffer: state }, { buffer: hist }], { u32: [segs, shift] }, rt.grid(Math.ceil(segs / WG)));
}

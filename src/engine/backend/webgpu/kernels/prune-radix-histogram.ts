/**
 * One pass of a radix select over u32 keys (prune-scores.ts), for many segments at once
 * (a segment = one row for per-row selection, the whole matrix for a per-matrix threshold).
 *
 * Segment s holds keys[s·len … (s+1)·len). After the passes at shifts 24, 16, 8 the
 * segment's state holds the high digits (prefix) of the key being searched for; this pass
 * counts, among the keys whose digits above `shift + 8` equal the prefix's, how many have
 * each value d ∈ [0, 256) of the digit (key >> shift) & 255:
 *
 *   hist[s, d] += #{ i in segment s : key_i >> (shift+8) = prefix_s >> (shift+8),
 *                                     (key_i >> shift) & 255 = d }
 *
 * A segment is split into parts of `chunk` keys, one workgroup each (so any length works:
 * only the 256 bins live in workgroup memory); each workgroup counts into a local
 * histogram and adds it to the global one with atomics. Counts are integers, so the
 * order of the additions does not matter.
 */
import type { GpuRuntime } from '../runtime';

const WG = 256;
/** Keys per workgroup. */
export const RADIX_CHUNK = 4096;

export const PRUNE_RADIX_HISTOGRAM_WGSL = /* wgsl */ `
struct Params { len: u32, shift: u32, parts: u32, segs: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> hist: array<atomic<u32>>;

var<workgroup> local: array<atomic<u32>, 256>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let g = wid.y * nwg.x + wid.x;
  if (g >= p.parts * p.segs) { return; }
  let seg = g / p.parts;
  let part = g % p.parts;
  atomicStore(&local[li], 0u);
  workgroupBarrier();
  let hiShift = p.shift + 8u;
  let prefix = state[2u * seg];
  let start = part * ${RADIX_CHUNK}u;
  let end = min(start + ${RADIX_CHUNK}u, p.len);
  let base = seg * p.len;
  for (var i = start + li; i < end; i += ${WG}u) {
    let k = keys[base + i];
    var same = true;
    if (hiShift < 32u) { same = (k >> hiShift) == (prefix >> hiShift); }
    if (same) { atomicAdd(&local[(k >> p.shift) & 255u], 1u); }
  }
  workgroupBarrier();
  let c = atomicLoad(&local[li]);
  if (c != 0u) { atomicAdd(&hist[seg * 256u + li], c); }
}`;

export const PRUNE_RADIX_HISTOGRAM = { name: 'prune-radix-histogram', code: PRUNE_RADIX_HISTOGRAM_WGSL };

export function dispatchPruneRadixHistogram(rt: GpuRuntime, keys: GPUBuffer, state: GPUBuffer, hist: GPUBuffer, segs: number, len: number, shift: number): void {
  const parts = Math.max(1, Math.ceil(len / RADIX_CHUNK));
  rt.dispatch('prune-radix-histogram', rt.pipeline(PRUNE_RADIX_HISTOGRAM), [{ buffer: keys }, { buffer: state }, { buffer: hist }], { u32: [len, shift, parts, segs] }, rt.grid(parts * segs));
}

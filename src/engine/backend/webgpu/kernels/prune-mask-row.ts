/**
 * Per-row "k lowest, ties in column order" mask (Wanda; magnitude per row), one workgroup
 * per row. The radix select (prune-radix-pick.ts) on index k−1 gave T (the largest pruned
 * score) and r (how many columns with key T come before it in the stable order), so
 *
 *   mask[c] = 1  ⇔  key[c] < T  or  (key[c] = T and #{c' < c : key[c'] = T} ≤ r)
 *
 * which prunes exactly k columns: the ones a stable ascending sort puts first. The count
 * of equal keys before each column is an exclusive prefix sum over the row, done a chunk
 * of 64 mask words (2048 columns) at a time — a workgroup scan of the per-word counts plus
 * the running total of the chunks before — so rows of any length work. Bit-packed output
 * as in prune-mask-threshold.ts.
 */
import type { GpuRuntime } from '../runtime';

const WG = 64;

export const PRUNE_MASK_ROW_WGSL = /* wgsl */ `
struct Params { rows: u32, cols: u32, words: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;

var<workgroup> scan: array<u32, ${WG}>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let t = state[2u * row];
  let rank = state[2u * row + 1u];
  var seen = 0u;
  for (var base = 0u; base < p.words; base += ${WG}u) {
    let wd = base + li;
    var lt = 0u;
    var eq = 0u;
    if (wd < p.words) {
      let c0 = wd * 32u;
      let n = min(32u, p.cols - c0);
      for (var j = 0u; j < n; j++) {
        let k = keys[row * p.cols + c0 + j];
        if (k < t) { lt |= 1u << j; } else if (k == t) { eq |= 1u << j; }
      }
    }
    let cnt = countOneBits(eq);
    scan[li] = cnt;
    workgroupBarrier();
    for (var off = 1u; off < ${WG}u; off <<= 1u) {
      var v = 0u;
      if (li >= off) { v = scan[li - off]; }
      workgroupBarrier();
      scan[li] += v;
      workgroupBarrier();
    }
    var idx = seen + scan[li] - cnt;
    var take = 0u;
    for (var j = 0u; j < 32u; j++) {
      if (((eq >> j) & 1u) != 0u) {
        if (idx <= rank) { take |= 1u << j; }
        idx++;
      }
    }
    if (wd < p.words) { mask[row * p.words + wd] = lt | take; }
    seen += scan[${WG - 1}u];
    workgroupBarrier();
  }
}`;

export const PRUNE_MASK_ROW = { name: 'prune-mask-row', code: PRUNE_MASK_ROW_WGSL };

export function dispatchPruneMaskRow(rt: GpuRuntime, keys: GPUBuffer, state: GPUBuffer, mask: GPUBuffer, rows: number, cols: number): void {
  rt.dispatch('prune-mask-row', rt.pipeline(PRUNE_MASK_ROW), [{ buffer: keys }, { buffer: state }, { buffer: mask }], { u32: [rows, cols, Math.ceil(cols / 32)] }, rt.grid(rows));
}

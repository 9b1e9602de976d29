/**
 * N:M mask, one invocation per mask word (32 columns of one row). Column c of row r lies
 * in the block starting at b = ⌊c/M⌋·M of width w = min(M, cols − b); it is pruned when
 * its rank in the block's stable ascending order is below min(N, w):
 *
 *   rank(c) = #{ c' in block : key[c'] < key[c]  or  (key[c'] = key[c] and c' < c) }
 *   mask[r, c] = 1  ⇔  rank(c) < min(N, w)
 *
 * which is the host's "sort the block, prune the first N" (ties: lower column first) —
 * a partial last block prunes its N lowest, or all of it when narrower than N. O(M) work
 * per column; the host uses this kernel for M ≤ 256. Bit-packed output as in
 * prune-mask-threshold.ts.
 */
import type { GpuRuntime } from '../runtime';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

export const PRUNE_NM_WGSL = /* wgsl */ `
struct Params { rows: u32, cols: u32, words: u32, n: u32, m: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> mask: array<u32>;

${flatKernelStartWgsl(WG, 'i', 'p.rows * p.words')}
  let r = i / p.words;
  let c0 = (i % p.words) * 32u;
  let n = min(32u, p.cols - c0);
  let o = r * p.cols;
  var bits = 0u;
  for (var j = 0u; j < n; j++) {
    let c = c0 + j;
    let b = (c / p.m) * p.m;
    let w = min(p.m, p.cols - b);
    let key = keys[o + c];
    var rank = 0u;
    for (var t = 0u; t < w; t++) {
      let kt = keys[o + b + t];
      if (kt < key || (kt == key && b + t < c)) { rank++; }
    }
    if (rank < min(p.n, w)) { bits |= 1u << j; }
  }
  mask[i] = bits;
}`;

export const PRUNE_NM = { name: 'prune-nm', code: PRUNE_NM_WGSL };

/** Largest M the kernel is used for (its work grows with M per column). */
export const PRUNE_NM_MAX_M = 256;

export function dispatchPruneNm(rt: GpuRuntime, keys: GPUBuffer, mask: GPUBuffer, rows: number, cols: number, n: number, m: number): void {
  const words = Math.ceil(cols / 32);
  rt.dispatch('prune-nm', rt.pipeline(PRUNE_NM), [{ buffer: keys }, { buffer: mask }], { u32: [rows, cols, words, n, m] }, rt.grid(Math.ceil((rows * words) / WG)));
}

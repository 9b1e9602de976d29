/**
 * Per-matrix magnitude threshold mask, one invocation per mask word: with T_s the key
 * found by the radix select of segment s (prune-radix-pick.ts: the value at index
 * ⌊numel·p⌋ of the ascending sort),
 *
 *   mask[r, c] = 1  ⇔  key[r, c] ≤ T_{⌊r / rowsPerSeg⌋}        (ties with T all pruned)
 *
 * The mask is bit-packed per row: word (r, w) holds columns 32w … 32w+31 of row r in
 * bits 0 … 31 (rows padded to whole words), so a word never spans two rows.
 */
import type { GpuRuntime } from '../runtime';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

export const PRUNE_MASK_THRESHOLD_WGSL = /* wgsl */ `
struct Params { rows: u32, cols: u32, words: u32, rowsPerSeg: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;

${flatKernelStartWgsl(WG, 'i', 'p.rows * p.words')}
  let r = i / p.words;
  let c0 = (i % p.words) * 32u;
  let t = state[2u * (r / p.rowsPerSeg)];
  let n = min(32u, p.cols - c0);
  var bits = 0u;
  for (var j = 0u; j < n; j++) {
    if (keys[r * p.cols + c0 + j] <= t) { bits |= 1u << j; }
  }
  mask[i] = bits;
}`;

export const PRUNE_MASK_THRESHOLD = { name: 'prune-mask-threshold', code: PRUNE_MASK_THRESHOLD_WGSL };

export function dispatchPruneMaskThreshold(rt: GpuRuntime, keys: GPUBuffer, state: GPUBuffer, mask: GPUBuffer, rows: number, cols: number, rowsPerSeg: number): void {
  const words = Math.ceil(cols / 32);
  rt.dispatch('prune-mask-threshold', rt.pipeline(PRUNE_MASK_THRESHOLD), [{ buffer: keys }, { buffer: state }, { buffer: mask }], { u32: [rows, cols, words, rowsPerSeg] }, rt.grid(Math.ceil((rows * words) / WG)));
}

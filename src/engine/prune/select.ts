/**
 * Masks on weights: counting and applying them. The selection rules that make the masks
 * (per row, per matrix threshold, N:M, with the official tie-breaking) are the CPU
 * backend's prune ops (backend/cpu/prune-ops.ts), re-exported here.
 */
export { argsortAsc, compareAsc, kthSmallest, matrixThresholdMask, rowLowestMask } from '../backend/cpu/prune-ops';

export function countOnes(mask: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i]!;
  return n;
}

/** A copy of w with the masked entries set to zero. */
export function applyMask(w: Float32Array, mask: Uint8Array): Float32Array {
  const out = Float32Array.from(w);
  for (let i = 0; i < out.length; i++) if (mask[i]) out[i] = 0;
  return out;
}

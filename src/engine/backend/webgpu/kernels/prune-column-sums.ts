/**
 * Column sums of FLAP's per-weight terms (prune-scores.ts, modes square / scaled), one
 * invocation per column, in row order:
 *
 *   acc_c ← 0;  acc_c ← f32(acc_c + term[r, c])  for r = 0 … rows−1;   out[c] = acc_c
 *
 * The terms are the scores kernel's f32 bit patterns (+0 or positive normal); each addition
 * is an integer-arithmetic round-to-nearest-even f32 add (prune-softfloat.ts), the same
 * sequence as the host reference (backend/cpu/prune-ops.ts columnSumsHost), hence the same bits on any
 * device (the GPU's own float add may round either way and no FMA can sneak in). An
 * overflow sets `flag` (the host then recomputes). Neighbouring invocations read
 * neighbouring columns.
 */
import type { GpuRuntime } from '../runtime';
import { SOFTFLOAT_WGSL } from './prune-softfloat';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

export const PRUNE_COLUMN_SUMS_WGSL = /* wgsl */ `
struct Params { rows: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> terms: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<storage, read_write> flag: array<atomic<u32>>;
${SOFTFLOAT_WGSL}

${flatKernelStartWgsl(WG, 'c', 'p.cols')}
  var acc = 0u;
  var bad = false;
  for (var r = 0u; r < p.rows; r++) {
    acc = sfAdd(acc, terms[r * p.cols + c], &bad);
  }
  out[c] = acc;
  if (bad) { atomicOr(&flag[0], 1u); }
}`;

export const PRUNE_COLUMN_SUMS = { name: 'prune-column-sums', code: PRUNE_COLUMN_SUMS_WGSL };

export function dispatchPruneColumnSums(rt: GpuRuntime, terms: GPUBuffer, out: GPUBuffer, flag: GPUBuffer, rows: number, cols: number): void {
  rt.dispatch('prune-column-sums', rt.pipeline(PRUNE_COLUMN_SUMS), [{ buffer: terms }, { buffer: out }, { buffer: flag }], { u32: [rows, cols] }, rt.grid(Math.ceil(cols / WG)));
}

/**
 * Pruning scores as sortable keys, one invocation per weight:
 *
 *   mode 0 (magnitude):  key_i = bits(|W_i|)                    (the sign bit cleared)
 *   mode 1 (scaled):     key_i = bits(f32(|W_i| · scale_{i mod cols}))   (Wanda; FLAP WIFN's terms)
 *   mode 2 (square):     key_i = bits(f32(W_i²))                          (FLAP WIFV's terms)
 *
 * For non-negative floats the IEEE bit pattern read as an unsigned integer is monotone in
 * the value, so selections on the keys (prune-radix-*.ts) order the scores exactly as the
 * host's float comparison does; equal scores have equal keys. The product is formed in
 * integer arithmetic with round-to-nearest-even (prune-softfloat.ts), so it is the host's
 * Math.fround(|w|·s) on every device. NaN, ±Inf, subnormal inputs and products outside
 * the normal range set `flag`, and the host then uses its reference code for that matrix.
 */
import type { GpuRuntime } from '../runtime';
import { SOFTFLOAT_WGSL } from './prune-softfloat';
import { flatKernelStartWgsl } from './flat';

const WG = 256;

export const PRUNE_SCORES_WGSL = /* wgsl */ `
struct Params { n: u32, cols: u32, mode: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> scale: array<u32>;
@group(0) @binding(3) var<storage, read_write> keys: array<u32>;
@group(0) @binding(4) var<storage, read_write> flag: array<atomic<u32>>;

const MIN_NORMAL: u32 = 0x00800000u;
const INF: u32 = 0x7f800000u;
${SOFTFLOAT_WGSL}

${flatKernelStartWgsl(WG, 'i', 'p.n')}
  let a = w[i] & 0x7fffffffu;
  var key = a;
  var bad = a > INF;
  if (p.mode != 0u) {
    // The host checked that every scale is +0 or a positive normal float.
    bad = bad || a >= INF || (a != 0u && a < MIN_NORMAL);
    if (!bad) {
      var other = a;
      if (p.mode == 1u) { other = scale[i % p.cols]; }
      var over = false;
      key = sfMul(a, other, &over);
      bad = over;
    }
  }
  keys[i] = key;
  if (bad) { atomicOr(&flag[0], 1u); }
}`;

export const PRUNE_SCORES = { name: 'prune-scores', code: PRUNE_SCORES_WGSL };

export type PruneScoreMode = 'magnitude' | 'scaled' | 'square';

const MODE: Record<PruneScoreMode, number> = { magnitude: 0, scaled: 1, square: 2 };

/** `scale` must be a bound buffer even when unused (magnitude, square): pass any. */
export function dispatchPruneScores(rt: GpuRuntime, w: GPUBuffer, scale: GPUBuffer, keys: GPUBuffer, flag: GPUBuffer, n: number, cols: number, mode: PruneScoreMode): void {
  rt.dispatch('prune-scores', rt.pipeline(PRUNE_SCORES), [{ buffer: w }, { buffer: scale }, { buffer: keys }, { buffer: flag }], { u32: [n, cols, MODE[mode]] }, rt.grid(Math.ceil(n / WG)));
}

/**
 * Round-to-nearest (RTN) weight quantization (docs/methods/rtn.md#rules), straight to the packed
 * layout (pack.ts).
 *
 * Groups: each output row is cut into groups of G consecutive input columns (per-group),
 * or is one group (per-channel, G = null). The last group of a row may be shorter when G
 * does not divide in_features; it is stored padded to G codes (MatMulNBits). When G ≥
 * in_features the group is the whole row and is stored as one block of in_features codes
 * (no padding), i.e. per-channel: stories260K's 64-wide rows with G = 128 are per-channel.
 *
 * With maxq = 2^bits − 1 and per group the values w:
 * - asymmetric (GPTQ's and ONNX Runtime/MLAS's min-max rule): lo = min(min w, 0),
 *   hi = max(max w, 0) (the range always holds 0); scale = (hi − lo)/maxq;
 *   z = clamp(round(−lo/scale), 0, maxq); u = clamp(round(w/scale) + z, 0, maxq).
 *   A group of zeros (lo = hi = 0) takes GPTQ's lo = −1, hi = 1, so it still decodes to 0.
 * - symmetric (ONNX Runtime/MLAS's rule, the one its MatMulNBits quantizer writes without
 *   zero points): e = the signed value of largest magnitude (the first such in column order
 *   on a tie of |·|); scale = e / −2^(bits−1), which may be negative; z = 2^(bits−1) (the
 *   MatMulNBits default, not stored); u = clamp(round(w/scale) + z, 0, maxq). e lands
 *   exactly on code 0 (the larger half of the signed range), so the group's extreme is
 *   never clipped; a value of the opposite sign and the same magnitude clips to maxq
 *   (one step short). A group of zeros has scale 0 and decodes to 0.
 * - symmetric, GPTQ's rule (symmetricRule 'gptq', an option): m = max(|min w|, |max w|);
 *   scale = 2m/maxq; z = (maxq + 1)/2 = 2^(bits−1) (not stored); u as above. The range is
 *   [−2^(bits−1), 2^(bits−1) − 1]·scale ≈ [−1.07m, 0.93m], so a positive extreme is clipped.
 *   A group of zeros takes m = 1 (GPTQ) and decodes to 0.
 * Ŵ = (u − z)·scale in every case.
 *
 * Arithmetic and rounding: every quantity is computed in float32 (each operation rounded
 * to float32, as PyTorch does on float32 tensors: scale = f32((hi − lo)/maxq), then
 * round(f32(w/scale))), and round() is round-half-to-even, as torch.round and WGSL round().
 * So the codes equal a float32 PyTorch re-implementation (GPTQ's quantizer) bit for bit.
 * MLAS's C roundf rounds halves away from zero instead; the two differ only on exact
 * ties (w/scale exactly k + ½), which are rare in trained weights.
 */
import { StudioError } from '../errors';
import { groupWidth, isGroupSize } from '../rules';
import { checkBits, packLinear, type PackedLinear } from './pack';

export interface RtnSettings {
  bits: number;
  /** Input columns per group; null = per output channel (one group per row). */
  groupSize: number | null;
  symmetric: boolean;
  /** Symmetric scale rule: 'mlas' (default, ONNX Runtime) or 'gptq' (see above). */
  symmetricRule?: SymmetricRule;
}

export type SymmetricRule = 'mlas' | 'gptq';

/** Round half to even (banker's rounding), like torch.round and WGSL round(). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // halves go up here…
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r; // …so an odd result from a half goes back down
}

const f32 = Math.fround;

export function checkRtnSettings(s: RtnSettings): void {
  checkBits(s.bits);
  if (s.symmetricRule !== undefined && s.symmetricRule !== 'mlas' && s.symmetricRule !== 'gptq') throw new StudioError('input', `RTN: symmetric rule must be mlas or gptq, got ${String(s.symmetricRule)}`);
  if (!isGroupSize(s.groupSize)) {
    throw new StudioError('input', `RTN: group size must be a positive integer or per-channel, got ${s.groupSize}`);
  }
}

/** Quantizes one weight [rows, cols] (row-major float32) to the packed layout. */
export function rtnQuantize(w: Float32Array, rows: number, cols: number, s: RtnSettings): PackedLinear {
  checkRtnSettings(s);
  if (w.length !== rows * cols) throw new StudioError('input', `RTN: ${w.length} values for a [${rows}, ${cols}] weight`);
  const bs = groupWidth(s.groupSize, cols);
  const kBlocks = Math.ceil(cols / bs);
  const maxq = (1 << s.bits) - 1;
  const half = 1 << (s.bits - 1);
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * kBlocks);
  const zeros = s.symmetric ? null : new Uint8Array(rows * kBlocks);
  for (let n = 0; n < rows; n++) {
    for (let b = 0; b < kBlocks; b++) {
      const k0 = n * cols + b * bs;
      const k1 = n * cols + Math.min((b + 1) * bs, cols);
      let scale: number;
      let z: number;
      if (s.symmetric && s.symmetricRule === 'gptq') {
        let m = 0;
        for (let i = k0; i < k1; i++) m = Math.max(m, Math.abs(w[i]!));
        if (m === 0) m = 1;
        scale = f32(f32(2 * m) / maxq);
        z = half;
      } else if (s.symmetric) {
        let e = 0;
        for (let i = k0; i < k1; i++) if (Math.abs(w[i]!) > Math.abs(e)) e = w[i]!;
        scale = f32(e / -half);
        z = half;
      } else {
        let lo = 0;
        let hi = 0;
        for (let i = k0; i < k1; i++) {
          lo = Math.min(lo, w[i]!);
          hi = Math.max(hi, w[i]!);
        }
        if (lo === 0 && hi === 0) {
          lo = -1;
          hi = 1;
        }
        scale = f32(f32(hi - lo) / maxq);
        z = Math.min(maxq, Math.max(0, roundHalfEven(f32(-lo / scale))));
        zeros![n * kBlocks + b] = z;
      }
      scales[n * kBlocks + b] = scale;
      for (let i = k0; i < k1; i++) {
        const q = scale === 0 ? 0 : roundHalfEven(f32(w[i]! / scale));
        if (!Number.isFinite(q)) throw new StudioError('numerics', `RTN: weight [${n}, ${i - n * cols}] is ${w[i]}`);
        codes[i] = Math.min(maxq, Math.max(0, q + z));
      }
    }
  }
  return packLinear({ rows, cols, bits: s.bits, blockSize: bs, codes, scales, zeros });
}

/**
 * IEEE 754 half precision (binary16) encoding of float32 values, for f16 weight storage on
 * the GPU and f16 exports, and its decoding.
 */

/** The float value of a binary16 bit pattern. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The binary16 bit pattern nearest to `x` (round half to even, as IEEE conversions do);
 * values beyond the largest half (65504, after rounding) become ±Infinity, NaN stays NaN.
 */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  // Unbiased exponent; half normals cover −14 … 15.
  const e = exp - 127;
  if (e > 15) return sign | 0x7c00;
  if (e >= -14) {
    // Normal half: keep 10 of the 23 mantissa bits, rounding the 13 dropped ones to even.
    let h = ((e + 15) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // a carry into the exponent is right (up to Infinity)
    return sign | h;
  }
  if (e < -25) return sign; // below half the smallest subnormal: ±0
  // Subnormal half: value = m · 2^−24 with m < 1024; shift the full 24-bit significand.
  const full = mant | 0x800000;
  const shift = -e - 1; // 14 … 24: bits dropped from the 24-bit significand, beyond the 10 kept
  let m = full >>> shift;
  const dropped = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (dropped > halfway || (dropped === halfway && (m & 1))) m++;
  return sign | m;
}

/** Encodes a whole array; `onOverflow` is called with the first index whose value is finite but beyond half range. */
export function encodeF16(src: Float32Array, onOverflow?: (index: number) => void): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = f32ToF16(src[i]!);
    if (onOverflow && (h & 0x7c00) === 0x7c00 && (h & 0x3ff) === 0 && Number.isFinite(src[i]!)) onOverflow(i);
    out[i] = h;
  }
  return out;
}

/** Encodes to half only when every value survives the round trip exactly; null otherwise. */
export function encodeF16Exact(src: Float32Array): Uint16Array | null {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const x = src[i]!;
    const h = f32ToF16(x);
    if (f16ToF32(h) !== x && !Number.isNaN(x)) return null;
    out[i] = h;
  }
  return out;
}

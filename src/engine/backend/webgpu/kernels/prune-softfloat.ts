/**
 * IEEE binary32 multiply and add of non-negative numbers in integer arithmetic (WGSL
 * functions shared by prune-scores.ts and prune-column-sums.ts), rounded to nearest, ties
 * to even — the host's Math.fround(x·y) and Math.fround(x + y).
 *
 * Why not the GPU's own float ops: WGSL only promises that x·y and x + y land on one of the
 * two floats next to the exact result, and GPUs may flush subnormals to zero; a mask that
 * must equal the host's bit for bit cannot rest on that. Integer ops are exact everywhere.
 *
 * Both take and return bit patterns of +0 or positive normal floats; a result that is not
 * a normal float (overflow to Inf, underflow below 2^-126) sets *bad and the caller's
 * host falls back to its reference code.
 *
 *   mul: x = mx·2^(ex−150), y = my·2^(ey−150) with 24-bit significands (hidden bit set);
 *        P = mx·my ∈ [2^46, 2^48) as a 48-bit hi:lo pair (16-bit limbs); keep its top 24
 *        bits, round on the rest; exponent ex + ey − 127 (+1 when P ≥ 2^47).
 *   add: x ≥ y; significands with 7 extra low bits; y shifted right by ex − ey with the
 *        bits shifted out OR-ed into bit 0 (sticky); a carry shifts right once more (same
 *        sticky rule); round on the 7 low bits.
 */
export const SOFTFLOAT_WGSL = /* wgsl */ `
fn sfRound(m: u32, rem: u32, half: u32, e: i32, bad: ptr<function, bool>) -> u32 {
  var mm = m;
  var ee = e;
  if (rem > half || (rem == half && (mm & 1u) == 1u)) { mm += 1u; }
  if (mm == 0x1000000u) { mm = 0x800000u; ee += 1; }
  if (ee <= 0 || ee >= 255) { *bad = true; return 0u; }
  return (u32(ee) << 23u) | (mm & 0x7fffffu);
}

fn sfMul(a: u32, b: u32, bad: ptr<function, bool>) -> u32 {
  if (a == 0u || b == 0u) { return 0u; }
  let ma = (a & 0x7fffffu) | 0x800000u;
  let mb = (b & 0x7fffffu) | 0x800000u;
  let a1 = ma >> 16u;
  let a0 = ma & 0xffffu;
  let b1 = mb >> 16u;
  let b0 = mb & 0xffffu;
  let p00 = a0 * b0;
  let mid = a1 * b0 + a0 * b1;
  let lo = p00 + (mid << 16u);
  let hi = a1 * b1 + (mid >> 16u) + select(0u, 1u, lo < p00);
  var e = i32(a >> 23u) + i32(b >> 23u) - 127;
  if (hi >= 0x8000u) {
    e += 1;
    return sfRound((hi << 8u) | (lo >> 24u), lo & 0xffffffu, 0x800000u, e, bad);
  }
  return sfRound((hi << 9u) | (lo >> 23u), lo & 0x7fffffu, 0x400000u, e, bad);
}

fn sfAdd(a: u32, b: u32, bad: ptr<function, bool>) -> u32 {
  let x = max(a, b);
  let y = min(a, b);
  if (y == 0u) { return x; }
  var e = i32(x >> 23u);
  let d = u32(e - i32(y >> 23u));
  let my = ((y & 0x7fffffu) | 0x800000u) << 7u;
  var s = ((x & 0x7fffffu) | 0x800000u) << 7u;
  if (d > 30u) {
    s |= 1u;
  } else {
    s += my >> d;
    if ((my & ((1u << d) - 1u)) != 0u) { s |= 1u; }
  }
  if (s >= 0x80000000u) {
    s = (s >> 1u) | (s & 1u);
    e += 1;
  }
  return sfRound(s >> 7u, s & 0x7fu, 0x40u, e, bad);
}
`;

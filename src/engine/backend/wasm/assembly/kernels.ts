/**
 * The WebAssembly SIMD kernels of the wasm backend, in AssemblyScript (compiled by
 * scripts/build-wasm.mjs into ../kernels-wasm.ts; never type-checked as plain TypeScript).
 *
 * Memory: JavaScript owns the linear memory (wasm-heap.ts allocates in it, from
 * heapBase() up); every kernel takes byte addresses of f32 arrays and allocates nothing.
 * All arithmetic is f32, 128-bit SIMD (4 lanes), one thread.
 */

// ---------------------------------------------------------------------------------------
// Dense matmul, out[t, n] = Σ_k x[t, k] · w[n, k] (+ bias[n]) for x [T, K], w [N, K].
//
// Both operands have k contiguous, so every output is a dot product of two rows. The
// register block reads 4 rows of x and 2 rows of w per 4 k: 8 vector loads for 8 lane-wise
// multiply-adds into 8 accumulators (lane l of acc sums the k ≡ l mod 4 terms; the 4 lanes
// are added at the end, then the k mod 4 tail in scalar). Measured on this project's 2-core
// EPYC (V8 11, Node 20; GFLOP per CPU-second for the SmolLM2-135M q_proj shape 64×576×576,
// x rows × w rows): 1×4 22.6, 2×4 30.6, 3×4 25.5, 4×4 23.0, 4×2 30.2, 4×3 25.0, 3×3 21.9,
// 5×2 23.2, 6×2 22.4, 2×8 19.1, and 4×2 with k unrolled twice 24.9 — V8 has 16 xmm
// registers and larger blocks spill; 4×2 was best or near best on every shape tried
// (64×576×1536, 512×64×172, 64×576×49152).
//
// Loop order: a pair of w rows (2·K floats, L1-resident) is reused against every x row of a
// block of x rows of about 256 KiB (L2-resident), so w streams from memory once per block.
// (64 KiB blocks made the 135M model's LM head, 64×576×49152, stream its 113 MB three
// times: 24.7 against 31.2 GFLOP/s.)
// ---------------------------------------------------------------------------------------

@inline function hsum(a: v128): f32 {
  return f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3);
}

@inline function biasAt(bias: usize, n: i32): f32 {
  return bias == 0 ? <f32>0 : load<f32>(bias + (<usize>n << 2));
}

/** 4 rows of x × 2 rows of w. */
function block4x2(px: usize, pw: usize, K: i32, out: usize, ldo: usize, b0: f32, b1: f32): void {
  const xs: usize = <usize>K << 2;
  const k4: usize = <usize>(K & ~3) << 2;
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0);
  let a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  for (let k: usize = 0; k < k4; k += 16) {
    const x0 = v128.load(px + k);
    const x1 = v128.load(px + xs + k);
    const x2 = v128.load(px + 2 * xs + k);
    const x3 = v128.load(px + 3 * xs + k);
    const w0 = v128.load(pw + k);
    a00 = f32x4.add(a00, f32x4.mul(x0, w0));
    a10 = f32x4.add(a10, f32x4.mul(x1, w0));
    a20 = f32x4.add(a20, f32x4.mul(x2, w0));
    a30 = f32x4.add(a30, f32x4.mul(x3, w0));
    const w1 = v128.load(pw + xs + k);
    a01 = f32x4.add(a01, f32x4.mul(x0, w1));
    a11 = f32x4.add(a11, f32x4.mul(x1, w1));
    a21 = f32x4.add(a21, f32x4.mul(x2, w1));
    a31 = f32x4.add(a31, f32x4.mul(x3, w1));
  }
  let s00 = hsum(a00), s01 = hsum(a01), s10 = hsum(a10), s11 = hsum(a11);
  let s20 = hsum(a20), s21 = hsum(a21), s30 = hsum(a30), s31 = hsum(a31);
  for (let k: usize = k4; k < xs; k += 4) {
    const w0 = load<f32>(pw + k);
    const w1 = load<f32>(pw + xs + k);
    const x0 = load<f32>(px + k);
    const x1 = load<f32>(px + xs + k);
    const x2 = load<f32>(px + 2 * xs + k);
    const x3 = load<f32>(px + 3 * xs + k);
    s00 += x0 * w0; s01 += x0 * w1;
    s10 += x1 * w0; s11 += x1 * w1;
    s20 += x2 * w0; s21 += x2 * w1;
    s30 += x3 * w0; s31 += x3 * w1;
  }
  store<f32>(out, s00 + b0); store<f32>(out, s01 + b1, 4);
  store<f32>(out + ldo, s10 + b0); store<f32>(out + ldo, s11 + b1, 4);
  store<f32>(out + 2 * ldo, s20 + b0); store<f32>(out + 2 * ldo, s21 + b1, 4);
  store<f32>(out + 3 * ldo, s30 + b0); store<f32>(out + 3 * ldo, s31 + b1, 4);
}

/** One row of x × one row of w (edges: the last odd w row, the last T mod 4 x rows). */
function dot1(px: usize, pw: usize, K: i32): f32 {
  const xs: usize = <usize>K << 2;
  const k4: usize = <usize>(K & ~3) << 2;
  let a = f32x4.splat(0);
  let k: usize = 0;
  for (; k < k4; k += 16) a = f32x4.add(a, f32x4.mul(v128.load(px + k), v128.load(pw + k)));
  let s = hsum(a);
  for (; k < xs; k += 4) s += load<f32>(px + k) * load<f32>(pw + k);
  return s;
}

/** One row of x × 4 rows of w (the T mod 4 edge, and T = 1 decoding). */
function block1x4(px: usize, pw: usize, K: i32, out: usize, bias: usize, n: i32): void {
  const xs: usize = <usize>K << 2;
  const k4: usize = <usize>(K & ~3) << 2;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let k: usize = 0; k < k4; k += 16) {
    const x = v128.load(px + k);
    a0 = f32x4.add(a0, f32x4.mul(x, v128.load(pw + k)));
    a1 = f32x4.add(a1, f32x4.mul(x, v128.load(pw + xs + k)));
    a2 = f32x4.add(a2, f32x4.mul(x, v128.load(pw + 2 * xs + k)));
    a3 = f32x4.add(a3, f32x4.mul(x, v128.load(pw + 3 * xs + k)));
  }
  let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
  for (let k: usize = k4; k < xs; k += 4) {
    const x = load<f32>(px + k);
    s0 += x * load<f32>(pw + k);
    s1 += x * load<f32>(pw + xs + k);
    s2 += x * load<f32>(pw + 2 * xs + k);
    s3 += x * load<f32>(pw + 3 * xs + k);
  }
  store<f32>(out, s0 + biasAt(bias, n));
  store<f32>(out, s1 + biasAt(bias, n + 1), 4);
  store<f32>(out, s2 + biasAt(bias, n + 2), 8);
  store<f32>(out, s3 + biasAt(bias, n + 3), 12);
}

/**
 * Columns [0, cols) of out [T, ldo] from cols rows of w (w's row 0 is output column 0 of
 * `out`; `bias` likewise points at the first column's bias, or is 0).
 */
function gemmPanel(x: usize, w: usize, bias: usize, out: usize, T: i32, K: i32, cols: i32, ldo: i32): void {
  const xs: usize = <usize>K << 2;
  const os: usize = <usize>ldo << 2;
  // x rows per block: about 256 KiB of x, a multiple of 4, at least 4.
  let tb = (65536 / K) & ~3;
  if (tb < 4) tb = 4;
  const T4 = T & ~3;
  for (let t0 = 0; t0 < T4; t0 += tb) {
    const t1 = min(t0 + tb, T4);
    let n = 0;
    for (; n + 2 <= cols; n += 2) {
      const pw = w + <usize>n * xs;
      const b0 = biasAt(bias, n), b1 = biasAt(bias, n + 1);
      for (let t = t0; t < t1; t += 4) block4x2(x + <usize>t * xs, pw, K, out + <usize>t * os + (<usize>n << 2), os, b0, b1);
    }
    if (n < cols) {
      const pw = w + <usize>n * xs;
      const b0 = biasAt(bias, n);
      for (let t = t0; t < t1; t++) store<f32>(out + <usize>t * os + (<usize>n << 2), dot1(x + <usize>t * xs, pw, K) + b0);
    }
  }
  for (let t = T4; t < T; t++) {
    const px = x + <usize>t * xs;
    const po = out + <usize>t * os;
    let n = 0;
    for (; n + 4 <= cols; n += 4) block1x4(px, w + <usize>n * xs, K, po + (<usize>n << 2), bias, n);
    for (; n < cols; n++) store<f32>(po + (<usize>n << 2), dot1(px, w + <usize>n * xs, K) + biasAt(bias, n));
  }
}

/** out [T, N] = x [T, K] · w [N, K]ᵀ (+ bias [N]; bias = 0 for none). */
export function matmul(x: usize, w: usize, bias: usize, out: usize, T: i32, K: i32, N: i32): void {
  gemmPanel(x, w, bias, out, T, K, N, N);
}

// ---------------------------------------------------------------------------------------
// Packed integer matmul (ONNX Runtime's MatMulNBits layout, quant/pack.ts):
//   Ŵ[n, k] = (u[n, k] − z[n, b]) · scale[n, b],  b = ⌊k / blockSize⌋
// u is a `bits`-wide code in a little-endian bit stream per (row, block) blob of blobSize
// bytes. The zero points arrive as f32 [N, kBlocks] (the engine unpacks integer zero points
// once at upload). A panel of w rows (about 64 KiB as f32) is dequantized into `scratch`,
// then multiplied like a dense panel, so the dequantization is paid once per row per call
// and the float copy never exceeds one panel.
// ---------------------------------------------------------------------------------------

/** Code i of a blob (generic bit width: the stream may cross a byte boundary). */
@inline function codeAt(blob: usize, i: i32, bits: i32): i32 {
  const bit = i * bits;
  // Two bytes always hold a code of ≤ 8 bits starting anywhere in the first one; the byte
  // after a blob is at worst the next blob's or the padding the backend allocates.
  const word = <i32>load<u16>(blob + (<usize>bit >> 3));
  return (word >> (bit & 7)) & ((1 << bits) - 1);
}

/** Rows [n0, n0 + rows) of Ŵ into dst [rows, K] f32. */
function dequantRows(qweight: usize, scales: usize, zeros: usize, bits: i32, blockSize: i32, kBlocks: i32, blobSize: i32, K: i32, n0: i32, rows: i32, dst: usize): void {
  for (let r = 0; r < rows; r++) {
    const n = n0 + r;
    const drow = dst + (<usize>r * <usize>K << 2);
    for (let b = 0; b < kBlocks; b++) {
      const g: usize = <usize>(n * kBlocks + b) << 2;
      const s = load<f32>(scales + g);
      const z = load<f32>(zeros + g);
      const blob = qweight + <usize>(n * kBlocks + b) * <usize>blobSize;
      const k0 = b * blockSize;
      const len = min(blockSize, K - k0);
      const d = drow + (<usize>k0 << 2);
      if (bits == 4) {
        // Byte j holds codes 2j (low nibble) and 2j+1 (high nibble).
        let i = 0;
        for (; i + 2 <= len; i += 2) {
          const byte = <i32>load<u8>(blob + (<usize>i >> 1));
          store<f32>(d + (<usize>i << 2), (<f32>(byte & 15) - z) * s);
          store<f32>(d + (<usize>i << 2), (<f32>(byte >> 4) - z) * s, 4);
        }
        if (i < len) store<f32>(d + (<usize>i << 2), (<f32>(load<u8>(blob + (<usize>i >> 1)) & 15) - z) * s);
      } else if (bits == 8) {
        for (let i = 0; i < len; i++) store<f32>(d + (<usize>i << 2), (<f32>load<u8>(blob + <usize>i) - z) * s);
      } else {
        for (let i = 0; i < len; i++) store<f32>(d + (<usize>i << 2), (<f32>codeAt(blob, i, bits) - z) * s);
      }
    }
  }
}

/** Rows of Ŵ dequantized per panel; `scratch` holds panelRows(K) · K floats. */
export function panelRows(K: i32): i32 {
  let p = (16384 / K) & ~1;
  return p < 2 ? 2 : p;
}

/** out [T, N] = x [T, K] · Ŵᵀ (+ bias). */
export function matmulPacked(x: usize, qweight: usize, scales: usize, zeros: usize, bits: i32, blockSize: i32, kBlocks: i32, blobSize: i32, bias: usize, out: usize, T: i32, K: i32, N: i32, scratch: usize): void {
  const P = panelRows(K);
  for (let n0 = 0; n0 < N; n0 += P) {
    const rows = min(P, N - n0);
    dequantRows(qweight, scales, zeros, bits, blockSize, kBlocks, blobSize, K, n0, rows, scratch);
    gemmPanel(x, scratch, bias == 0 ? 0 : bias + (<usize>n0 << 2), out + (<usize>n0 << 2), T, K, rows, N);
  }
}

// ---------------------------------------------------------------------------------------
// exp on 4 lanes (Cephes' expf): x = n·ln2 + r with n = ⌊x·log2 e + ½⌋, |r| ≤ ½ln2, ln2 split
// in two constants so that r is exact; e^r by its degree-7 polynomial; 2^n built in the
// exponent bits. Relative error about 1e-7 (2 ulp). Arguments below −87.3 (where 2^n would
// leave the normal range) give 0, above 88.3 give e^88.3 (neither occurs in a softmax after
// the max is subtracted, nor in SiLU for activations of sane size).
// ---------------------------------------------------------------------------------------

@inline function exp4(x: v128): v128 {
  const keep = f32x4.ge(x, f32x4.splat(-87.3));
  const c = f32x4.max(f32x4.min(x, f32x4.splat(88.3)), f32x4.splat(-87.3));
  const fx = f32x4.floor(f32x4.add(f32x4.mul(c, f32x4.splat(1.44269504088896341)), f32x4.splat(0.5)));
  let r = f32x4.sub(c, f32x4.mul(fx, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(fx, f32x4.splat(-2.12194440e-4)));
  let y = f32x4.splat(1.9875691500e-4);
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, r), f32x4.splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(y, f32x4.mul(r, r)), r), f32x4.splat(1));
  const pow2n = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(fx), i32x4.splat(127)), 23);
  return v128.and(f32x4.mul(y, pow2n), keep);
}

/** exp of one value through the same polynomial (the tails of vector loops). */
@inline function exp1(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}

/** out[i] = silu(g[i]) · u[i] = g[i] / (1 + e^(−g[i])) · u[i] */
export function swiglu(g: usize, u: usize, out: usize, n: i32): void {
  const end: usize = <usize>n << 2;
  const n4: usize = <usize>(n & ~3) << 2;
  const one = f32x4.splat(1);
  let i: usize = 0;
  for (; i < n4; i += 16) {
    const x = v128.load(g + i);
    const sig = f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(x))));
    v128.store(out + i, f32x4.mul(f32x4.mul(x, sig), v128.load(u + i)));
  }
  for (; i < end; i += 4) {
    const x = load<f32>(g + i);
    store<f32>(out + i, (x / (1 + exp1(-x))) * load<f32>(u + i));
  }
}

// ---------------------------------------------------------------------------------------
// Causal grouped-query attention against keys/values of positions 0 … offset+T−1:
//   for query row i (position offset+i) of head h, kv head g = ⌊h / (H/KVH)⌋:
//   s_j = (q_i · k_j) / √d for j ≤ offset+i,  p_j = exp(s_j − max s),
//   out_i = Σ_j p_j v_j / Σ_j p_j
// q [T, H·d], k/v [≥ offset+T, KVH·d]; `scratch` holds offset+T floats (the scores).
// With d a multiple of 4: four keys' dot products at a time, reduced into one vector by a
// 4×4 transpose of their partial sums, exp on 4 scores at a time (a scalar exp per score
// was most of the time), and Σ p_j v_j with 4 vectors of the output in registers per pass
// over the keys. Otherwise a scalar loop.
// ---------------------------------------------------------------------------------------

/** [Σ a0, Σ a1, Σ a2, Σ a3]: the lane sums of four vectors in one. */
@inline function hsum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const s01 = f32x4.add(f32x4.shuffle(a0, a1, 0, 4, 1, 5), f32x4.shuffle(a0, a1, 2, 6, 3, 7));
  const s23 = f32x4.add(f32x4.shuffle(a2, a3, 0, 4, 1, 5), f32x4.shuffle(a2, a3, 2, 6, 3, 7));
  return f32x4.add(f32x4.shuffle(s01, s23, 0, 1, 4, 5), f32x4.shuffle(s01, s23, 2, 3, 6, 7));
}

/** Scores of one query row against keys 0 … n−1, scaled, into sc; returns their max. */
function scoresVec(qi: usize, k: usize, ks: usize, db: usize, n: i32, scale: f32, sc: usize): f32 {
  const vs = f32x4.splat(scale);
  let mx = f32x4.splat(-Infinity);
  const n4 = n & ~3;
  let j = 0;
  for (; j < n4; j += 4) {
    const k0 = k + <usize>j * ks;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let e: usize = 0; e < db; e += 16) {
      const qv = v128.load(qi + e);
      a0 = f32x4.add(a0, f32x4.mul(qv, v128.load(k0 + e)));
      a1 = f32x4.add(a1, f32x4.mul(qv, v128.load(k0 + ks + e)));
      a2 = f32x4.add(a2, f32x4.mul(qv, v128.load(k0 + 2 * ks + e)));
      a3 = f32x4.add(a3, f32x4.mul(qv, v128.load(k0 + 3 * ks + e)));
    }
    const s = f32x4.mul(hsum4(a0, a1, a2, a3), vs);
    v128.store(sc + (<usize>j << 2), s);
    mx = f32x4.max(mx, s);
  }
  let m = max(max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)), max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)));
  for (; j < n; j++) {
    const kj = k + <usize>j * ks;
    let a = f32x4.splat(0);
    for (let e: usize = 0; e < db; e += 16) a = f32x4.add(a, f32x4.mul(v128.load(qi + e), v128.load(kj + e)));
    const s = hsum(a) * scale;
    store<f32>(sc + (<usize>j << 2), s);
    m = max(m, s);
  }
  return m;
}

/** p_j = exp(s_j − m) in place for j < n; returns Σ p_j. */
function softmaxNumerators(sc: usize, n: i32, m: f32): f32 {
  const vm = f32x4.splat(m);
  let acc = f32x4.splat(0);
  const n4 = n & ~3;
  let j = 0;
  for (; j < n4; j += 4) {
    const p = exp4(f32x4.sub(v128.load(sc + (<usize>j << 2)), vm));
    v128.store(sc + (<usize>j << 2), p);
    acc = f32x4.add(acc, p);
  }
  let sum = hsum(acc);
  for (; j < n; j++) {
    const p = exp1(load<f32>(sc + (<usize>j << 2)) - m);
    store<f32>(sc + (<usize>j << 2), p);
    sum += p;
  }
  return sum;
}

/** oi[e] = inv · Σ_{j<n} p_j v_j[e], 16 values (4 vectors) of the row per pass over the keys. */
function weightedValues(sc: usize, v: usize, ks: usize, db: usize, n: i32, inv: f32, oi: usize): void {
  const vi = f32x4.splat(inv);
  let e: usize = 0;
  for (; e + 64 <= db; e += 64) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let vj = v + e;
    for (let j = 0; j < n; j++) {
      const p = v128.load32_splat(sc + (<usize>j << 2));
      a0 = f32x4.add(a0, f32x4.mul(p, v128.load(vj)));
      a1 = f32x4.add(a1, f32x4.mul(p, v128.load(vj, 16)));
      a2 = f32x4.add(a2, f32x4.mul(p, v128.load(vj, 32)));
      a3 = f32x4.add(a3, f32x4.mul(p, v128.load(vj, 48)));
      vj += ks;
    }
    v128.store(oi + e, f32x4.mul(a0, vi));
    v128.store(oi + e, f32x4.mul(a1, vi), 16);
    v128.store(oi + e, f32x4.mul(a2, vi), 32);
    v128.store(oi + e, f32x4.mul(a3, vi), 48);
  }
  if (e + 32 <= db) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let vj = v + e;
    for (let j = 0; j < n; j++) {
      const p = v128.load32_splat(sc + (<usize>j << 2));
      a0 = f32x4.add(a0, f32x4.mul(p, v128.load(vj)));
      a1 = f32x4.add(a1, f32x4.mul(p, v128.load(vj, 16)));
      vj += ks;
    }
    v128.store(oi + e, f32x4.mul(a0, vi));
    v128.store(oi + e, f32x4.mul(a1, vi), 16);
    e += 32;
  }
  for (; e < db; e += 16) {
    let a0 = f32x4.splat(0);
    let vj = v + e;
    for (let j = 0; j < n; j++) {
      a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(sc + (<usize>j << 2)), v128.load(vj)));
      vj += ks;
    }
    v128.store(oi + e, f32x4.mul(a0, vi));
  }
}

export function attention(q: usize, k: usize, v: usize, out: usize, T: i32, offset: i32, H: i32, KVH: i32, d: i32, scratch: usize): void {
  const group = H / KVH;
  const scale = <f32>(1.0 / Math.sqrt(<f64>d));
  const qs: usize = <usize>(H * d) << 2;
  const ks: usize = <usize>(KVH * d) << 2;
  const db: usize = <usize>d << 2;
  const vec = (d & 3) == 0;
  for (let h = 0; h < H; h++) {
    const ko: usize = <usize>((h / group) * d) << 2;
    for (let i = 0; i < T; i++) {
      const qi = q + <usize>i * qs + (<usize>(h * d) << 2);
      const oi = out + <usize>i * qs + (<usize>(h * d) << 2);
      const n = offset + i + 1;
      if (vec) {
        const m = scoresVec(qi, k + ko, ks, db, n, scale, scratch);
        const denom = softmaxNumerators(scratch, n, m);
        weightedValues(scratch, v + ko, ks, db, n, <f32>1 / denom, oi);
        continue;
      }
      let mx: f32 = -Infinity;
      for (let j = 0; j < n; j++) {
        const kj = k + <usize>j * ks + ko;
        let s: f32 = 0;
        for (let e: usize = 0; e < db; e += 4) s += load<f32>(qi + e) * load<f32>(kj + e);
        s *= scale;
        store<f32>(scratch + (<usize>j << 2), s);
        if (s > mx) mx = s;
      }
      const inv: f32 = <f32>1 / softmaxNumerators(scratch, n, mx);
      for (let e: usize = 0; e < db; e += 4) {
        let acc: f32 = 0;
        for (let j = 0; j < n; j++) acc += load<f32>(scratch + (<usize>j << 2)) * load<f32>(v + <usize>j * ks + ko + e);
        store<f32>(oi + e, acc * inv);
      }
    }
  }
}

/** Where JavaScript may start allocating (the end of this module's static data). */
export function heapBase(): usize {
  return __heap_base;
}

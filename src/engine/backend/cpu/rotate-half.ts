/**
 * The rotate_half RoPE rotation per head of size d, for i < d/2, with sign σ = +1 (forward):
 *
 *   out[i] = x[i]·c − σ·x[i+d/2]·s,   out[i+d/2] = x[i+d/2]·c + σ·x[i]·s
 *
 * σ = −1 applies the transposed rotation (by −θ), which is RoPE's gradient with respect to
 * its input. One function for both keeps the backward the exact transpose of the forward.
 */
export function rotateHalf(x: ArrayLike<number>, cos: ArrayLike<number>, sin: ArrayLike<number>, rows: number, numHeads: number, headDim: number, sign: 1 | -1): Float32Array {
  const d = numHeads * headDim;
  const half = headDim / 2;
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < numHeads; h++) {
      const base = r * d + h * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[r * half + i]!;
        const s = sin[r * half + i]!;
        const a = x[base + i]!;
        const b = x[base + i + half]!;
        out[base + i] = a * c - sign * (b * s);
        out[base + i + half] = b * c + sign * (a * s);
      }
    }
  }
  return out;
}

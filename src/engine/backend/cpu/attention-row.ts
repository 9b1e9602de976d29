/**
 * One query row of causal attention, unnormalised: for keys j ≤ last,
 *
 *   p[j] = exp(s_j − max_j s_j),   s_j = scale · Σ_e q[qo + e] · k[j·kvStride + ko + e]
 *
 * and the return value is Σ_j p[j], the softmax denominator. The forward pass and the
 * backward pass (training) both call it, so the backward recomputes exactly the forward's
 * weights. Sums in float64, as everywhere in the CPU reference.
 */
export function causalRowWeights(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  qo: number,
  ko: number,
  kvStride: number,
  headDim: number,
  last: number,
  scale: number,
  p: Float64Array,
): number {
  let max = -Infinity;
  for (let j = 0; j <= last; j++) {
    const kj = j * kvStride + ko;
    let dot = 0;
    for (let e = 0; e < headDim; e++) dot += q[qo + e]! * k[kj + e]!;
    p[j] = dot * scale;
    if (p[j]! > max) max = p[j]!;
  }
  let denom = 0;
  for (let j = 0; j <= last; j++) {
    p[j] = Math.exp(p[j]! - max);
    denom += p[j]!;
  }
  return denom;
}

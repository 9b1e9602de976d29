/**
 * LoRA on one frozen linear W0 [out, in]: W' = W0 + c·B·A with A [r, in], B [out, r] and
 * c = α/r (the usual LoRA scaling; the L4Q paper's Algorithm 1 prints the product form
 * α·BA with α = 1/(2r), which is c here with α = 1/2 — both are the `alpha` option).
 * Init: A ~ N(0, 1/in) (seeded), B = 0, so W' = W0 at the start.
 *
 * Gradients from Γ' = ∂L/∂W':  ∂L/∂B = c·Γ'·Aᵀ,  ∂L/∂A = c·Bᵀ·Γ'.
 */
import { StudioError } from '../errors';
import { seededNormal } from '../random';

export interface LoraAdapter {
  rows: number;
  cols: number;
  rank: number;
  scale: number;
  A: Float32Array;
  B: Float32Array;
}

export function createLora(rows: number, cols: number, rank: number, alpha: number, seed: number): LoraAdapter {
  if (!Number.isInteger(rank) || rank < 1) throw new StudioError('input', `LoRA rank ${rank} must be a positive integer`);
  if (!Number.isFinite(alpha) || alpha <= 0) throw new StudioError('input', `LoRA alpha ${alpha} must be a positive number`);
  const normal = seededNormal(seed);
  const sd = 1 / Math.sqrt(cols);
  const A = Float32Array.from({ length: rank * cols }, () => normal() * sd);
  return { rows, cols, rank, scale: alpha / rank, A, B: new Float32Array(rows * rank) };
}

/** W0 + c·B·A (float64 sums). */
export function mergeLora(w0: Float32Array, l: LoraAdapter): Float32Array {
  const { rows, cols, rank, A, B, scale } = l;
  const out = new Float32Array(w0.length);
  const acc = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    acc.fill(0);
    for (let k = 0; k < rank; k++) {
      const bik = B[i * rank + k]!;
      if (bik === 0) continue;
      const ao = k * cols;
      for (let j = 0; j < cols; j++) acc[j] += bik * A[ao + j]!;
    }
    for (let j = 0; j < cols; j++) out[i * cols + j] = w0[i * cols + j]! + scale * acc[j]!;
  }
  return out;
}

export interface LoraGrads {
  dA: Float32Array;
  dB: Float32Array;
}

export function loraGrads(gamma: Float32Array, l: LoraAdapter): LoraGrads {
  const { rows, cols, rank, A, B, scale } = l;
  const dA = new Float64Array(rank * cols);
  const dB = new Float64Array(rows * rank);
  for (let i = 0; i < rows; i++) {
    const go = i * cols;
    for (let k = 0; k < rank; k++) {
      const ao = k * cols;
      const bik = B[i * rank + k]!;
      let acc = 0;
      for (let j = 0; j < cols; j++) {
        const g = gamma[go + j]!;
        acc += g * A[ao + j]!;
        dA[ao + j] += bik * g;
      }
      dB[i * rank + k] = acc;
    }
  }
  return { dA: Float32Array.from(dA, (x) => x * scale), dB: Float32Array.from(dB, (x) => x * scale) };
}

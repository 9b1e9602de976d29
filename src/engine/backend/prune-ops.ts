/**
 * The `prune` capability of a Backend (backend.ts): scoring and selection of the
 * unstructured/semi-structured methods and FLAP's column reductions, so a backend can run
 * them on its device. The CPU backend's are the host reference (cpu/prune-ops.ts: the
 * selection rules with the official tie-breaking); the WebGPU backend's
 * (webgpu/prune-ops.ts) must produce exactly the same masks and sums, and falls back to
 * the host reference for the inputs where it cannot guarantee that. Each pruning method
 * (prune/magnitude.ts, wanda.ts, flap.ts) is written once over these ops.
 *
 * Scores are s_ij = |W_ij| (magnitude) or s_ij = f32(|W_ij| · scale_j) (Wanda, scale_j =
 * f32(√scaler_j)); both are non-negative float32, whose ordering equals the ordering of
 * their bit patterns as unsigned integers — which is what a GPU selection works on.
 *
 * The host ops answer at once (a value), a device's later (a Promise): a method over the
 * ops stays synchronous on the host (MaybePromise, prune/ops.ts mapInOrder).
 */

/** A value now or later. */
export type MaybePromise<T> = T | Promise<T>;

/** A [rows, cols] float32 matrix on the host (model/weights.ts HostTensor is one). */
export interface HostMatrix {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Which entries a mask prunes, given the scores (see cpu/prune-ops.ts for the rules). */
export type Selection =
  /** The k lowest of every row; ties pruned in column order. */
  | { kind: 'row'; k: number }
  /** Every score ≤ the value at index ⌊numel·sparsity⌋ of the ascending sort of the matrix. */
  | { kind: 'matrix'; sparsity: number }
  /** The n lowest of every block of m columns of every row; ties in column order. */
  | { kind: 'nm'; n: number; m: number };

/** What a column reduction sums over the rows i of W, per column j. */
export type ColumnTerm =
  /** f32(W_ij²) — FLAP WIFV's Σ_i W_ij². */
  | { kind: 'square' }
  /** f32(|W_ij| · scale_j) — FLAP WIFN's Σ_i |W_ij|·√S_j. */
  | { kind: 'abs-scaled'; scale: Float32Array };

export interface PruneOps {
  /** Where the work runs ('cpu' = the host reference). */
  readonly device: 'cpu' | 'webgpu';
  /**
   * Whether the backend's own ops should be used by default. False on software adapters
   * (SwiftShader, lavapipe): there the "GPU" is the same CPU emulating a GPU, and the host
   * code is faster (bench/prune-results.md); prune/ops.ts pruneOpsFor(b, 'device') still uses them.
   */
  readonly preferred: boolean;
  /** Mask (1 = prune) of a [rows, cols] weight's scores |W|·scale (|W| when scale is null). */
  mask(w: HostMatrix, scale: Float32Array | null, sel: Selection): MaybePromise<Uint8Array>;
  /**
   * Σ_i term(W_ij) per column j, accumulated in float32 in row order:
   * acc ← f32(acc + f32(term)), i = 0 … rows−1 (torch's fp32 column sum, in one fixed order
   * that a GPU thread per column reproduces bit for bit).
   */
  columnSums(w: HostMatrix, term: ColumnTerm): MaybePromise<Float32Array>;
}

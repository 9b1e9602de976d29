/**
 * Scoring and selection of the unstructured/semi-structured methods and FLAP's column
 * reductions, behind one small interface so a backend can run them on its device.
 *
 * The CPU implementation below is the reference (the host code of select.ts and nm.ts on
 * float32 scores). A backend that has a faster implementation exposes it with a
 * `pruneOps()` method (duck-typed, as the statistics kernel in calibrate.ts); the WebGPU
 * one (backend/webgpu/prune-ops.ts) must produce exactly the same masks and sums, and
 * falls back to this code for the inputs where it cannot guarantee that.
 *
 * Scores are s_ij = |W_ij| (magnitude) or s_ij = f32(|W_ij| · scale_j) (Wanda, scale_j =
 * f32(√scaler_j)); both are non-negative float32, whose ordering equals the ordering of
 * their bit patterns as unsigned integers — which is what a GPU selection works on.
 */
import type { Backend } from '../backend/backend';
import type { HostTensor } from '../model/weights';
import { nmMask } from './nm';
import { matrixThresholdMask, rowLowestMask } from './select';

/** Which entries a mask prunes, given the scores (see select.ts and nm.ts for the rules). */
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
   * code is faster (bench/prune-results.md); pruneOpsFor(b, 'device') still uses them.
   */
  readonly preferred: boolean;
  /** Mask (1 = prune) of a [rows, cols] weight's scores |W|·scale (|W| when scale is null). */
  mask(w: HostTensor, scale: Float32Array | null, sel: Selection): Promise<Uint8Array>;
  /**
   * Σ_i term(W_ij) per column j, accumulated in float32 in row order:
   * acc ← f32(acc + f32(term)), i = 0 … rows−1 (torch's fp32 column sum, in one fixed order
   * that a GPU thread per column reproduces bit for bit).
   */
  columnSums(w: HostTensor, term: ColumnTerm): Promise<Float32Array>;
}

const f = Math.fround;

/** Scores s_ij = |W_ij|·scale_j in float32 (|W_ij| without a scale). */
export function scoresOf(w: HostTensor, scale: Float32Array | null): Float32Array {
  const [rows, cols] = [w.shape[0]!, w.shape[1]!];
  if (scale && scale.length !== cols) throw new Error(`prune scores: ${scale.length} column scales for ${cols} columns`);
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    if (scale) for (let c = 0; c < cols; c++) out[o + c] = Math.abs(w.data[o + c]!) * scale[c]!;
    else for (let c = 0; c < cols; c++) out[o + c] = Math.abs(w.data[o + c]!);
  }
  return out;
}

/** The selection rule applied to float32 scores (host reference). */
export function selectMask(scores: Float32Array, rows: number, cols: number, sel: Selection): Uint8Array {
  if (sel.kind === 'row') return rowLowestMask(scores, rows, cols, sel.k);
  if (sel.kind === 'nm') return nmMask(scores, rows, cols, { n: sel.n, m: sel.m });
  return matrixThresholdMask(scores, sel.sparsity).mask;
}

/** Column sums in float32, row order (host reference of PruneOps.columnSums). */
export function columnSumsHost(w: HostTensor, term: ColumnTerm): Float32Array {
  const [rows, cols] = [w.shape[0]!, w.shape[1]!];
  const acc = new Float32Array(cols);
  if (term.kind === 'square') {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) {
        const v = w.data[o + c]!;
        acc[c] = acc[c]! + f(v * v);
      }
    }
  } else {
    const s = term.scale;
    if (s.length !== cols) throw new Error(`column sums: ${s.length} column scales for ${cols} columns`);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) acc[c] = acc[c]! + f(Math.abs(w.data[o + c]!) * s[c]!);
    }
  }
  return acc;
}

/** The host reference. */
export const CPU_PRUNE_OPS: PruneOps = {
  device: 'cpu',
  preferred: true,
  mask: (w, scale, sel) => Promise.resolve(selectMask(scoresOf(w, scale), w.shape[0]!, w.shape[1]!, sel)),
  columnSums: (w, term) => Promise.resolve(columnSumsHost(w, term)),
};

interface HasPruneOps {
  pruneOps(): PruneOps;
}

/**
 * Where pruning scores and selections run: 'device' = the backend's own implementation when
 * it has one; 'host' = the host reference; 'auto' = the backend's when it is preferred
 * there (a hardware adapter), else the host. The masks are the same either way.
 */
export type PruneOpsChoice = 'auto' | 'device' | 'host';

export function pruneOpsFor(b: Backend | null | undefined, choice: PruneOpsChoice = 'auto'): PruneOps {
  if (choice === 'host' || !b || typeof (b as Partial<HasPruneOps>).pruneOps !== 'function') return CPU_PRUNE_OPS;
  const ops = (b as unknown as HasPruneOps).pruneOps();
  return choice === 'device' || ops.preferred ? ops : CPU_PRUNE_OPS;
}

/**
 * The CPU backend's `prune` capability (PruneOps, ../prune-ops.ts): the host reference of
 * pruning's scoring, selection and column sums, which every other backend's ops must equal
 * bit for bit. Also the wasm backend's (it has no kernels of its own for these).
 *
 * Selection rules, with the official tie-breaking. A mask is a Uint8Array over a row-major
 * [rows, cols] matrix, 1 = prune (set to zero).
 *
 * - Per row, k lowest (Wanda; magnitude per row): the official code takes the first k
 *   indices of `torch.sort(score, dim=-1, stable=True)`, so among equal scores the lower
 *   column index is pruned first. Same here.
 * - Per matrix threshold (magnitude, the Wanda repository's baseline): threshold = element
 *   k = ⌊numel·p⌋ of the ascending sort of |W| (0-based), pruned = |W| ≤ threshold — so k+1
 *   weights, plus any ties with the threshold.
 * - N:M: for each row and each block of M columns starting at a multiple of M, the N lowest
 *   (torch.topk(largest=False)); ties: lower index first, which is what the CUDA top-k does
 *   (it gathers the strictly smaller values, then the equal ones in index order). Partial
 *   last block (in_features not a multiple of M): the official loop still starts a block
 *   there and prunes the N lowest of the columns that remain (e.g. 172 columns at 4:8 → the
 *   last 4 columns are all pruned); when fewer than N columns remain, torch.topk would fail,
 *   here the whole partial block is pruned (docs/methods/pruning.md#nm-semi-structured-sparsity).
 *
 * The WebGPU backend applies the same rules on the GPU (../webgpu/prune-ops.ts; kernels
 * ../webgpu/kernels/prune-*.ts) and gives the same masks bit for bit.
 */
import type { ColumnTerm, HostMatrix, PruneOps, Selection } from '../prune-ops';

/**
 * Sort keys for non-negative float32 scores: the float's bits (monotone in the value for
 * values ≥ 0) times 2^16 plus the column, so a plain numeric sort of a Float64Array gives
 * ascending scores with ties in column order (exact below 2^53: columns < 65536).
 */
function canUseKeys(scores: Float32Array, cols: number): boolean {
  if (cols > 65536) return false;
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  // ≥ 0 and sign bit clear (−0 would sort after every positive value).
  for (let i = 0; i < scores.length; i++) if (!(scores[i]! >= 0) || bits[i]! >= 0x80000000) return false;
  return true;
}

/** Marks the k lowest scores of every row (stable: ties pruned in column order). */
export function rowLowestMask(scores: Float32Array, rows: number, cols: number, k: number, mask = new Uint8Array(rows * cols)): Uint8Array {
  if (k <= 0) return mask;
  if (k >= cols) {
    mask.fill(1);
    return mask;
  }
  if (canUseKeys(scores, cols)) {
    const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
    const keys = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let c = 0; c < cols; c++) keys[c] = bits[o + c]! * 65536 + c;
      keys.sort();
      for (let i = 0; i < k; i++) mask[o + (keys[i]! % 65536)] = 1;
    }
    return mask;
  }
  const idx = new Array<number>(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) idx[c] = c;
    idx.sort((a, b) => compareAsc(scores[o + a]!, scores[o + b]!) || a - b);
    for (let i = 0; i < k; i++) mask[o + idx[i]!] = 1;
  }
  return mask;
}

/** Ascending order with NaN last (as torch.sort). */
export function compareAsc(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
  if (Number.isNaN(b)) return -1;
  return 0;
}

/** Indices 0…n−1 sorted by value ascending, ties by index (a stable sort). */
export function argsortAsc(values: ArrayLike<number>): number[] {
  return Array.from({ length: values.length }, (_, i) => i).sort((a, b) => compareAsc(values[a]!, values[b]!) || a - b);
}

/**
 * The value at index k of the ascending sort (k clamped to the array): quickselect with
 * three-way partitioning on a copy (linear time; values without NaN).
 */
export function kthSmallest(values: Float32Array, k: number): number {
  const a = Float32Array.from(values);
  k = Math.min(Math.max(k, 0), a.length - 1);
  let lo = 0;
  let hi = a.length - 1;
  let seed = 0x9e3779b9;
  while (lo < hi) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const pivot = a[lo + (seed % (hi - lo + 1))]!;
    // a[lo, lt) < pivot, a[lt, i) == pivot, a(gt, hi] > pivot
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = a[i]!;
      if (v < pivot) {
        a[i] = a[lt]!;
        a[lt++] = v;
        i++;
      } else if (v > pivot) {
        a[i] = a[gt]!;
        a[gt--] = v;
      } else {
        i++;
      }
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
  return a[k]!;
}

/** Per-matrix threshold rule: prune every |W| ≤ the value at index ⌊numel·p⌋ of the ascending sort. */
export function matrixThresholdMask(absW: Float32Array, sparsity: number): { mask: Uint8Array; threshold: number } {
  const mask = new Uint8Array(absW.length);
  if (absW.length === 0 || sparsity <= 0) return { mask, threshold: -Infinity };
  const k = Math.floor(absW.length * sparsity);
  if (k >= absW.length) {
    mask.fill(1);
    return { mask, threshold: Infinity };
  }
  const threshold = kthSmallest(absW, k);
  for (let i = 0; i < absW.length; i++) if (absW[i]! <= threshold) mask[i] = 1;
  return { mask, threshold };
}

export interface NmPattern {
  n: number;
  m: number;
}

/** Marks, in every row and M-block, the N lowest scores (1 = prune). */
export function nmMask(scores: ArrayLike<number>, rows: number, cols: number, p: NmPattern, mask = new Uint8Array(rows * cols)): Uint8Array {
  const idx: number[] = [];
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let b = 0; b < cols; b += p.m) {
      const width = Math.min(p.m, cols - b);
      const k = Math.min(p.n, width);
      idx.length = 0;
      for (let c = 0; c < width; c++) idx.push(b + c);
      idx.sort((x, y) => compareAsc(scores[o + x]!, scores[o + y]!) || x - y);
      for (let i = 0; i < k; i++) mask[o + idx[i]!] = 1;
    }
  }
  return mask;
}

const f = Math.fround;

/** Scores s_ij = |W_ij|·scale_j in float32 (|W_ij| without a scale). */
export function scoresOf(w: HostMatrix, scale: Float32Array | null): Float32Array {
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
export function columnSumsHost(w: HostMatrix, term: ColumnTerm): Float32Array {
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

/** PruneOps whose answers come at once (the host reference). */
export interface HostPruneOps extends PruneOps {
  mask(w: HostMatrix, scale: Float32Array | null, sel: Selection): Uint8Array;
  columnSums(w: HostMatrix, term: ColumnTerm): Float32Array;
}

/** The host reference (synchronous: its answers are values, not Promises). */
export const CPU_PRUNE_OPS: HostPruneOps = {
  device: 'cpu',
  preferred: true,
  mask: (w, scale, sel) => selectMask(scoresOf(w, scale), w.shape[0]!, w.shape[1]!, sel),
  columnSums: (w, term) => columnSumsHost(w, term),
};

/**
 * N:M semi-structured sparsity: in every row, each block of M consecutive input columns
 * starting at a multiple of M keeps its M−N highest scores (the N lowest are pruned).
 *
 * Partial last block (in_features not a multiple of M): the official loop still starts a
 * block there and prunes the N lowest of the columns that remain (docs/methods/pruning.md#nm-semi-structured-sparsity; e.g.
 * 172 columns at 4:8 → the last 4 columns are all pruned). When fewer than N columns
 * remain, torch.topk would fail; here the whole partial block is pruned.
 * Ties: lower column index pruned first (see select.ts).
 */
import { StudioError } from '../errors';
import { compareAsc } from './select';

export interface NmPattern {
  n: number;
  m: number;
}

export type Pattern = 'unstructured' | NmPattern;

export function parsePattern(s: string): Pattern {
  const t = s.trim();
  if (t === 'unstructured') return t;
  const m = /^(\d+):(\d+)$/.exec(t);
  if (!m) throw new StudioError('input', `pattern "${s}" is neither "unstructured" nor N:M (e.g. 2:4)`);
  const n = Number(m[1]);
  const mm = Number(m[2]);
  if (!(n >= 1 && mm >= 1 && n <= mm)) throw new StudioError('input', `pattern ${s}: need 1 ≤ N ≤ M`);
  return { n, m: mm };
}

export function patternString(p: Pattern): string {
  return p === 'unstructured' ? p : `${p.n}:${p.m}`;
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

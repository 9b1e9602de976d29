/**
 * N:M semi-structured sparsity: in every row, each block of M consecutive input columns
 * starting at a multiple of M keeps its M−N highest scores (the N lowest are pruned).
 *
 * Partial last block (in_features not a multiple of M): the official loop still starts a
 * block there and prunes the N lowest of the columns that remain (docs/methods/pruning.md#nm-semi-structured-sparsity; e.g.
 * 172 columns at 4:8 → the last 4 columns are all pruned). When fewer than N columns
 * remain, torch.topk would fail; here the whole partial block is pruned.
 * Ties: lower column index pruned first. The mask rule itself is the CPU backend's nmMask
 * (backend/cpu/prune-ops.ts), re-exported here; this file parses and prints patterns.
 */
import { StudioError } from '../errors';
import type { NmPattern } from '../backend/cpu/prune-ops';

export type { NmPattern } from '../backend/cpu/prune-ops';
export { nmMask } from '../backend/cpu/prune-ops';

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

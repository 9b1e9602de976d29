/**
 * Magnitude pruning (the Wanda repository's baseline, algorithms.md §2.5): no calibration.
 *
 *   unstructured, granularity "matrix" (official): one threshold per weight matrix — the
 *     value at index ⌊numel·p⌋ of the ascending sort of |W|; every |W| ≤ it is pruned
 *     (⌊numel·p⌋ + 1 weights, plus ties);
 *   unstructured, granularity "row": exactly ⌊p·in⌋ lowest |W| of every output row
 *     (stable: ties pruned in column order);
 *   N:M: the N lowest |W| of every M-block of every row (nm.ts).
 *
 * Applies to q, k, v, o, gate, up, down of every layer. Pure: returns new weights.
 */
import type { MagnitudeMethod } from '../record';
import { LINEAR_NAMES, type HostTensor, type LayerWeights, type ModelWeights } from '../model/weights';
import { nmMask, parsePattern } from './nm';
import { layerReport, sparsityReport, withLinear, type PruneOutcome } from './report';
import { applyMask, matrixThresholdMask, rowLowestMask } from './select';

export type MagnitudeSettings = Omit<MagnitudeMethod, 'name'>;

/** The prune mask (1 = prune) of one weight matrix. */
export function magnitudeMask(w: HostTensor, s: MagnitudeSettings): Uint8Array {
  const [rows, cols] = [w.shape[0]!, w.shape[1]!];
  const abs = new Float32Array(w.data.length);
  for (let i = 0; i < abs.length; i++) abs[i] = Math.abs(w.data[i]!);
  const pattern = parsePattern(s.pattern);
  if (pattern !== 'unstructured') return nmMask(abs, rows, cols, pattern);
  if (s.granularity === 'row') return rowLowestMask(abs, rows, cols, Math.floor(cols * s.sparsity));
  return matrixThresholdMask(abs, s.sparsity).mask;
}

export function magnitudePruneLayer(l: LayerWeights<HostTensor>, s: MagnitudeSettings): LayerWeights<HostTensor> {
  let out = l;
  for (const name of LINEAR_NAMES) {
    const w = l[name];
    if (w.data.length === 0) continue;
    out = withLinear(out, name, applyMask(w.data, magnitudeMask(w, s)));
  }
  return out;
}

export function magnitudePrune(weights: ModelWeights<HostTensor>, s: MagnitudeSettings): PruneOutcome {
  const layers = weights.layers.map((l) => magnitudePruneLayer(l, s));
  const after = { ...weights, layers };
  return {
    weights: after,
    layers: layers.map((l, i) => layerReport(i, weights.layers[i]!, l)),
    sparsity: sparsityReport(weights, after, 'zeros'),
  };
}

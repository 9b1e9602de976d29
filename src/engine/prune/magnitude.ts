/**
 * Magnitude pruning (the Wanda repository's baseline, docs/methods/pruning.md#magnitude): no calibration.
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
import { parsePattern } from './nm';
import { scoresOf, selectMask, type PruneOps, type Selection } from './ops';
import { layerReport, sparsityReport, withLinear, type PruneOutcome } from './report';
import { applyMask } from './select';

export type MagnitudeSettings = Omit<MagnitudeMethod, 'name'>;

/** The selection rule of the settings for a matrix with `cols` input columns. */
export function magnitudeSelection(cols: number, s: MagnitudeSettings): Selection {
  const pattern = parsePattern(s.pattern);
  if (pattern !== 'unstructured') return { kind: 'nm', n: pattern.n, m: pattern.m };
  if (s.granularity === 'row') return { kind: 'row', k: Math.floor(cols * s.sparsity) };
  return { kind: 'matrix', sparsity: s.sparsity };
}

/** The prune mask (1 = prune) of one weight matrix (host reference). */
export function magnitudeMask(w: HostTensor, s: MagnitudeSettings): Uint8Array {
  const [rows, cols] = [w.shape[0]!, w.shape[1]!];
  return selectMask(scoresOf(w, null), rows, cols, magnitudeSelection(cols, s));
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

function outcome(weights: ModelWeights<HostTensor>, layers: LayerWeights<HostTensor>[]): PruneOutcome {
  const after = { ...weights, layers };
  return {
    weights: after,
    layers: layers.map((l, i) => layerReport(i, weights.layers[i]!, l)),
    sparsity: sparsityReport(weights, after, 'zeros'),
  };
}

export function magnitudePrune(weights: ModelWeights<HostTensor>, s: MagnitudeSettings): PruneOutcome {
  return outcome(weights, weights.layers.map((l) => magnitudePruneLayer(l, s)));
}

/** magnitudePrune with the masks computed by `ops` (a backend's device; same masks as the host). */
export async function magnitudePruneWith(ops: PruneOps, weights: ModelWeights<HostTensor>, s: MagnitudeSettings): Promise<PruneOutcome> {
  const layers: LayerWeights<HostTensor>[] = [];
  for (const l of weights.layers) {
    let out = l;
    for (const name of LINEAR_NAMES) {
      const w = l[name];
      if (w.data.length === 0) continue;
      out = withLinear(out, name, applyMask(w.data, await ops.mask(w, null, magnitudeSelection(w.shape[1]!, s))));
    }
    layers.push(out);
  }
  return outcome(weights, layers);
}

/**
 * Magnitude pruning (the Wanda repository's baseline, docs/methods/pruning.md#magnitude): no calibration.
 *
 *   unstructured, granularity "matrix" (official): one threshold per weight matrix — the
 *     value at index ⌊numel·p⌋ of the ascending sort of |W|; every |W| ≤ it is pruned
 *     (⌊numel·p⌋ + 1 weights, plus ties);
 *   unstructured, granularity "row": exactly ⌊p·in⌋ lowest |W| of every output row
 *     (stable: ties pruned in column order);
 *   N:M: the N lowest |W| of every M-block of every row (backend/cpu/prune-ops.ts nmMask).
 *
 * Applies to q, k, v, o, gate, up, down of every layer. Pure: returns new weights.
 */
import type { MagnitudeMethod } from '../record';
import { LINEAR_NAMES, type HostTensor, type LayerWeights, type ModelWeights } from '../model/weights';
import { parsePattern } from './nm';
import { CPU_PRUNE_OPS, hostOrAsync, mapInOrder, andThen, type MaybePromise, type PruneOps, type Selection } from './ops';
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

/** The prune mask (1 = prune) of one weight matrix: by the host reference, or by `ops`. */
export function magnitudeMask(w: HostTensor, s: MagnitudeSettings): Uint8Array;
export function magnitudeMask(w: HostTensor, s: MagnitudeSettings, ops: PruneOps): Promise<Uint8Array>;
export function magnitudeMask(w: HostTensor, s: MagnitudeSettings, ops?: PruneOps): Uint8Array | Promise<Uint8Array> {
  return hostOrAsync(ops, (ops ?? CPU_PRUNE_OPS).mask(w, null, magnitudeSelection(w.shape[1]!, s)));
}

function pruneLayer(ops: PruneOps, l: LayerWeights<HostTensor>, s: MagnitudeSettings): MaybePromise<LayerWeights<HostTensor>> {
  const names = LINEAR_NAMES.filter((name) => l[name].data.length > 0);
  return andThen(
    mapInOrder(names, (name) => ops.mask(l[name], null, magnitudeSelection(l[name].shape[1]!, s))),
    (masks) => names.reduce((out, name, i) => withLinear(out, name, applyMask(l[name].data, masks[i]!)), l),
  );
}

/** One layer's seven linears pruned (pure). */
export function magnitudePruneLayer(l: LayerWeights<HostTensor>, s: MagnitudeSettings): LayerWeights<HostTensor>;
export function magnitudePruneLayer(l: LayerWeights<HostTensor>, s: MagnitudeSettings, ops: PruneOps): Promise<LayerWeights<HostTensor>>;
export function magnitudePruneLayer(l: LayerWeights<HostTensor>, s: MagnitudeSettings, ops?: PruneOps): LayerWeights<HostTensor> | Promise<LayerWeights<HostTensor>> {
  return hostOrAsync(ops, pruneLayer(ops ?? CPU_PRUNE_OPS, l, s));
}

function outcome(weights: ModelWeights<HostTensor>, layers: LayerWeights<HostTensor>[]): PruneOutcome {
  const after = { ...weights, layers };
  return {
    weights: after,
    layers: layers.map((l, i) => layerReport(i, weights.layers[i]!, l)),
    sparsity: sparsityReport(weights, after, 'zeros'),
  };
}

/**
 * Magnitude pruning of the whole model (pure). The masks come from `ops` (a backend's
 * prune capability, prune/ops.ts pruneOpsFor; the same masks on every backend), or from
 * the host reference, synchronously, when `ops` is left out.
 */
export function magnitudePrune(weights: ModelWeights<HostTensor>, s: MagnitudeSettings): PruneOutcome;
export function magnitudePrune(weights: ModelWeights<HostTensor>, s: MagnitudeSettings, ops: PruneOps): Promise<PruneOutcome>;
export function magnitudePrune(weights: ModelWeights<HostTensor>, s: MagnitudeSettings, ops?: PruneOps): PruneOutcome | Promise<PruneOutcome> {
  const o = ops ?? CPU_PRUNE_OPS;
  return hostOrAsync(ops, andThen(mapInOrder(weights.layers, (l) => pruneLayer(o, l, s)), (layers) => outcome(weights, layers)));
}

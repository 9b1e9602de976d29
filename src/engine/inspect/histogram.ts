/**
 * Weight histograms of one matrix before and after compression, on shared bin edges so the
 * two bar series are directly comparable.
 *
 * Edges: B equal bins over [lo, hi] with lo = min and hi = max over both matrices (a
 * quantized or bias-compensated matrix may step outside the dense range); bin i holds
 * lo + i·w ≤ x < lo + (i+1)·w, w = (hi − lo)/B, and the last bin also holds x = hi.
 * Exact zeros are counted separately as well: pruning turns weights into exact zeros,
 * which all land in the one bin that contains 0 and would otherwise be indistinguishable
 * from small surviving weights. A structurally pruned matrix (FLAP) is smaller: its counts
 * sum to its own element count.
 */
import { StudioError } from '../errors';
import type { HostTensor, LayerWeights, LinearName, ModelWeights } from '../model/weights';
import { LINEAR_NAMES } from '../model/weights';

export interface WeightHistogram {
  /** B + 1 edges. */
  edges: number[];
  dense: HistogramSeries;
  compressed: HistogramSeries | null;
}

export interface HistogramSeries {
  counts: number[];
  /** Elements of the matrix, and how many are exactly zero. */
  elements: number;
  zeros: number;
  shape: number[];
}

function range(arrays: Float32Array[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of arrays) {
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      if (!Number.isFinite(v)) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (lo === Infinity) return [-1, 1];
  if (lo === hi) return [lo - 0.5, hi + 0.5];
  return [lo, hi];
}

function series(t: HostTensor, lo: number, hi: number, bins: number): HistogramSeries {
  const counts = new Array<number>(bins).fill(0);
  const width = (hi - lo) / bins;
  let zeros = 0;
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i]!;
    if (v === 0) zeros++;
    if (!Number.isFinite(v)) continue;
    const b = Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)));
    counts[b]!++;
  }
  return { counts, elements: t.data.length, zeros, shape: [...t.shape] };
}

/** Histogram of `dense` and (optionally) `compressed` on the same edges. */
export function weightHistogram(dense: HostTensor, compressed: HostTensor | null, bins = 60): WeightHistogram {
  if (!Number.isInteger(bins) || bins < 1 || bins > 1000) throw new StudioError('input', `histogram: bins must be a whole number in 1…1000, got ${bins}`);
  const [lo, hi] = range(compressed ? [dense.data, compressed.data] : [dense.data]);
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + ((hi - lo) * i) / bins));
  return { edges, dense: series(dense, lo, hi, bins), compressed: compressed ? series(compressed, lo, hi, bins) : null };
}

/** The named matrix of a layer, or a StudioError naming what is out of range. */
export function layerMatrix(weights: ModelWeights<HostTensor>, layer: number, matrix: string): HostTensor {
  if (!Number.isInteger(layer) || layer < 0 || layer >= weights.layers.length) {
    throw new StudioError('input', `layer ${layer} does not exist (the model has layers 0…${weights.layers.length - 1})`);
  }
  if (!(LINEAR_NAMES as readonly string[]).includes(matrix)) throw new StudioError('input', `unknown matrix "${matrix}" (one of ${LINEAR_NAMES.join(', ')})`);
  return (weights.layers[layer] as LayerWeights<HostTensor>)[matrix as LinearName];
}

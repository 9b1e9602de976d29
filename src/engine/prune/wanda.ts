/**
 * Wanda (docs/methods/pruning.md#wanda): score S_ij = |W_ij| · ‖X_j‖₂ for every decoder linear, with
 * ‖X_j‖₂ taken as √scaler_j, scaler_j = (1/N_samples)·Σ_samples Σ_tokens x_j² (the official
 * scaler_row; the constant 1/√N does not change any ranking). Scores are float32, as the
 * official |W|·sqrt(scaler) product of fp32 tensors.
 *
 *   unstructured: exactly ⌊p·in⌋ lowest scores of every output row (stable sort: ties
 *     pruned in column order);
 *   N:M: the N lowest of every M-block of every row (nm.ts);
 *   variant: per row, prune the sorted prefix whose cumulative score ≤ α·(row total),
 *     α by the official binary search (start 0.4 in [0, 0.8], until the matrix's pruned
 *     fraction is within 0.001 of p or the interval is below 0.001).
 *
 * Modes: sequential (official): layer i's statistics come from the outputs of the already
 * pruned layers 0…i−1, and all seven linears of layer i use the statistics of the dense
 * layer i (collected before any of them is pruned); one-shot: all statistics from the
 * dense model.
 *
 * The per-layer function and the one-shot function are pure; the sequential driver
 * interleaves them with calibration (calibrate.ts).
 */
import type { Backend } from '../backend/backend';
import { calibrate, statsFor, type CalibrationRun, type LayerStats } from '../calibrate';
import type { ModelConfig } from '../model/config';
import { LINEAR_NAMES, type HostTensor, type LayerWeights, type LinearName, type ModelWeights } from '../model/weights';
import type { LayerReport, WandaMethod } from '../record';
import { parsePattern } from './nm';
import { CPU_PRUNE_OPS, pruneOpsFor, scoresOf, selectMask, type PruneOps, type Selection } from './ops';
import { layerReport, sparsityReport, withLinear, type PruneOutcome } from './report';
import { applyMask } from './select';

export type WandaSettings = Omit<WandaMethod, 'name'>;

const f = Math.fround;

/** ‖X_j‖₂ per column as float32: f32(√scaler_j) (torch.sqrt of the fp32 scaler_row). */
export function wandaColumnScale(w: HostTensor, scaler: Float32Array): Float32Array {
  const cols = w.shape[1]!;
  if (scaler.length !== cols) throw new Error(`wanda: ${scaler.length} input statistics for ${cols} columns`);
  return Float32Array.from(scaler, (v) => f(Math.sqrt(v)));
}

/** S_ij = |W_ij|·√scaler_j in float32. */
export function wandaScores(w: HostTensor, scaler: Float32Array): Float32Array {
  return scoresOf(w, wandaColumnScale(w, scaler));
}

/**
 * The official variant for one matrix: returns the mask and the α found.
 * Rows whose smallest score already exceeds α·total prune nothing (the official gather at
 * index −1 would fail there).
 */
export function wandaVariantMask(scores: Float32Array, rows: number, cols: number, sparsity: number): { mask: Uint8Array; alpha: number } {
  // Per row: stable ascending sort, cumulative sums (float64), row total.
  const sortedVals = new Float32Array(rows * cols);
  const cums = new Float64Array(rows * cols);
  const totals = new Float64Array(rows);
  const idx = new Array<number>(cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) idx[c] = c;
    idx.sort((a, b) => scores[o + a]! - scores[o + b]! || a - b);
    let acc = 0;
    let tot = 0;
    for (let c = 0; c < cols; c++) {
      const v = scores[o + idx[c]!]!;
      sortedVals[o + c] = v;
      acc += v;
      cums[o + c] = acc;
      tot += scores[o + c]!;
    }
    totals[r] = tot;
  }
  const target = f(sparsity);
  const given = (alpha: number) => {
    const mask = new Uint8Array(rows * cols);
    let pruned = 0;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const limit = totals[r]! * alpha;
      let n = 0;
      while (n < cols && cums[o + n]! <= limit) n++;
      if (n === 0) continue;
      const thres = sortedVals[o + n - 1]!;
      for (let c = 0; c < cols; c++) {
        if (scores[o + c]! <= thres) {
          mask[o + c] = 1;
          pruned++;
        }
      }
    }
    // Official: (mask == True).sum() / numel as a float32 tensor.
    return { mask, cur: f(pruned / (rows * cols)) };
  };
  let alpha = 0.4;
  const hist = [0, 0.8];
  let { mask, cur } = given(alpha);
  while (f(Math.abs(f(cur - target))) > f(0.001) && hist[1]! - hist[0]! >= 0.001) {
    let next: number;
    if (cur > target) {
      next = (alpha + hist[0]!) / 2;
      hist[1] = alpha;
    } else {
      next = (alpha + hist[1]!) / 2;
      hist[0] = alpha;
    }
    alpha = next;
    ({ mask, cur } = given(alpha));
  }
  return { mask, alpha };
}

/** The selection rule (unstructured or N:M) for a matrix with `cols` columns; null for the variant. */
function wandaSelection(cols: number, s: WandaSettings): Selection | null {
  const pattern = parsePattern(s.pattern);
  if (pattern !== 'unstructured') {
    if (s.variant) throw new Error('wanda: the variant is defined for unstructured sparsity only');
    return { kind: 'nm', n: pattern.n, m: pattern.m };
  }
  if (s.variant) return null;
  return { kind: 'row', k: Math.floor(cols * s.sparsity) };
}

/** Wanda mask (1 = prune) of one weight matrix given its input statistics (host reference). */
export function wandaMask(w: HostTensor, scaler: Float32Array, s: WandaSettings): { mask: Uint8Array; alpha?: number } {
  const [rows, cols] = [w.shape[0]!, w.shape[1]!];
  const scores = wandaScores(w, scaler);
  const sel = wandaSelection(cols, s);
  if (!sel) return wandaVariantMask(scores, rows, cols, s.sparsity);
  return { mask: selectMask(scores, rows, cols, sel) };
}

/**
 * wandaMask with scoring and selection by `ops` (a backend's device, same masks). The
 * variant's α search stays on the host (a few passes over sorted rows).
 */
export async function wandaMaskWith(ops: PruneOps, w: HostTensor, scaler: Float32Array, s: WandaSettings): Promise<{ mask: Uint8Array; alpha?: number }> {
  const sel = wandaSelection(w.shape[1]!, s);
  if (!sel) return wandaMask(w, scaler, s);
  return { mask: await ops.mask(w, wandaColumnScale(w, scaler), sel) };
}

/** Prunes the seven linears of one layer with that layer's input statistics (pure). */
export function wandaPruneLayer(li: number, l: LayerWeights<HostTensor>, stats: LayerStats, s: WandaSettings): { layer: LayerWeights<HostTensor>; report: LayerReport } {
  let out = l;
  const alphas: Partial<Record<LinearName, number>> = {};
  for (const name of LINEAR_NAMES) {
    const w = l[name];
    if (w.data.length === 0) continue;
    const { mask, alpha } = wandaMask(w, statsFor(stats, li, name).scaler, s);
    if (alpha !== undefined) alphas[name] = alpha;
    out = withLinear(out, name, applyMask(w.data, mask));
  }
  return { layer: out, report: layerReport(li, l, out, alphas) };
}

/** wandaPruneLayer with the masks computed by `ops`. */
export async function wandaPruneLayerWith(ops: PruneOps, li: number, l: LayerWeights<HostTensor>, stats: LayerStats, s: WandaSettings): Promise<{ layer: LayerWeights<HostTensor>; report: LayerReport }> {
  if (ops === CPU_PRUNE_OPS) return wandaPruneLayer(li, l, stats, s);
  let out = l;
  const alphas: Partial<Record<LinearName, number>> = {};
  for (const name of LINEAR_NAMES) {
    const w = l[name];
    if (w.data.length === 0) continue;
    const { mask, alpha } = await wandaMaskWith(ops, w, statsFor(stats, li, name).scaler, s);
    if (alpha !== undefined) alphas[name] = alpha;
    out = withLinear(out, name, applyMask(w.data, mask));
  }
  return { layer: out, report: layerReport(li, l, out, alphas) };
}

/** One-shot Wanda: every layer pruned with statistics of the dense model (pure). */
export function wandaPrune(weights: ModelWeights<HostTensor>, stats: LayerStats[], s: WandaSettings): PruneOutcome {
  const results = weights.layers.map((l, i) => wandaPruneLayer(i, l, stats[i]!, s));
  const after = { ...weights, layers: results.map((r) => r.layer) };
  return { weights: after, layers: results.map((r) => r.report), sparsity: sparsityReport(weights, after, 'zeros') };
}

/** wandaPrune with the masks computed by `ops`. */
export async function wandaPruneWith(ops: PruneOps, weights: ModelWeights<HostTensor>, stats: LayerStats[], s: WandaSettings): Promise<PruneOutcome> {
  const results: { layer: LayerWeights<HostTensor>; report: LayerReport }[] = [];
  for (let i = 0; i < weights.layers.length; i++) results.push(await wandaPruneLayerWith(ops, i, weights.layers[i]!, stats[i]!, s));
  const after = { ...weights, layers: results.map((r) => r.layer) };
  return { weights: after, layers: results.map((r) => r.report), sparsity: sparsityReport(weights, after, 'zeros') };
}

export interface WandaRunResult extends PruneOutcome {
  /** Milliseconds spent in scoring and masking (inside the calibration loop when sequential). */
  pruneMs: number;
  calibrateMs: number;
}

/**
 * Wanda end to end on calibration samples: sequential (prune layer by layer, re-running each
 * pruned layer to feed the next) or one-shot (dense statistics, then prune). Scoring and
 * selection run where `ops` says (default: the backend's own PruneOps, else the host).
 */
export async function runWanda(
  cfg: ModelConfig,
  backend: Backend,
  weights: ModelWeights<HostTensor>,
  samples: Int32Array[],
  s: WandaSettings,
  run: Pick<CalibrationRun, 'signal' | 'onProgress' | 'sumsFn'> & { ops?: PruneOps } = {},
): Promise<WandaRunResult> {
  const t0 = performance.now();
  const ops = run.ops ?? pruneOpsFor(backend);
  if (s.mode === 'one-shot') {
    const cal = await calibrate(cfg, backend, weights, samples, run);
    const t1 = performance.now();
    const out = await wandaPruneWith(ops, weights, cal.stats, s);
    return { ...out, calibrateMs: t1 - t0, pruneMs: performance.now() - t1 };
  }
  const reports: LayerReport[] = [];
  let pruneMs = 0;
  const cal = await calibrate(cfg, backend, weights, samples, {
    ...run,
    transform: async (li, layer, stats) => {
      const t = performance.now();
      const r = await wandaPruneLayerWith(ops, li, layer, stats, s);
      reports.push(r.report);
      pruneMs += performance.now() - t;
      return r.layer;
    },
  });
  return {
    weights: cal.weights,
    layers: reports,
    sparsity: sparsityReport(weights, cal.weights, 'zeros'),
    calibrateMs: performance.now() - t0 - pruneMs,
    pruneMs,
  };
}

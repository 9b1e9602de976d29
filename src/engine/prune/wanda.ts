/**
 * Wanda (docs/methods/pruning.md#wanda): score S_ij = |W_ij| · ‖X_j‖₂ for every decoder linear, with
 * ‖X_j‖₂ taken as √scaler_j, scaler_j = (1/N_samples)·Σ_samples Σ_tokens x_j² (the official
 * scaler_row; the constant 1/√N does not change any ranking). Scores are float32, as the
 * official |W|·sqrt(scaler) product of fp32 tensors.
 *
 *   unstructured: exactly ⌊p·in⌋ lowest scores of every output row (stable sort: ties
 *     pruned in column order);
 *   N:M: the N lowest of every M-block of every row (backend/cpu/prune-ops.ts nmMask);
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
import { CPU_PRUNE_OPS, hostOrAsync, mapInOrder, pruneOpsFor, scoresOf, andThen, type MaybePromise, type PruneOps, type Selection } from './ops';
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

/**
 * Wanda mask (1 = prune) of one weight matrix given its input statistics, by the host
 * reference or by `ops` (same masks). The variant's α search stays on the host (a few
 * passes over sorted rows).
 */
export function wandaMask(w: HostTensor, scaler: Float32Array, s: WandaSettings): { mask: Uint8Array; alpha?: number };
export function wandaMask(w: HostTensor, scaler: Float32Array, s: WandaSettings, ops: PruneOps): Promise<{ mask: Uint8Array; alpha?: number }>;
export function wandaMask(w: HostTensor, scaler: Float32Array, s: WandaSettings, ops?: PruneOps): { mask: Uint8Array; alpha?: number } | Promise<{ mask: Uint8Array; alpha?: number }> {
  return hostOrAsync(ops, maskOf(ops ?? CPU_PRUNE_OPS, w, scaler, s));
}

function maskOf(ops: PruneOps, w: HostTensor, scaler: Float32Array, s: WandaSettings): MaybePromise<{ mask: Uint8Array; alpha?: number }> {
  const [rows, cols] = [w.shape[0]!, w.shape[1]!];
  const scale = wandaColumnScale(w, scaler);
  const sel = wandaSelection(cols, s);
  if (!sel) return wandaVariantMask(scoresOf(w, scale), rows, cols, s.sparsity);
  return andThen(ops.mask(w, scale, sel), (mask) => ({ mask }));
}

type LayerResult = { layer: LayerWeights<HostTensor>; report: LayerReport };

function pruneLayer(ops: PruneOps, li: number, l: LayerWeights<HostTensor>, stats: LayerStats, s: WandaSettings): MaybePromise<LayerResult> {
  const names = LINEAR_NAMES.filter((name) => l[name].data.length > 0);
  return andThen(
    mapInOrder(names, (name) => maskOf(ops, l[name], statsFor(stats, li, name).scaler, s)),
    (masks) => {
      let out = l;
      const alphas: Partial<Record<LinearName, number>> = {};
      names.forEach((name, i) => {
        const { mask, alpha } = masks[i]!;
        if (alpha !== undefined) alphas[name] = alpha;
        out = withLinear(out, name, applyMask(l[name].data, mask));
      });
      return { layer: out, report: layerReport(li, l, out, alphas) };
    },
  );
}

/** Prunes the seven linears of one layer with that layer's input statistics (pure; masks by `ops` or the host reference). */
export function wandaPruneLayer(li: number, l: LayerWeights<HostTensor>, stats: LayerStats, s: WandaSettings): LayerResult;
export function wandaPruneLayer(li: number, l: LayerWeights<HostTensor>, stats: LayerStats, s: WandaSettings, ops: PruneOps): Promise<LayerResult>;
export function wandaPruneLayer(li: number, l: LayerWeights<HostTensor>, stats: LayerStats, s: WandaSettings, ops?: PruneOps): LayerResult | Promise<LayerResult> {
  return hostOrAsync(ops, pruneLayer(ops ?? CPU_PRUNE_OPS, li, l, stats, s));
}

/** One-shot Wanda: every layer pruned with statistics of the dense model (pure; masks by `ops` or the host reference). */
export function wandaPrune(weights: ModelWeights<HostTensor>, stats: LayerStats[], s: WandaSettings): PruneOutcome;
export function wandaPrune(weights: ModelWeights<HostTensor>, stats: LayerStats[], s: WandaSettings, ops: PruneOps): Promise<PruneOutcome>;
export function wandaPrune(weights: ModelWeights<HostTensor>, stats: LayerStats[], s: WandaSettings, ops?: PruneOps): PruneOutcome | Promise<PruneOutcome> {
  const o = ops ?? CPU_PRUNE_OPS;
  const results = mapInOrder(weights.layers, (l, i) => pruneLayer(o, i, l, stats[i]!, s));
  return hostOrAsync(
    ops,
    andThen(results, (rs) => {
      const after = { ...weights, layers: rs.map((r) => r.layer) };
      return { weights: after, layers: rs.map((r) => r.report), sparsity: sparsityReport(weights, after, 'zeros') };
    }),
  );
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
    const out = await wandaPrune(weights, cal.stats, s, ops);
    return { ...out, calibrateMs: t1 - t0, pruneMs: performance.now() - t1 };
  }
  const reports: LayerReport[] = [];
  let pruneMs = 0;
  const cal = await calibrate(cfg, backend, weights, samples, {
    ...run,
    transform: async (li, layer, stats) => {
      const t = performance.now();
      const r = await wandaPruneLayer(li, layer, stats, s, ops);
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

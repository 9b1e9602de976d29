/**
 * FLAP — fluctuation-based adaptive structured pruning (docs/methods/pruning.md#flap), with real removal
 * of attention heads and MLP channels and baseline bias compensation.
 *
 * Scores, per input channel j of o_proj (attention) and down_proj (MLP), from the dense
 * model's calibration statistics (calibrate.ts):
 *   IFV  s_j = F_j                            F = fluctuation (official recurrence, or the
 *   WIFV s_j = F_j · Σ_i W_ij²                    exact variance as an option)
 *   WIFN s_j = mean_i |W_ij|·√S_j              S = running mean of per-sample Σ_t x²
 * Attention channel scores are squared (all metrics). All in float32 as the official fp32
 * tensors; the column sums Σ_i add f32 terms in row order in float32 (PruneOps.columnSums,
 * backend/prune-ops.ts), which a GPU reproduces bit for bit (flapPrune with a backend's ops).
 *
 * Structures (an attention *unit* is a query head on MHA models — exactly the official
 * head; on GQA models a whole key/value group by default, or a single query head):
 *   UL-UM  per layer: unit score = Σ of its channel scores; k = ⌊p·units⌋; threshold = k-th
 *          of the ascending sort (0-based); keep score ≥ threshold. MLP alike, k = ⌊p·I⌋.
 *   UL-MM  per layer: k = ⌊remove_heads / L⌋ units; MLP channels from the parameter budget
 *          ⌊(p·(3hI + A) − k·U)/(3h)⌋ (A = the layer's attention parameters, U = one unit's).
 *   AL-MM  per-layer standardization (z = (x − mean)/std, unbiased std, per layer and
 *          module); unit score = mean z over its channels; remove_heads lowest units
 *          globally (threshold = that-th smallest, keep strictly greater); MLP channels
 *          ⌊(L·p·(3hI + A) − remove_heads·U)/(3h)⌋ lowest globally.
 *   AL-AM  (default) standardized unit and channel scores in one list (units first, layer
 *          by layer, then channels), sorted descending; cost 1 per channel and U/(3h) per
 *          unit — truncated to an integer by default as the official int64 tensor does
 *          (512/3 → 170 for head_dim 128; 4·8/3 → 10 for head_dim 8), exact as an option;
 *          the threshold is the score where the cumulative cost is closest to (1 − p)·total
 *          (first such index); keep strictly greater (the threshold element is removed).
 *
 * Compression: kept heads' q/k/v rows and o_proj columns, kept channels' gate/up rows and
 * down_proj columns; per-layer head and channel counts change. Bias compensation: a removed
 * input channel is replaced by its calibration mean x̄_j (FLAP's baseline_inp), folded into
 * the output bias: b_i += Σ_{j removed} W_ij·x̄_j, computed with the dense weight. The
 * official code assigns this bias (its model's biases start at zero); adding keeps an
 * existing bias. With baselineDtype fp16, x̄ and the bias are rounded to fp16 as the
 * official code's `.type(torch.half)` (the default fp32 is what our fp32 models call for).
 *
 * Official behaviours kept as is: first calibration sample dropped from the fluctuation,
 * int64 truncation of the head cost, ties in thresholds (UL-*: ties with the threshold
 * kept; AL-*: ties with the threshold removed). Deviations (official code fails or does
 * something unintended): a layer with a constant score row standardizes to 0 instead of
 * NaN; a count k ≤ 0 removes nothing (official AL-MM with k = 0 indexes sorted[−0] = the
 * maximum and removes everything; remove_heads = −1 indexes the 2nd-best unit); k beyond
 * the list removes everything (official: index error).
 */
import type { ChannelStats, LayerStats } from '../calibrate';
import { StudioError } from '../errors';
import { isPruneFraction, PRUNE_FRACTION } from '../rules';
import type { ModelConfig } from '../model/config';
import { configForWeights, isStandardKvMap, kvMapOf, pickColBlocks, pickRowBlocks } from '../model/expand-gqa';
import { checkKvHeadMap, type HostTensor, type LayerWeights, type ModelWeights } from '../model/weights';
import type { ExperimentRecord, FlapMethod, LayerReport } from '../record';
import { CPU_PRUNE_OPS, hostOrAsync, mapInOrder, andThen, type ColumnTerm, type MaybePromise, type PruneOps } from './ops';
import { layerReport, sparsityReport, summarize, type PruneOutcome } from './report';
import { compareAsc } from './select';

export type FlapSettings = Omit<FlapMethod, 'name'>;

export const FLAP_DEFAULTS: FlapSettings = {
  pruningRatio: 0.2,
  metric: 'WIFV',
  structure: 'AL-AM',
  removeHeads: null,
  headCost: 'truncated',
  gqaUnit: 'group',
  biasCompensation: true,
  fluctuation: 'official',
  baselineDtype: 'fp32',
};

const f = Math.fround;

/** Rounds to the nearest IEEE half-precision value (ties to even). */
export function f16round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, -14) - 10);
  const r = a / ulp;
  const fl = Math.floor(r);
  const d = r - fl;
  const q = d > 0.5 || (d === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  const v = q * ulp;
  return Math.sign(x) * (v > 65504 ? Infinity : v);
}

/** The column reduction a metric needs (null: IFV needs none). */
function flapColumnTerm(st: ChannelStats, metric: FlapSettings['metric']): ColumnTerm | null {
  if (metric === 'IFV') return null;
  if (metric === 'WIFV') return { kind: 'square' };
  return { kind: 'abs-scaled', scale: Float32Array.from(st.scaler, (v) => f(Math.sqrt(v))) };
}

/** The score from the fluctuation and the column sums: IFV F_j, WIFV f32(F_j·Σ), WIFN f32(Σ/rows). */
function flapScoresFromSums(rows: number, st: ChannelStats, metric: FlapSettings['metric'], fluctuation: FlapSettings['fluctuation'], sums: Float32Array | null): Float32Array {
  const fluc = fluctuation === 'official' ? st.flapFluc : Float32Array.from(st.variance());
  if (metric === 'IFV') return Float32Array.from(fluc);
  if (metric === 'WIFV') return Float32Array.from(sums!, (v, c) => fluc[c]! * v);
  return Float32Array.from(sums!, (v) => v / rows);
}

function checkFlapStats(w: HostTensor, st: ChannelStats): void {
  if (st.channels !== w.shape[1]!) throw new Error(`flap: ${st.channels} input statistics for ${w.shape[1]!} columns`);
}

/** FLAP's per-channel score of one projection (o_proj or down_proj), unsquared, float32: column sums by the host reference or by `ops` (same values). */
export function flapChannelScores(w: HostTensor, st: ChannelStats, metric: FlapSettings['metric'], fluctuation: FlapSettings['fluctuation']): Float32Array;
export function flapChannelScores(w: HostTensor, st: ChannelStats, metric: FlapSettings['metric'], fluctuation: FlapSettings['fluctuation'], ops: PruneOps): Promise<Float32Array>;
export function flapChannelScores(w: HostTensor, st: ChannelStats, metric: FlapSettings['metric'], fluctuation: FlapSettings['fluctuation'], ops?: PruneOps): Float32Array | Promise<Float32Array> {
  return hostOrAsync(ops, channelScores(ops ?? CPU_PRUNE_OPS, w, st, metric, fluctuation));
}

function channelScores(ops: PruneOps, w: HostTensor, st: ChannelStats, metric: FlapSettings['metric'], fluctuation: FlapSettings['fluctuation']): MaybePromise<Float32Array> {
  checkFlapStats(w, st);
  const term = flapColumnTerm(st, metric);
  return andThen(term ? ops.columnSums(w, term) : null, (sums) => flapScoresFromSums(w.shape[0]!, st, metric, fluctuation, sums));
}

/** z = (x − mean)/std per row, unbiased std, float32 as torch; a constant row gives zeros. */
export function standardize(x: Float32Array): Float32Array {
  const n = x.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += x[i]!;
  const mean = s / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x[i]! - mean) ** 2;
  const meanF = f(mean);
  const stdF = f(Math.sqrt(ss / (n - 1)));
  const out = new Float32Array(n);
  if (!(stdF > 0) || !Number.isFinite(stdF)) return out;
  for (let i = 0; i < n; i++) out[i] = f(x[i]! - meanF) / stdF;
  return out;
}

/** An attention unit of one layer: the query heads (and key/value heads) it removes. */
export interface AttentionUnit {
  queryHeads: number[];
  /** Key/value heads that go with it (a group's own; none for a single query head of a GQA group). */
  kvHeads: number[];
  /** Its o_proj input channels. */
  channels: number[];
  /** Decoder linear parameters it accounts for (a query head of a GQA group: its share of the key/value head). */
  params: number;
}

export function attentionUnits(l: LayerWeights<HostTensor>, headDim: number, hidden: number, unit: 'group' | 'head'): AttentionUnit[] {
  const map = kvMapOf(l);
  const members: number[][] = Array.from({ length: l.numKvHeads }, () => []);
  map.forEach((g, h) => members[g]!.push(h));
  const chans = (heads: number[]) => heads.flatMap((h) => Array.from({ length: headDim }, (_, e) => h * headDim + e));
  const perHead = hidden * headDim;
  if (unit === 'group') {
    return members.map((hs, g) => ({ queryHeads: hs, kvHeads: [g], channels: chans(hs), params: perHead * (2 * hs.length + 2) }));
  }
  return map.map((g, h) => {
    const size = members[g]!.length;
    return { queryHeads: [h], kvHeads: size === 1 ? [g] : [], channels: chans([h]), params: perHead * 2 + (perHead * 2) / size };
  });
}

function isMha(l: LayerWeights<HostTensor>): boolean {
  return l.numHeads === l.numKvHeads && (!l.kvHeadMap || isStandardKvMap(l.kvHeadMap, l.numKvHeads));
}

function attentionParams(l: LayerWeights<HostTensor>): number {
  return l.q.data.length + l.k.data.length + l.v.data.length + l.o.data.length;
}

/** Keep-masks (1 = keep) of the attention units and MLP channels of one layer. */
interface LayerMasks {
  units: Uint8Array;
  channels: Uint8Array;
}

/** Mean of values at the given indices, float32 (torch .mean over a reshaped block). */
function meanAt(x: Float32Array, idx: number[]): number {
  let s = 0;
  for (const i of idx) s += x[i]!;
  return f(s / idx.length);
}

function sumAt(x: Float32Array, idx: number[]): number {
  let s = 0;
  for (const i of idx) s += x[i]!;
  return f(s);
}

/** Keep score ≥ (k-th smallest); k ≤ 0 keeps all, k ≥ n keeps none. */
function keepAtLeastKth(scores: Float32Array, k: number): Uint8Array {
  const n = scores.length;
  const keep = new Uint8Array(n);
  if (k <= 0) return keep.fill(1);
  if (k >= n) return keep;
  const thr = Float32Array.from(scores).sort()[k]!;
  for (let i = 0; i < n; i++) keep[i] = scores[i]! >= thr ? 1 : 0;
  return keep;
}

/** Threshold = k-th smallest (1-based) of all values; keep strictly greater. k ≤ 0: keep all; k > n: keep none. */
function kthSmallestThreshold(all: number[], k: number): number {
  if (k <= 0) return -Infinity;
  if (k > all.length) return Infinity;
  const sorted = [...all].sort((a, b) => compareAsc(b, a));
  return sorted[sorted.length - k]!;
}

export interface FlapOutcome extends PruneOutcome {
  config: ModelConfig;
  /** Original indices of what each layer keeps. */
  kept: { heads: number[]; kvHeads: number[]; channels: number[] }[];
  flap: NonNullable<ExperimentRecord['flap']>;
}

/**
 * FLAP on a model given the dense model's statistics at the o_proj and down_proj inputs.
 * Pure: returns new weights (smaller matrices, per-layer sizes, compensation biases). The
 * channel scores' column sums come from `ops` (a backend's prune capability; the same
 * scores, the same result), or from the host reference, synchronously, when it is left out.
 */
export function flapPrune(cfg: ModelConfig, weights: ModelWeights<HostTensor>, stats: LayerStats[], s: FlapSettings): FlapOutcome;
export function flapPrune(cfg: ModelConfig, weights: ModelWeights<HostTensor>, stats: LayerStats[], s: FlapSettings, ops: PruneOps): Promise<FlapOutcome>;
export function flapPrune(cfg: ModelConfig, weights: ModelWeights<HostTensor>, stats: LayerStats[], s: FlapSettings, ops?: PruneOps): FlapOutcome | Promise<FlapOutcome> {
  checkRatio(s);
  const o = ops ?? CPU_PRUNE_OPS;
  const raw = mapInOrder(weights.layers, (l, i) => {
    const st = flapLayerStats(l, stats[i], i);
    return andThen(st.o ? channelScores(o, l.o, st.o, s.metric, s.fluctuation) : new Float32Array(0), (attn) =>
      andThen(st.down ? channelScores(o, l.down, st.down, s.metric, s.fluctuation) : new Float32Array(0), (mlp) => ({ attn, mlp })),
    );
  });
  return hostOrAsync(ops, andThen(raw, (r) => flapPruneFromScores(cfg, weights, stats, s, r)));
}

function checkRatio(s: FlapSettings): void {
  const p = s.pruningRatio;
  if (!isPruneFraction(p)) throw new StudioError('input', `FLAP pruning ratio ${p} must be in ${PRUNE_FRACTION.text}`);
}

/** The statistics a layer's scores need (o_proj input when it has heads, down_proj input when it has channels). */
function flapLayerStats(l: LayerWeights<HostTensor>, st: LayerStats | undefined, i: number): { o?: ChannelStats; down?: ChannelStats } {
  const s = st ?? {};
  if (l.numHeads > 0 && !s.o) throw new Error(`layer ${i}: no calibration statistics for the input of o_proj`);
  if (l.intermediateSize > 0 && !s.down) throw new Error(`layer ${i}: no calibration statistics for the input of down_proj`);
  return { ...(l.numHeads > 0 ? { o: s.o } : {}), ...(l.intermediateSize > 0 ? { down: s.down } : {}) };
}

/** FLAP's selection and compression given the raw (unsquared) channel scores of every layer. */
function flapPruneFromScores(cfg: ModelConfig, weights: ModelWeights<HostTensor>, stats: LayerStats[], s: FlapSettings, raw: { attn: Float32Array; mlp: Float32Array }[]): FlapOutcome {
  const p = s.pruningRatio;
  const h = cfg.hiddenSize;
  const d = cfg.headDim;
  const L = weights.layers.length;
  const layers = weights.layers;

  // Scores per layer (attention channel scores squared).
  const units = layers.map((l) => attentionUnits(l, d, h, isMha(l) ? 'head' : s.gqaUnit));
  const attnRaw = raw.map((r) => Float32Array.from(r.attn, (v) => v * v));
  const mlpRaw = raw.map((r) => r.mlp);

  const unitCostExact = (u: AttentionUnit) => u.params / (3 * h);
  const unitCost = (u: AttentionUnit) => (s.headCost === 'truncated' ? Math.trunc(unitCostExact(u)) : unitCostExact(u));
  const firstUnit = units.find((us) => us.length > 0)?.[0];

  let masks: LayerMasks[];
  let unitScores: Float32Array[];
  let mlpScores: Float32Array[];
  let attentionThreshold: number | null = null;
  let mlpThreshold: number | null = null;

  if (s.structure === 'UL-UM' || s.structure === 'UL-MM') {
    unitScores = units.map((us, i) => Float32Array.from(us, (u) => sumAt(attnRaw[i]!, u.channels)));
    mlpScores = mlpRaw;
    let headsK: (i: number) => number;
    let chanK: (i: number) => number;
    if (s.structure === 'UL-UM') {
      headsK = (i) => Math.trunc(p * units[i]!.length);
      chanK = (i) => Math.trunc(layers[i]!.intermediateSize * p);
    } else {
      const rh = requireRemoveHeads(s);
      const k = Math.floor(rh / L);
      headsK = () => k;
      chanK = (i) => {
        const l = layers[i]!;
        const us = units[i]!;
        const unitParams = us.length ? attentionParams(l) / us.length : 0;
        const removeParams = p * (l.intermediateSize * h * 3 + attentionParams(l));
        return Math.trunc((removeParams - unitParams * k) / (h * 3));
      };
    }
    masks = layers.map((_, i) => ({ units: keepAtLeastKth(unitScores[i]!, headsK(i)), channels: keepAtLeastKth(mlpScores[i]!, chanK(i)) }));
  } else {
    const attnZ = attnRaw.map((x) => standardize(x));
    unitScores = units.map((us, i) => Float32Array.from(us, (u) => meanAt(attnZ[i]!, u.channels)));
    mlpScores = mlpRaw.map((x) => standardize(x));
    const allUnits = unitScores.flatMap((x) => [...x]);
    const allChannels = mlpScores.flatMap((x) => [...x]);
    if (s.structure === 'AL-MM') {
      const rh = requireRemoveHeads(s);
      const uniform = layers.every((l) => l.intermediateSize === layers[0]!.intermediateSize && attentionParams(l) === attentionParams(layers[0]!));
      const perLayer = (l: LayerWeights<HostTensor>) => l.intermediateSize * h * 3 + attentionParams(l);
      const removeParams = uniform ? L * p * perLayer(layers[0]!) : p * layers.reduce((a, l) => a + perLayer(l), 0);
      const unitParams = firstUnit ? firstUnit.params : 0;
      const kChannels = Math.trunc((removeParams - unitParams * rh) / (h * 3));
      attentionThreshold = kthSmallestThreshold(allUnits, rh);
      mlpThreshold = kthSmallestThreshold(allChannels, kChannels);
    } else {
      // AL-AM: one list, units first (layer by layer), then channels.
      const scores = [...allUnits, ...allChannels];
      const costs = [...units.flatMap((us) => us.map(unitCost)), ...allChannels.map(() => 1)];
      const thr = alAmThreshold(scores, costs, p, s.headCost === 'truncated');
      attentionThreshold = thr;
      mlpThreshold = thr;
    }
    masks = layers.map((_, i) => ({
      units: Uint8Array.from(unitScores[i]!, (v) => (v > attentionThreshold! ? 1 : 0)),
      channels: Uint8Array.from(mlpScores[i]!, (v) => (v > mlpThreshold! ? 1 : 0)),
    }));
  }

  // Compression.
  let removedHeads = 0;
  let removedKv = 0;
  let removedChannels = 0;
  const reports: LayerReport[] = [];
  const kept: FlapOutcome['kept'] = [];
  const newLayers = layers.map((l, i) => {
    const st = stats[i] ?? {};
    const m = masks[i]!;
    const us = units[i]!;
    const keptUnits = us.filter((_, u) => m.units[u]);
    const keptHeads = keptUnits.flatMap((u) => u.queryHeads).sort((a, b) => a - b);
    // A key/value head stays while one of its query heads does (a group goes as a whole).
    const map = kvMapOf(l);
    const keptKv = [...new Set(keptHeads.map((q) => map[q]!))].sort((a, b) => a - b);
    const keptChannels: number[] = [];
    m.channels.forEach((k, c) => k && keptChannels.push(c));
    const out = compressLayer(l, d, keptHeads, keptKv, keptChannels, s.biasCompensation ? st : null, s.baselineDtype);
    kept.push({ heads: keptHeads, kvHeads: keptKv, channels: keptChannels });
    removedHeads += l.numHeads - out.numHeads;
    removedKv += l.numKvHeads - out.numKvHeads;
    removedChannels += l.intermediateSize - out.intermediateSize;
    let removedMax = -Infinity;
    let keptMin = Infinity;
    mlpScores[i]!.forEach((v, c) => {
      if (m.channels[c]) keptMin = Math.min(keptMin, v);
      else removedMax = Math.max(removedMax, v);
    });
    reports.push({
      ...layerReport(i, l, out),
      keptHeads,
      keptKvHeads: keptKv,
      ...(out.kvHeadMap ? { kvHeadMap: [...out.kvHeadMap] } : {}),
      flap: {
        unit: isMha(l) ? 'head' : s.gqaUnit,
        attentionUnitScores: [...unitScores[i]!],
        mlp: summarize(mlpScores[i]!),
        mlpRemovedMax: Number.isFinite(removedMax) ? removedMax : null,
        mlpKeptMin: Number.isFinite(keptMin) ? keptMin : null,
      },
    });
    return out;
  });
  const after = { ...weights, layers: newLayers };
  return {
    weights: after,
    config: configForWeights(cfg, after),
    kept,
    layers: reports,
    sparsity: sparsityReport(weights, after, 'removed'),
    flap: {
      attentionThreshold: attentionThreshold === null || Number.isFinite(attentionThreshold) ? attentionThreshold : null,
      mlpThreshold: mlpThreshold === null || Number.isFinite(mlpThreshold) ? mlpThreshold : null,
      unitCost: firstUnit ? unitCost(firstUnit) : 0,
      removedHeads,
      removedKvHeads: removedKv,
      removedChannels,
    },
  };
}

/**
 * AL-AM's global threshold: entries sorted by score descending (stable: ties keep list
 * order), cumulative cost, the first index whose cumulative cost is closest to
 * (1 − ratio)·total cost; returns that entry's score (keep strictly greater).
 * float32Target mimics the official arithmetic for integer costs (float32 target and
 * differences, as torch's int64 − float32 tensors); otherwise float64.
 */
export function alAmThreshold(scores: readonly number[], costs: readonly number[], ratio: number, float32Target: boolean): number {
  if (scores.length === 0) return -Infinity;
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => compareAsc(scores[b]!, scores[a]!) || a - b);
  const total = costs.reduce((a, c) => a + c, 0);
  const target = float32Target ? f(f(total) * f(1 - ratio)) : total * (1 - ratio);
  let idx = 0;
  let cum = 0;
  let best = Infinity;
  order.forEach((j, i) => {
    cum += costs[j]!;
    const dist = float32Target ? f(Math.abs(f(f(cum) - target))) : Math.abs(cum - target);
    if (dist < best) {
      best = dist;
      idx = i;
    }
  });
  return scores[order[idx]!]!;
}

function requireRemoveHeads(s: FlapSettings): number {
  if (s.removeHeads === null || !Number.isInteger(s.removeHeads) || s.removeHeads < 0) {
    throw new StudioError('input', `FLAP ${s.structure} needs --remove-heads K with K ≥ 0 (got ${s.removeHeads ?? 'none'})`);
  }
  return s.removeHeads;
}

/** b_i = Σ_{j removed} W_ij · x̄_j (float64 sum, float32 or fp16 result), added to an existing bias. */
export function compensationBias(w: HostTensor, mean: Float32Array, removed: readonly number[], old: HostTensor | null, dtype: FlapSettings['baselineDtype']): HostTensor {
  const [rows, cols] = [w.shape[0]!, w.shape[1]!];
  const xm = dtype === 'fp16' ? Float32Array.from(mean, f16round) : mean;
  const out = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    for (const j of removed) acc += w.data[r * cols + j]! * xm[j]!;
    const b = dtype === 'fp16' ? f16round(f(acc)) : acc;
    out[r] = (old ? old.data[r]! : 0) + b;
  }
  return { shape: [rows], data: out };
}

/**
 * A layer with only the given query heads, key/value heads and MLP channels (sorted
 * original indices). With statistics, the removed o_proj / down_proj inputs are folded
 * into the output biases at their calibration means.
 */
export function compressLayer(
  l: LayerWeights<HostTensor>,
  headDim: number,
  keptHeads: number[],
  keptKv: number[],
  keptChannels: number[],
  stats: LayerStats | null,
  baselineDtype: FlapSettings['baselineDtype'] = 'fp32',
): LayerWeights<HostTensor> {
  const map = kvMapOf(l);
  const kvIndex = new Map(keptKv.map((g, i) => [g, i]));
  for (const q of keptHeads) if (!kvIndex.has(map[q]!)) throw new Error(`query head ${q} kept without its key/value head ${map[q]}`);
  const newMap = keptHeads.map((q) => kvIndex.get(map[q]!)!);
  const problem = checkKvHeadMap(newMap, keptHeads.length, keptKv.length);
  if (problem) throw new Error(problem);
  const standard = isStandardKvMap(newMap, keptKv.length);

  const headSet = new Set(keptHeads);
  const removedO: number[] = [];
  for (let q = 0; q < l.numHeads; q++) if (!headSet.has(q)) for (let e = 0; e < headDim; e++) removedO.push(q * headDim + e);
  const chanSet = new Set(keptChannels);
  const removedC: number[] = [];
  for (let c = 0; c < l.intermediateSize; c++) if (!chanSet.has(c)) removedC.push(c);

  let oBias = l.oBias;
  if (stats && removedO.length) {
    if (!stats.o) throw new Error('bias compensation needs the o_proj input statistics');
    oBias = compensationBias(l.o, stats.o.flapMean, removedO, l.oBias, baselineDtype);
  }
  let downBias = l.downBias;
  if (stats && removedC.length) {
    if (!stats.down) throw new Error('bias compensation needs the down_proj input statistics');
    downBias = compensationBias(l.down, stats.down.flapMean, removedC, l.downBias, baselineDtype);
  }

  const qRows = (t: HostTensor) => pickRowBlocks(t, keptHeads, headDim);
  const kvRows = (t: HostTensor) => pickRowBlocks(t, keptKv, headDim);
  const { kvHeadMap: _old, ...rest } = l;
  return {
    ...rest,
    q: qRows(l.q),
    qBias: l.qBias ? qRows(l.qBias) : null,
    k: kvRows(l.k),
    v: kvRows(l.v),
    kBias: l.kBias ? kvRows(l.kBias) : null,
    vBias: l.vBias ? kvRows(l.vBias) : null,
    o: pickColBlocks(l.o, keptHeads, headDim),
    oBias,
    gate: pickRowBlocks(l.gate, keptChannels, 1),
    up: pickRowBlocks(l.up, keptChannels, 1),
    down: pickColBlocks(l.down, keptChannels, 1),
    downBias,
    numHeads: keptHeads.length,
    numKvHeads: keptKv.length,
    intermediateSize: keptChannels.length,
    ...(standard ? {} : { kvHeadMap: newMap }),
  };
}

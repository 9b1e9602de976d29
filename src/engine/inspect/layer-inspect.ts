/**
 * Teaching mode: what a pruning method does to one layer of the live model, step by step.
 *
 *   1. input statistics of the chosen matrix's input X (calibration samples through the
 *      dense model): per channel j, ‖X_j‖₂ = √Σ_t x_tj², mean and (unbiased) variance;
 *   2. the score the method ranks by — magnitude |W_ij|, Wanda |W_ij|·‖X_j‖₂, FLAP the
 *      per-channel fluctuation score of the block's output projection (o_proj for
 *      attention, down_proj for the MLP; squared for attention, before standardization);
 *   3. the mask the method chooses for that matrix;
 *   4. for FLAP, the heads and MLP channels the layer keeps;
 *   5. the change of the layer's output on the calibration inputs:
 *        relative error  ‖Y′ − Y‖ / ‖Y‖          (Y = the decoder layer's output, with its
 *        block change    ‖Y′ − Y‖ / ‖Y − X‖       residual X; Y′ = the same layer pruned)
 *      summed over all calibration tokens, in float64.
 *
 * Nothing is re-derived here: statistics come from calibrate(), scores and masks from the
 * methods' own functions (wandaScores/wandaMask, magnitudeMask, flapChannelScores and
 * flapPrune), and the pruned layer is the one the method produces (all seven matrices of
 * the layer are pruned for Y′, with FLAP's bias compensation).
 *
 * Statistics are those of the dense model (one-shot). Wanda's default sequential mode
 * calibrates layer i on the outputs of already pruned layers, so a real run's layer i
 * statistics differ slightly from these for i > 0; the result says so.
 */
import type { Backend, Tensor } from '../backend/backend';
import { calibrate, POINT_OF_LINEAR, STAT_POINTS, statsFor, type ChannelStats, type LayerStats, type StatPoint } from '../calibrate';
import { StudioError, throwIfAborted } from '../errors';
import type { ModelConfig } from '../model/config';
import { decoderLayer, disposeLayer, uploadLayer, type RopeTensors } from '../model/llama';
import { ropeTables } from '../model/rope';
import { LINEAR_NAMES, type HostTensor, type LayerWeights, type LinearName, type ModelWeights } from '../model/weights';
import type { MethodSpec } from '../record';
import { flapChannelScores, flapPrune, FLAP_DEFAULTS } from '../prune/flap';
import { magnitudeMask, magnitudePruneLayer } from '../prune/magnitude';
import { wandaMask, wandaPruneLayer, wandaScores } from '../prune/wanda';
import { countOnes } from '../prune/select';
import { poolImage, type PooledImage } from './pool-image';

export interface InspectRequest {
  config: ModelConfig;
  weights: ModelWeights<HostTensor>;
  backend: Backend;
  samples: Int32Array[];
  method: MethodSpec;
  layer: number;
  matrix: LinearName;
  /** Largest image side in cells (default 128). */
  imageSide?: number;
  signal?: AbortSignal;
  onProgress?: (p: { step: 'calibrate' | 'score' | 'output'; done: number; total: number }) => void;
}

export interface LayerInspection {
  layer: number;
  matrix: LinearName;
  method: 'magnitude' | 'wanda' | 'flap';
  /** [out, in] of the dense matrix. */
  shape: [number, number];
  input: {
    point: StatPoint;
    /** Which linears read this input. */
    readBy: LinearName[];
    channels: number;
    tokens: number;
    samples: number;
    l2: number[];
    mean: number[];
    variance: number[];
  };
  scores: {
    /** 'weight': one score per weight; 'channel': one per input channel of `of`. */
    kind: 'weight' | 'channel';
    of: LinearName;
    formula: string;
    image: PooledImage;
  };
  mask: {
    /** Fraction of pruned weights per cell (1 = all pruned). */
    image: PooledImage;
    pruned: number;
    total: number;
  };
  flap: {
    heads: number;
    keptHeads: number[];
    kvHeads: number;
    keptKvHeads: number[];
    channels: number;
    keptChannels: number;
  } | null;
  output: { relError: number; blockChange: number; tokens: number; samples: number };
  /** Caveats a reader must know (e.g. one-shot statistics for a sequential method). */
  notes: string[];
}

const PRUNING = ['magnitude', 'wanda', 'flap'] as const;

/** Mask (1 = pruned) of a dense matrix given the rows/columns FLAP keeps. */
function flapMatrixMask(matrix: LinearName, w: HostTensor, hd: number, kept: { heads: number[]; kvHeads: number[]; channels: number[] }): Uint8Array {
  const [rows, cols] = [w.shape[0]!, w.shape[1]!];
  const mask = new Uint8Array(rows * cols);
  const keepRows = (keep: Set<number>, unit: number) => {
    for (let r = 0; r < rows; r++) if (!keep.has(Math.floor(r / unit))) mask.fill(1, r * cols, (r + 1) * cols);
  };
  const keepCols = (keep: Set<number>, unit: number) => {
    for (let c = 0; c < cols; c++) if (!keep.has(Math.floor(c / unit))) for (let r = 0; r < rows; r++) mask[r * cols + c] = 1;
  };
  if (matrix === 'q') keepRows(new Set(kept.heads), hd);
  else if (matrix === 'k' || matrix === 'v') keepRows(new Set(kept.kvHeads), hd);
  else if (matrix === 'o') keepCols(new Set(kept.heads), hd);
  else if (matrix === 'gate' || matrix === 'up') keepRows(new Set(kept.channels), 1);
  else keepCols(new Set(kept.channels), 1);
  return mask;
}

/** Hidden states entering layer `li` for every sample (dense layers 0 … li−1). */
async function layerInputs(cfg: ModelConfig, b: Backend, weights: ModelWeights<HostTensor>, samples: Int32Array[], li: number, ropeFor: (T: number) => RopeTensors, signal?: AbortSignal): Promise<Tensor[]> {
  const embed = b.upload(weights.embed.data, weights.embed.shape);
  let hidden = samples.map((ids) => {
    const idsT = b.uploadIds(ids);
    const h = b.embedding(embed, idsT);
    b.dispose(idsT);
    return h;
  });
  b.dispose(embed);
  try {
    for (let l = 0; l < li; l++) {
      throwIfAborted(signal, 'teaching mode');
      const up = uploadLayer(b, weights.layers[l]!, cfg.headDim);
      const next = hidden.map((h, s) => decoderLayer(b, cfg, up, l, h, ropeFor(samples[s]!.length)));
      disposeLayer(b, up);
      hidden.forEach((h) => b.dispose(h));
      hidden = next;
    }
  } catch (e) {
    hidden.forEach((h) => b.dispose(h));
    throw e;
  }
  return hidden;
}

export async function inspectLayer(req: InspectRequest): Promise<LayerInspection> {
  const { config: cfg, weights, backend: b, samples, layer: li, matrix } = req;
  const method = req.method;
  if (!(PRUNING as readonly string[]).includes(method.name)) {
    throw new StudioError('input', `teaching mode explains magnitude, Wanda and FLAP; "${method.name}" is not one of them`);
  }
  const name = method.name as (typeof PRUNING)[number];
  if (!Number.isInteger(li) || li < 0 || li >= weights.layers.length) throw new StudioError('input', `layer ${li} does not exist (the model has layers 0…${weights.layers.length - 1})`);
  if (!LINEAR_NAMES.includes(matrix)) throw new StudioError('input', `unknown matrix "${matrix}"`);
  if (samples.length === 0) throw new StudioError('input', 'teaching mode needs at least one calibration sample');
  const L = weights.layers[li]!;
  const w = L[matrix];
  if (w.data.length === 0) throw new StudioError('input', `layer ${li} has no ${matrix}_proj left (it was removed by structured pruning)`);
  const side = req.imageSide ?? 128;
  const notes: string[] = [];

  // 1. Statistics: layers 0…li for Wanda/magnitude; every layer for FLAP (its selection is global).
  const flapPoints: StatPoint[] = ['o', 'down'];
  const scorePoint: StatPoint = name === 'flap' ? (['q', 'k', 'v', 'o'].includes(matrix) ? 'o' : 'down') : POINT_OF_LINEAR[matrix];
  const calibWeights = name === 'flap' ? weights : { ...weights, layers: weights.layers.slice(0, li + 1) };
  const points = name === 'flap' ? new Set<StatPoint>([...flapPoints, POINT_OF_LINEAR[matrix]]) : new Set<StatPoint>(STAT_POINTS);
  const { stats } = await calibrate(cfg, b, calibWeights, samples, {
    points,
    signal: req.signal,
    onProgress: (p) => req.onProgress?.({ step: 'calibrate', ...p }),
  });
  const layerStats: LayerStats = stats[li]!;
  const inStats: ChannelStats = statsFor(layerStats, li, matrix);

  // 2–4. Scores, mask and the pruned layer, from the methods' own functions.
  req.onProgress?.({ step: 'score', done: 0, total: 1 });
  const [rows, cols] = [w.shape[0]!, w.shape[1]!];
  let scoreValues: Float32Array;
  let scoreKind: 'weight' | 'channel' = 'weight';
  let scoreOf: LinearName = matrix;
  let formula: string;
  let mask: Uint8Array;
  let pruned: LayerWeights<HostTensor>;
  let flap: LayerInspection['flap'] = null;
  if (method.name === 'magnitude') {
    const { name: _n, ...s } = method;
    scoreValues = Float32Array.from(w.data, Math.abs);
    formula = 'S_ij = |W_ij|';
    mask = magnitudeMask(w, s);
    pruned = magnitudePruneLayer(L, s);
  } else if (method.name === 'wanda') {
    const { name: _n, ...s } = method;
    scoreValues = wandaScores(w, inStats.scaler);
    formula = 'S_ij = |W_ij| · ‖X_j‖₂';
    mask = wandaMask(w, inStats.scaler, s).mask;
    pruned = wandaPruneLayer(li, L, layerStats, s).layer;
    if (s.mode === 'sequential' && li > 0) notes.push('Statistics here come from the dense model; the sequential run calibrates this layer on the outputs of the already pruned layers before it, so its scores differ slightly.');
  } else {
    const { name: _n, ...rest } = method as Extract<MethodSpec, { name: 'flap' }>;
    const s = { ...FLAP_DEFAULTS, ...rest };
    scoreOf = scorePoint === 'o' ? 'o' : 'down';
    const proj = L[scoreOf];
    if (proj.data.length === 0) throw new StudioError('input', `layer ${li} has no ${scoreOf}_proj left to score`);
    const raw = flapChannelScores(proj, statsFor(layerStats, li, scoreOf), s.metric, s.fluctuation);
    scoreValues = scoreOf === 'o' ? Float32Array.from(raw, (v) => v * v) : raw;
    scoreKind = 'channel';
    formula =
      s.metric === 'IFV' ? 's_j = F_j (fluctuation of input channel j)' : s.metric === 'WIFV' ? 's_j = F_j · Σ_i W_ij²' : 's_j = mean_i |W_ij| · ‖X_j‖₂';
    if (scoreOf === 'o') formula += ', squared for attention channels';
    const outcome = flapPrune(cfg, weights, stats, s);
    const kept = outcome.kept[li]!;
    mask = flapMatrixMask(matrix, w, cfg.headDim, kept);
    pruned = outcome.weights.layers[li]!;
    flap = { heads: L.numHeads, keptHeads: kept.heads, kvHeads: L.numKvHeads, keptKvHeads: kept.kvHeads, channels: L.intermediateSize, keptChannels: kept.channels.length };
  }
  const scoreImage = scoreKind === 'weight' ? poolImage(scoreValues, rows, cols, side) : poolImage(scoreValues, 1, scoreValues.length, side);
  const maskImage = poolImage(mask, rows, cols, side);

  // 5. Output change of the whole layer on the calibration inputs.
  const ropeCache = new Map<number, RopeTensors>();
  const ropeFor = (T: number) => {
    let r = ropeCache.get(T);
    if (!r) {
      const t = ropeTables(cfg, 0, T);
      r = { cos: b.upload(t.cos, [T, cfg.headDim / 2]), sin: b.upload(t.sin, [T, cfg.headDim / 2]) };
      ropeCache.set(T, r);
    }
    return r;
  };
  let diff2 = 0;
  let ref2 = 0;
  let block2 = 0;
  let tokens = 0;
  try {
    const inputs = await layerInputs(cfg, b, weights, samples, li, ropeFor, req.signal);
    const dense = uploadLayer(b, L, cfg.headDim);
    const after = uploadLayer(b, pruned, cfg.headDim);
    try {
      for (let s = 0; s < samples.length; s++) {
        throwIfAborted(req.signal, 'teaching mode');
        const rope = ropeFor(samples[s]!.length);
        const y = decoderLayer(b, cfg, dense, li, inputs[s]!, rope);
        const y2 = decoderLayer(b, cfg, after, li, inputs[s]!, rope);
        const [hx, yx, y2x] = await Promise.all([b.read(inputs[s]!), b.read(y), b.read(y2)]);
        b.dispose(y);
        b.dispose(y2);
        for (let i = 0; i < yx.length; i++) {
          const d = y2x[i]! - yx[i]!;
          diff2 += d * d;
          ref2 += yx[i]! * yx[i]!;
          block2 += (yx[i]! - hx[i]!) ** 2;
        }
        tokens += samples[s]!.length;
        req.onProgress?.({ step: 'output', done: s + 1, total: samples.length });
      }
    } finally {
      disposeLayer(b, dense);
      disposeLayer(b, after);
      inputs.forEach((t) => b.dispose(t));
    }
  } finally {
    for (const r of ropeCache.values()) {
      b.dispose(r.cos);
      b.dispose(r.sin);
    }
  }

  return {
    layer: li,
    matrix,
    method: name,
    shape: [rows, cols],
    input: {
      point: POINT_OF_LINEAR[matrix],
      readBy: LINEAR_NAMES.filter((n) => POINT_OF_LINEAR[n] === POINT_OF_LINEAR[matrix]),
      channels: inStats.channels,
      tokens: inStats.tokens,
      samples: inStats.samples,
      l2: Array.from(inStats.l2Norm()),
      mean: Array.from(inStats.mean()),
      variance: Array.from(inStats.variance()),
    },
    scores: { kind: scoreKind, of: scoreOf, formula, image: scoreImage },
    mask: { image: maskImage, pruned: countOnes(mask), total: mask.length },
    flap,
    output: { relError: ref2 > 0 ? Math.sqrt(diff2 / ref2) : 0, blockChange: block2 > 0 ? Math.sqrt(diff2 / block2) : 0, tokens, samples: samples.length },
    notes,
  };
}

/**
 * Calibration: samples from a token stream, and per-channel statistics of the input of
 * every decoder linear layer, collected with the forward pass's `linearInput` hooks.
 *
 * Samples (docs/methods/pruning.md#calibration): sample i = stream[O + i·S, O + (i+1)·S) of the BOS + whole-text
 * stream — no BOS per sample, as in the official loaders, which slice one tokenization of the
 * whole text (FLAP: WikiText-2 train; Wanda: one C4 document) at random offsets. The seeded
 * option reproduces those loaders exactly: Python's `random.seed(seed)` and
 * `random.randint(0, T − S − 1)` per sample (PyRandom). Each sample is a fresh sequence
 * (positions 0…S−1, causal mask only), as the official code runs each sample as a batch of
 * one with the captured causal mask and position ids.
 *
 * Statistics points: the four distinct linear inputs of a layer —
 *   attnIn (input of q, k, v), o (input of o_proj = attention output),
 *   mlpIn (input of gate, up), down (input of down_proj = SwiGLU output).
 *
 * Per point and input channel j (ChannelStats):
 *   - Σx, Σx² over all tokens and the token count, in float32 accumulators (the issue's
 *     fp32 sums; the statistics kernel of a GPU backend produces the same per-call sums);
 *     mean, variance and ‖X_j‖₂ = √Σx² derive from them;
 *   - the official per-sample running recurrences, in float32 with the official operation
 *     order (every intermediate rounded to float32 as torch does on fp32 tensors):
 *       scaler  ← scaler·n/(n+1) + ‖x_j‖²/(n+1)       Wanda's scaler_row, FLAP's scaler_inp
 *       mean    ← mean·n/(n+1) + mean_t(x_tj)/(n+1)    FLAP's baseline_inp
 *       fluc    ← 0 for the first sample; then fluc·(n−1)/n + Σ_t (x_tj − mean)²/(n+1)
 *                 with the already updated mean (FLAP's fluc_inp, docs/methods/pruning.md#calibration)
 *     where n = samples seen before this one;
 *   - an exact mean and sum of squared deviations (Chan's parallel merge of per-sample
 *     moments, float64) for the "exact variance" option.
 *
 * Precision notes: the official runs use fp16 models, so their per-sample means and the
 * fluctuation sums are formed in fp16 (torch.mean / torch.sum of fp16 inputs); only the
 * running buffers are fp32. Our models are fp32, so per-sample sums here are float64 (the
 * CPU) or float32 (a GPU kernel) and the recurrences run in float32. The fluctuation is
 * formed from per-sample sums as Σx² − 2mΣx + Tm²: exact in float64 on the CPU; with a
 * backend's float32 statistics kernel (used by default when the backend has one, see
 * defaultChannelSums) it loses digits when |mean| ≫ std. On stories260K the WebGPU kernel
 * and the CPU give identical Wanda masks and FLAP selections (test/prune-gpu.test.ts).
 */
import { capability, type Backend, type Tensor } from './backend/backend';
import { StudioError, throwIfAborted } from './errors';
import type { ModelConfig } from './model/config';
import { decoderLayer, disposeLayer, uploadLayer, type ForwardHooks, type RopeTensors } from './model/llama';
import { ropeTables } from './model/rope';
import type { HostTensor, LayerWeights, LinearName, ModelWeights } from './model/weights';
import { PyRandom } from './py-random';
import { RECORD_LIMITS } from './record';

// ---------------------------------------------------------------------------------------
// Samples

export interface CalibrationSampling {
  samples: number;
  seqlen: number;
  /** First token of sample 0 (contiguous layout). Ignored when `seed` is set. */
  offset: number;
  /** Random offsets as the official loaders pick them (Python random, this seed). */
  seed?: number | null;
}

/** Defaults for the bundled model (docs/methods/pruning.md#calibration): tinystories, O = 200000, N = 64, S = 128. */
export const DEFAULT_CALIBRATION: CalibrationSampling = { samples: 64, seqlen: 128, offset: 200_000, seed: null };

/** Start offsets of the samples in the stream. */
export function calibrationOffsets(streamLength: number, s: CalibrationSampling): number[] {
  const { samples: N, seqlen: S, offset: O } = s;
  if (!Number.isSafeInteger(N) || N < 1) throw new StudioError('input', `calibration samples ${N} must be a positive integer`);
  if (!Number.isSafeInteger(S) || S < 1) throw new StudioError('input', `calibration seqlen ${S} must be a positive integer`);
  // Checked before the offsets are materialised: one number per sample.
  if (N > RECORD_LIMITS.calibrationSamples) throw new StudioError('input', `calibration samples ${N} is over the limit of ${RECORD_LIMITS.calibrationSamples}`);
  if (S > RECORD_LIMITS.seqlen) throw new StudioError('input', `calibration seqlen ${S} is over the limit of ${RECORD_LIMITS.seqlen}`);
  if (s.seed !== null && s.seed !== undefined) {
    if (streamLength - S - 1 < 0) throw new StudioError('input', `calibration text has ${streamLength} tokens, fewer than seqlen ${S} + 1`);
    const r = new PyRandom(s.seed);
    return Array.from({ length: N }, () => r.randint(0, streamLength - S - 1));
  }
  if (!Number.isSafeInteger(O) || O < 0) throw new StudioError('input', `calibration offset ${O} must be a non-negative integer`);
  if (O + N * S > streamLength) {
    throw new StudioError('input', `calibration needs tokens ${O}…${O + N * S} (offset ${O} + ${N} samples × ${S}), but the text has ${streamLength} tokens`);
  }
  return Array.from({ length: N }, (_, i) => O + i * S);
}

export function calibrationSamples(stream: Int32Array, s: CalibrationSampling): Int32Array[] {
  return calibrationOffsets(stream.length, s).map((o) => stream.subarray(o, o + s.seqlen));
}

// ---------------------------------------------------------------------------------------
// Per-call channel sums (the pluggable part: a GPU backend can compute these with a kernel)

/** Σx and Σx² per channel of one hook tensor [tokens, channels]. */
export interface ChannelSums {
  channels: number;
  tokens: number;
  sum: Float64Array;
  sumSq: Float64Array;
}

/**
 * Turns a hook's tensor into per-channel sums. It must start its work synchronously: the
 * tensor is valid only during the hook (Backend.read, and a GPU kernel dispatch, enqueue
 * the copy at call time).
 */
export type ChannelSumsFn = (b: Backend, x: Tensor) => Promise<ChannelSums>;

/** Host implementation: read the tensor back, sum in float64. */
export const hostChannelSums: ChannelSumsFn = (b, x) => {
  const [T, C] = [x.shape[0]!, x.shape[x.shape.length - 1]!];
  return b.read(x).then((d) => {
    const sum = new Float64Array(C);
    const sumSq = new Float64Array(C);
    for (let t = 0; t < T; t++) {
      const o = t * C;
      for (let c = 0; c < C; c++) {
        const v = d[o + c]!;
        sum[c] += v;
        sumSq[c] += v * v;
      }
    }
    return { channels: C, tokens: T, sum, sumSq };
  });
};

/** Sums from the backend's statistics kernel: only 3·C floats are read back per call. */
export const kernelChannelSums: ChannelSumsFn = (b, x) => {
  const kernel = capability(b, 'channelStats');
  if (!kernel) return hostChannelSums(b, x);
  const C = x.shape[x.shape.length - 1]!;
  const t = kernel.channelStats(x);
  return b.read(t).then((d) => {
    b.dispose(t);
    return { channels: C, tokens: d[2 * C]!, sum: Float64Array.from(d.subarray(0, C)), sumSq: Float64Array.from(d.subarray(C, 2 * C)) };
  });
};

/** The backend's `channelStats` kernel when it has one (float32 sums on the device), else the host sums. */
export function defaultChannelSums(b: Backend): ChannelSumsFn {
  return capability(b, 'channelStats') ? kernelChannelSums : hostChannelSums;
}

// ---------------------------------------------------------------------------------------
// Accumulated statistics

const f = Math.fround;

export class ChannelStats {
  readonly channels: number;
  /** Sequences seen (the official code's nsamples). */
  samples = 0;
  tokens = 0;
  /** Σx over all tokens (float32 accumulator). */
  readonly sum: Float32Array;
  /** Σx² over all tokens (float32 accumulator). */
  readonly sumSq: Float32Array;
  /** Running mean over samples of ‖x_j‖² per sample: Wanda's scaler_row = FLAP's scaler_inp. */
  readonly scaler: Float32Array;
  /** FLAP's baseline_inp (running mean of per-sample means). */
  readonly flapMean: Float32Array;
  /** FLAP's fluc_inp (official recurrence, first sample discarded). */
  readonly flapFluc: Float32Array;
  private readonly exactMean: Float64Array;
  private readonly m2: Float64Array;

  constructor(channels: number) {
    this.channels = channels;
    this.sum = new Float32Array(channels);
    this.sumSq = new Float32Array(channels);
    this.scaler = new Float32Array(channels);
    this.flapMean = new Float32Array(channels);
    this.flapFluc = new Float32Array(channels);
    this.exactMean = new Float64Array(channels);
    this.m2 = new Float64Array(channels);
  }

  /** Adds one sample (one sequence). */
  add(s: ChannelSums): void {
    if (s.channels !== this.channels) throw new Error(`statistics: ${s.channels} channels, expected ${this.channels}`);
    const n = this.samples;
    const T = s.tokens;
    const keep = f(n / (n + 1));
    const flucKeep = n > 0 ? f((n - 1) / n) : 0;
    const totalBefore = this.tokens;
    for (let j = 0; j < this.channels; j++) {
      const sj = s.sum[j]!;
      const qj = s.sumSq[j]!;
      this.sum[j] = f(this.sum[j]! + sj);
      this.sumSq[j] = f(this.sumSq[j]! + qj);
      // ‖x_j‖² as torch.norm(x, p=2)**2 in float32.
      const norm = f(Math.sqrt(qj));
      this.scaler[j] = f(f(this.scaler[j]! * keep) + f(f(norm * norm) / (n + 1)));
      const sampleMean = f(sj / T);
      const m = f(f(this.flapMean[j]! * keep) + f(sampleMean / (n + 1)));
      this.flapMean[j] = m;
      if (n === 0) {
        this.flapFluc[j] = 0;
      } else {
        const dev = Math.max(0, qj - 2 * m * sj + T * m * m);
        this.flapFluc[j] = f(f(this.flapFluc[j]! * flucKeep) + f(f(dev) / (n + 1)));
      }
      // Chan et al.: merge (count, mean, M2) of the sample into the running moments.
      const mb = sj / T;
      const m2b = Math.max(0, qj - sj * mb);
      const delta = mb - this.exactMean[j]!;
      const tot = totalBefore + T;
      this.exactMean[j] = this.exactMean[j]! + (delta * T) / tot;
      this.m2[j] = this.m2[j]! + m2b + (delta * delta * totalBefore * T) / tot;
    }
    this.samples = n + 1;
    this.tokens = totalBefore + T;
  }

  /** Mean per channel over all tokens. */
  mean(): Float64Array {
    return Float64Array.from(this.sum, (v) => v / this.tokens);
  }

  /** Unbiased variance per channel over all tokens (exact merge, float64). */
  variance(): Float64Array {
    return Float64Array.from(this.m2, (v) => (this.tokens > 1 ? v / (this.tokens - 1) : 0));
  }

  /** ‖X_j‖₂ over all tokens. */
  l2Norm(): Float64Array {
    return Float64Array.from(this.sumSq, (v) => Math.sqrt(v));
  }
}

export type StatPoint = 'attnIn' | 'o' | 'mlpIn' | 'down';
export const STAT_POINTS: readonly StatPoint[] = ['attnIn', 'o', 'mlpIn', 'down'];

/** Which statistics point feeds each linear layer. */
export const POINT_OF_LINEAR: Record<LinearName, StatPoint> = {
  q: 'attnIn',
  k: 'attnIn',
  v: 'attnIn',
  o: 'o',
  gate: 'mlpIn',
  up: 'mlpIn',
  down: 'down',
};

export type LayerStats = Partial<Record<StatPoint, ChannelStats>>;

/** Statistics of one linear's input, or an error naming what is missing. */
export function statsFor(layer: LayerStats, li: number, linear: LinearName): ChannelStats {
  const s = layer[POINT_OF_LINEAR[linear]];
  if (!s) throw new Error(`layer ${li}: no calibration statistics for the input of ${linear}_proj`);
  return s;
}

/** Collects the statistics of one layer from hook events, in sample order. */
class LayerCollector {
  readonly stats: LayerStats = {};
  private pending: { point: StatPoint; sums: Promise<ChannelSums> }[] = [];
  constructor(
    private readonly backend: Backend,
    private readonly points: ReadonlySet<StatPoint>,
    private readonly sumsFn: ChannelSumsFn,
  ) {}

  hooks(): ForwardHooks {
    return {
      linearInput: (e) => {
        const point = POINT_OF_LINEAR[e.linears[0]!];
        if (this.points.has(point)) this.pending.push({ point, sums: this.sumsFn(this.backend, e.x) });
      },
    };
  }

  /** Adds the sums of the sample just run (call after each sample). */
  async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    for (const { point, sums } of batch) {
      const s = await sums;
      (this.stats[point] ??= new ChannelStats(s.channels)).add(s);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Drivers

export interface CalibrationRun {
  /** Points to collect (default: all four). */
  points?: Iterable<StatPoint>;
  sumsFn?: ChannelSumsFn;
  /**
   * Sequential mode (Wanda's default): called after layer i's statistics are collected on
   * the current inputs; the layer it returns replaces layer i and is re-run on every sample
   * to give layer i+1 its inputs. Without it, statistics are those of the given model
   * (one-shot: every layer sees the outputs of the unchanged layers before it).
   */
  transform?: (layer: number, weights: LayerWeights<HostTensor>, stats: LayerStats) => LayerWeights<HostTensor> | Promise<LayerWeights<HostTensor>>;
  signal?: AbortSignal;
  /** Awaited when it returns a promise (as in evaluatePerplexity). */
  onProgress?: (p: { done: number; total: number }) => void | Promise<void>;
}

export interface CalibrationResult {
  stats: LayerStats[];
  /** The model after the per-layer transforms (the input when there are none). */
  weights: ModelWeights<HostTensor>;
}

const yieldToEventLoop = () => new Promise<void>((r) => setTimeout(r, 0));

/**
 * Runs the samples through the model layer by layer (all samples through layer i, then
 * layer i+1, as the official code does), collecting input statistics per layer. Hidden
 * states stay on the backend; only the statistics sums are read back.
 */
export async function calibrate(cfg: ModelConfig, backend: Backend, weights: ModelWeights<HostTensor>, samples: Int32Array[], run: CalibrationRun = {}): Promise<CalibrationResult> {
  const b = backend;
  const points = new Set<StatPoint>(run.points ?? STAT_POINTS);
  const sumsFn = run.sumsFn ?? defaultChannelSums(backend);
  const L = weights.layers.length;
  const total = L * samples.length * (run.transform ? 2 : 1);
  let done = 0;
  const tick = async () => {
    done++;
    await run.onProgress?.({ done, total });
    if (done % 8 === 0) await yieldToEventLoop();
    throwIfAborted(run.signal, 'calibration');
  };
  throwIfAborted(run.signal, 'calibration');
  await run.onProgress?.({ done, total });

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

  const embed = b.upload(weights.embed.data, weights.embed.shape);
  let hidden: Tensor[] = samples.map((ids) => {
    const idsT = b.uploadIds(ids);
    const h = b.embedding(embed, idsT);
    b.dispose(idsT);
    return h;
  });
  b.dispose(embed);

  const layers = [...weights.layers];
  const stats: LayerStats[] = [];
  try {
    for (let li = 0; li < L; li++) {
      const collector = new LayerCollector(b, points, sumsFn);
      const dense = uploadLayer(b, layers[li]!, cfg.headDim);
      const outs: Tensor[] = [];
      try {
        for (let s = 0; s < samples.length; s++) {
          outs.push(decoderLayer(b, cfg, dense, li, hidden[s]!, ropeFor(samples[s]!.length), collector.hooks()));
          await collector.flush();
          await tick();
        }
      } catch (e) {
        outs.forEach((t) => b.dispose(t));
        throw e;
      } finally {
        disposeLayer(b, dense);
      }
      stats.push(collector.stats);
      if (run.transform) {
        outs.forEach((t) => b.dispose(t));
        outs.length = 0;
        layers[li] = await run.transform(li, layers[li]!, collector.stats);
        const pruned = uploadLayer(b, layers[li]!, cfg.headDim);
        try {
          for (let s = 0; s < samples.length; s++) {
            outs.push(decoderLayer(b, cfg, pruned, li, hidden[s]!, ropeFor(samples[s]!.length)));
            await tick();
          }
        } catch (e) {
          outs.forEach((t) => b.dispose(t));
          throw e;
        } finally {
          disposeLayer(b, pruned);
        }
      }
      hidden.forEach((t) => b.dispose(t));
      hidden = outs;
    }
  } finally {
    hidden.forEach((t) => b.dispose(t));
    for (const r of ropeCache.values()) {
      b.dispose(r.cos);
      b.dispose(r.sin);
    }
  }
  return { stats, weights: { ...weights, layers } };
}

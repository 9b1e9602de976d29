/**
 * The L4Q training loop (docs/methods/l4q.md#training-schedule), one optimizer step per call:
 *
 *   1. LoRA A, B (rank r, scale α/r) on every decoder linear; W' = M ⊙ (W0 + (α/r)·B·A).
 *   2. Steps 0 … Tw−1 (warm-up): LoRA only, on the float merged weight W' (our reading of
 *      "plain LoRA fine-tune"; the paper's note that warm-up may run on Q(W0) is not taken).
 *   3. At step Tw: s, b of every group initialised from the current W' (QuantInit; min-max
 *      by default, L4Q_DEFAULTS), then Ŵ = fakeQuantize(W') and A, B, s, b trained jointly: Adam for A, B
 *      with `lr`, a second Adam for s, b with `lrQuant`. Symmetric mode keeps b ≡ 0.
 *   4. Loss = mean next-token NLL over the batch's predictions (calibration windows, each its
 *      own sequence); embeddings, norms and biases frozen.
 *
 * Steps are deterministic for a seed: A's init and the batch order (a seeded shuffle per
 * epoch over the samples) come from it, and the CPU reference sums in a fixed order.
 * A step whose loss is not finite throws a StudioError (sequenceLossAndGrads), so no NaN
 * reaches the curve. After training, `merge()` quantizes W' with the learned s, b into
 * integer codes per group — no LoRA is left — and the model is evaluated from those codes.
 *
 * This file keeps the schedule (batches, warm-up, the step loop, the merge) and the forward
 * over the frozen tensors; the parameter side is an L4QParams (l4q-params.ts): on the CPU
 * reference HostL4QParams (l4q-host-params.ts), whose host arrays (lora.ts, l4q.ts, adam.ts)
 * are the parameters; with QuantTrainOps (WebGPU on a hardware adapter, see
 * quantTrainOpsFor) DeviceL4QParams (l4q-device-params.ts), which keeps A, B, s, b and both
 * Adams' state as backend tensors, reads back only the loss, and refreshes the host arrays
 * after the last step (`syncHost`) for the merge. The GPU kernels sum in f32, so losses there
 * differ from the CPU's in late digits.
 */
import { capability, type Backend, type Tensor } from '../backend/backend';
import type { QuantTrainOps } from '../backend/quant-train-ops';
import type { TrainingBackend } from '../backend/training';
import { StudioError } from '../errors';
import type { ModelConfig } from '../model/config';
import { mapWeights, type HostTensor, type LinearName, type ModelWeights } from '../model/weights';
import { seededRandom } from '../random';
import { isGroupSize } from '../rules';
import { quantGrid, quantizeToIntegers, QUANT_INITS, type IntegerLinear, type QuantGrid } from './l4q';
import { DeviceL4QParams } from './l4q-device-params';
import { effectiveWeight, HostL4QParams } from './l4q-host-params';
import { linearsTrainingMemory, type TrainingMemory } from './l4q-memory';
import { applyMask, learnsOffset, trainableLinears, type BatchGradients, type L4QForward, type L4QOptions, type L4QParams, type TrainableLinear } from './l4q-params';
import { mergeLora } from './lora';
import { packSigned } from './pack';
import { quantizedHostTensor } from './quantized-linear';
import { checkTrainable, sequenceLossAndGrads, type TrainWeights } from './train-model';

export type { BatchGradients, L4QOptions, TrainableLinear } from './l4q-params';

/**
 * Defaults for the bundled model, each chosen by measurement on stories260K: LoRA rank 8,
 * α = 16 (scale 2); Adam lr 3e-4 for A, B and 1e-4 for s, b; 60 steps of one 512-token window
 * (l4q-experiment.ts L4Q_CALIBRATION), the first 6 LoRA-only; min-max initialisation, because
 * it uses the whole grid and gives the offsets a start (with --sym, L4Q_init and b ≡ 0).
 * The measurements behind each: docs/methods/l4q.md#why-these-defaults.
 */
export const L4Q_DEFAULTS: L4QOptions = {
  bits: 4,
  group: 32,
  symmetric: false,
  rank: 8,
  alpha: 16,
  steps: 60,
  warmup: 6,
  lr: 3e-4,
  lrQuant: 1e-4,
  batch: 1,
  seed: 0,
  init: 'minmax',
  gradScale: null,
};

/** LoRA alone, no quantizer (the warm-up is every step): the RTN-then-LoRA baseline's training. */
export function loraOnly(o: L4QOptions): L4QOptions {
  return { ...o, warmup: o.steps };
}

export function checkL4QOptions(o: L4QOptions): void {
  const bad = (m: string): never => {
    throw new StudioError('input', `L4Q: ${m}`);
  };
  quantGrid(o.bits);
  if (o.group !== 0 && !isGroupSize(o.group)) bad(`group ${o.group} must be 0 (per channel) or a positive integer`);
  if (!Number.isInteger(o.steps) || o.steps < 1) bad(`steps ${o.steps} must be a positive integer`);
  if (!Number.isInteger(o.warmup) || o.warmup < 0 || o.warmup > o.steps) bad(`warm-up ${o.warmup} must be an integer from 0 to steps (${o.steps})`);
  if (!Number.isInteger(o.batch) || o.batch < 1) bad(`batch ${o.batch} must be a positive integer`);
  if (!Number.isInteger(o.rank) || o.rank < 1) bad(`rank ${o.rank} must be a positive integer`);
  for (const [k, v] of [['alpha', o.alpha], ['lr', o.lr], ['lr-quant', o.lrQuant]] as const) if (!(v > 0) || !Number.isFinite(v)) bad(`${k} ${v} must be a positive number`);
  if (o.gradScale !== null && (!(o.gradScale > 0) || !Number.isFinite(o.gradScale))) bad(`gradient scale ${o.gradScale} must be a positive number`);
  if (!QUANT_INITS.includes(o.init)) bad(`init "${o.init}" must be one of ${QUANT_INITS.join(', ')}`);
  if (o.symmetric && o.init === 'minmax') bad('the min-max initialisation is asymmetric; use --init l4q or lsq with --sym');
}

/**
 * The QuantTrainOps the trainer uses by default on a backend: its `quantTrain` capability
 * (WebGPU's kernels on a hardware adapter; the backend says when not to use them), else
 * none: the host path, whose host arrays are the parameters already.
 */
export function quantTrainOpsFor(b: Backend): QuantTrainOps | null {
  return capability(b, 'quantTrain');
}

export interface StepInfo {
  step: number;
  phase: 'warmup' | 'joint';
  /** Mean NLL of the batch before this step's update. */
  loss: number;
  predictions: number;
  ms: number;
}

export type { TrainingMemory } from './l4q-memory';

export interface MergedModel {
  /** The model with every decoder linear packed (HostTensor.packed; data = its dequantization). */
  weights: ModelWeights<HostTensor>;
  /** layers[l][name]: the integer codes, steps and offsets of each decoder linear (before packing). */
  linears: Partial<Record<LinearName, IntegerLinear>>[];
}


export class L4QTrainer {
  readonly options: L4QOptions;
  readonly grid: QuantGrid;
  /** Every decoder linear with the host copies of its parameters (the parameter set's `linears`). */
  readonly linears: TrainableLinear[];
  private readonly b: TrainingBackend;
  private readonly cfg: ModelConfig;
  private readonly host: ModelWeights<HostTensor>;
  private readonly frozen: TrainWeights;
  private readonly samples: Int32Array[];
  /** The parameter side: host arrays (CPU reference) or device tensors (QuantTrainOps). */
  private readonly params: L4QParams;
  private readonly forward: L4QForward;
  private order: number[] = [];
  private cursor = 0;
  private readonly shuffle: () => number;
  private t = 0;
  private maxActivationBytes = 0;

  /**
   * `keepZeros` (default true): exact zeros of W0 are pruned weights and stay zero. The
   * RTN-then-LoRA baseline turns it off: there zeros are just codes at the zero point.
   * `ops`: 'auto' (default) = quantTrainOpsFor(b): the device path where it pays, else the
   * host path; null forces the host path; an instance forces the device path with it (tests
   * run it with CpuQuantTrainOps, and with WebGpuQuantTrainOps on SwiftShader).
   */
  constructor(b: TrainingBackend, cfg: ModelConfig, weights: ModelWeights<HostTensor>, samples: Int32Array[], options: L4QOptions, keepZeros = true, ops: QuantTrainOps | null | 'auto' = 'auto') {
    checkL4QOptions(options);
    checkTrainable(cfg, weights.layers);
    if (samples.length === 0) throw new StudioError('input', 'L4Q needs at least one calibration sample');
    this.options = options;
    this.grid = quantGrid(options.bits);
    this.b = b;
    this.cfg = cfg;
    this.host = weights;
    this.samples = samples;
    this.shuffle = seededRandom(options.seed ^ 0x5eed);
    this.linears = trainableLinears(weights, options, keepZeros);
    const deviceOps = ops === 'auto' ? quantTrainOpsFor(b) : ops;
    this.params = deviceOps ? new DeviceL4QParams(b, deviceOps, this.linears, options, this.grid) : new HostL4QParams(b, this.linears, options, this.grid, (x) => this.effective(x));
    this.forward = (batch, linearWeights) => this.lossAndGammas(batch, linearWeights);
    // Frozen tensors once; the linears are given every step as their effective weights by
    // the parameter set (uploaded from the host, or made on the device from W0, A, B, s, b).
    const up = (h: HostTensor) => b.upload(h.data, h.shape);
    const embed = up(weights.embed);
    this.frozen = {
      embed,
      norm: up(weights.norm),
      lmHead: weights.lmHead === weights.embed ? embed : up(weights.lmHead),
      layers: weights.layers.map((l) => ({
        ...l,
        inputNorm: up(l.inputNorm),
        postNorm: up(l.postNorm),
        qBias: l.qBias && up(l.qBias),
        kBias: l.kBias && up(l.kBias),
        vBias: l.vBias && up(l.vBias),
        oBias: l.oBias && up(l.oBias),
        downBias: l.downBias && up(l.downBias),
        q: null as unknown as Tensor,
        k: null as unknown as Tensor,
        v: null as unknown as Tensor,
        o: null as unknown as Tensor,
        gate: null as unknown as Tensor,
        up: null as unknown as Tensor,
        down: null as unknown as Tensor,
      })),
    };
  }

  get step(): number {
    return this.t;
  }

  get done(): boolean {
    return this.t >= this.options.steps;
  }

  get group(): number {
    return this.options.group;
  }

  /**
   * s, b from the current merged weights (step Tw); public for tests that start in the joint
   * phase. In device mode the host A, B must be current (trainStep syncs them first).
   */
  initQuantizer(): void {
    this.checkHostCurrent('initQuantizer');
    this.params.initQuantizer();
  }

  private checkHostCurrent(what: string): void {
    if (this.params.hostStale) throw new Error(`L4Q ${what}: the trained parameters are on the device and the host copies are out of date; await syncHost() first`);
  }

  /**
   * Device mode: copies A, B (and s, b once they exist) back into the host arrays of
   * `linears`. trainStep does it after the last step, so merge() and floatWeights() see the
   * trained values; a no-op on the host path.
   */
  async syncHost(): Promise<void> {
    await this.params.syncHost();
  }

  private nextBatch(): Int32Array[] {
    const out: Int32Array[] = [];
    for (let i = 0; i < this.options.batch; i++) {
      if (this.cursor >= this.order.length) {
        // Seeded Fisher–Yates shuffle per epoch.
        this.order = this.samples.map((_, j) => j);
        for (let j = this.order.length - 1; j > 0; j--) {
          const r = Math.floor(this.shuffle() * (j + 1));
          [this.order[j], this.order[r]] = [this.order[r]!, this.order[j]!];
        }
        this.cursor = 0;
      }
      out.push(this.samples[this.order[this.cursor++]!]!);
    }
    return out;
  }

  /**
   * The weight the forward uses on the host path: M ⊙ W' in warm-up, M ⊙ Q(W') after
   * (protected: the gradient test substitutes the STE surrogate).
   */
  protected effective(x: TrainableLinear): { merged: Float32Array; eff: Float32Array } {
    return effectiveWeight(x, this.grid);
  }

  /**
   * The forward/backward of one batch over the frozen tensors with `linearWeights[i]` as
   * linear i's weight (an L4QForward): each sequence in turn, Γ summed over the batch.
   */
  private async lossAndGammas(batch: Int32Array[], linearWeights: Tensor[]): Promise<{ loss: number; predictions: number; gammas: Tensor[] }> {
    const b = this.b;
    const layers = this.frozen.layers.map((l) => ({ ...l }));
    this.linears.forEach((x, i) => {
      layers[x.layer]![x.name] = linearWeights[i]!;
    });
    const W: TrainWeights = { ...this.frozen, layers };
    const predictions = batch.reduce((a, s) => a + s.length - 1, 0);
    const gammas: Partial<Record<LinearName, Tensor>>[] = layers.map(() => ({}));
    let nllSum = 0;
    try {
      for (const seq of batch) {
        const r = await sequenceLossAndGrads(b, this.cfg, W, seq, 1 / predictions, gammas);
        nllSum += r.nllSum;
        this.maxActivationBytes = Math.max(this.maxActivationBytes, r.activationBytes);
      }
    } catch (e) {
      for (const g of gammas) for (const t of Object.values(g)) if (t) b.dispose(t);
      throw e;
    }
    return { loss: nllSum / predictions, predictions, gammas: this.linears.map((x) => gammas[x.layer]![x.name]!) };
  }

  /** Loss and gradients of one batch at the current parameters (no update; on the device path read back). */
  gradients(batch: Int32Array[]): Promise<BatchGradients> {
    return this.params.gradients(batch, this.forward);
  }

  /** One optimizer step (warm-up or joint). */
  async trainStep(): Promise<StepInfo> {
    if (this.done) throw new Error('L4Q: training already finished');
    const t0 = performance.now();
    if (this.t === this.options.warmup) {
      await this.params.syncHost();
      this.initQuantizer();
    }
    const g = await this.params.step(this.nextBatch(), this.forward);
    const phase = this.params.quantizing ? 'joint' : 'warmup';
    const step = this.t++;
    if (this.done) await this.params.syncHost();
    return { step, phase, loss: g.loss, predictions: g.predictions, ms: performance.now() - t0 };
  }

  memory(): TrainingMemory {
    return linearsTrainingMemory(this.linears, this.options, this.maxActivationBytes);
  }

  /**
   * W' quantized with the learned s, b into integer codes (no LoRA left), packed in the
   * MatMulNBits layout (pack.ts packSigned: u = q − Qn, z = −Qn − b/s); the returned weights
   * hold the packed linears, so evaluation and sizes use the integer model itself.
   */
  merge(): MergedModel {
    this.checkHostCurrent('merge');
    if (this.linears.some((x) => !x.quant)) this.initQuantizer();
    const linears: Partial<Record<LinearName, IntegerLinear>>[] = this.host.layers.map(() => ({}));
    const packed = new Map<Float32Array, HostTensor>();
    for (const x of this.linears) {
      const w = applyMask(mergeLora(x.w0, x.lora), x.mask);
      const q = quantizeToIntegers(w, x.quant!, this.grid, x.mask);
      linears[x.layer]![x.name] = q;
      const p = packSigned({ rows: x.rows, cols: x.cols, bits: q.bits, groupSize: q.group, q: q.codes, step: q.scales, offset: learnsOffset(this.options, x) ? q.offsets : null });
      packed.set(x.w0, quantizedHostTensor(p));
    }
    const weights = mapWeights(this.host, (h) => packed.get(h.data) ?? h);
    return { weights, linears };
  }

  /**
   * The float model W0 + (α/r)·B·A, LoRA not quantized: the RTN-then-LoRA baseline (LoRA
   * trained on a frozen RTN model, evaluated unmerged, which this computes exactly).
   */
  floatWeights(): ModelWeights<HostTensor> {
    this.checkHostCurrent('floatWeights');
    const merged = new Map<Float32Array, HostTensor>();
    for (const x of this.linears) merged.set(x.w0, { shape: [x.rows, x.cols], data: applyMask(mergeLora(x.w0, x.lora), x.mask) });
    return mapWeights(this.host, (h) => merged.get(h.data) ?? (h.packed ? { shape: h.shape, data: h.data } : h));
  }

  dispose(): void {
    const b = this.b;
    const seen = new Set<Tensor>();
    const free = (t: Tensor | null) => {
      if (t && !seen.has(t)) {
        seen.add(t);
        b.dispose(t);
      }
    };
    free(this.frozen.embed);
    free(this.frozen.norm);
    free(this.frozen.lmHead);
    for (const l of this.frozen.layers) [l.inputNorm, l.postNorm, l.qBias, l.kBias, l.vBias, l.oBias, l.downBias].forEach(free);
    this.params.dispose();
  }
}

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
 * Where the parameter side lives: on the CPU reference the host arrays (lora.ts, l4q.ts,
 * adam.ts) are the parameters, as below. With QuantTrainOps (WebGPU on a hardware adapter,
 * see quantTrainOpsFor) A, B, s, b and both Adams' state are backend tensors (DeviceLinear), a step runs merge → fake
 * quantization → forward/backward → quantizer and LoRA gradients → Adam there, and only the
 * loss comes back; the host arrays are refreshed after the last step (`syncHost`) for the
 * merge. The GPU kernels sum in f32, so losses there differ from the CPU's in late digits.
 */
import { capability, type Backend, type Tensor } from '../backend/backend';
import type { TrainingBackend } from '../backend/training';
import { StudioError } from '../errors';
import type { ModelConfig } from '../model/config';
import { LINEAR_NAMES, mapWeights, type HostTensor, type LinearName, type ModelWeights } from '../model/weights';
import { seededRandom } from '../random';
import { groupWidth, isGroupSize } from '../rules';
import { Adam, ADAM_DEFAULTS } from './adam';
import { defaultGradScale, fakeQuantize, fakeQuantizeGrad, initGroupQuant, quantGrid, quantizeToIntegers, QUANT_INITS, type GroupQuant, type IntegerLinear, type QuantGrid, type QuantInit } from './l4q';
import { createLora, loraGrads, mergeLora, type LoraAdapter } from './lora';
import { linearsTrainingMemory, type TrainingMemory } from './l4q-memory';
import { packSigned } from './pack';
import { quantizedHostTensor } from './quantized-linear';
import type { QuantTrainOps } from '../backend/quant-train-ops';
import { checkTrainable, sequenceLossAndGrads, type TrainWeights } from './train-model';

export interface L4QOptions {
  bits: number;
  /** Consecutive input columns per (s, b) group; 0 = one group per output row (per channel). */
  group: number;
  /** true: b ≡ 0 (symmetric LSQ); false: b learned (LSQ+). */
  symmetric: boolean;
  rank: number;
  alpha: number;
  /** Total optimizer steps, warm-up included. */
  steps: number;
  warmup: number;
  lr: number;
  lrQuant: number;
  /** Sequences per step. */
  batch: number;
  seed: number;
  init: QuantInit;
  /** LSQ gradient scale g; null = 1/√(G·Qp). */
  gradScale: number | null;
}

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

export interface TrainableLinear {
  layer: number;
  name: LinearName;
  rows: number;
  cols: number;
  w0: Float32Array;
  /** 1 = kept; null when the weight has no zeros (dense). */
  mask: Uint8Array | null;
  lora: LoraAdapter;
  quant: GroupQuant | null;
  /** s at initialisation; s is kept ≥ 1e-3 of it so a step can never reach 0. */
  sFloor: Float32Array | null;
}

/** A linear's trainable state as backend tensors (device mode). */
interface DeviceLinear {
  w0: Tensor;
  /** The 0/1 mask as f32, or null (dense). */
  mask: Tensor | null;
  A: Tensor;
  B: Tensor;
  /** Adam's m, v of A and B. */
  adamA: [Tensor, Tensor];
  adamB: [Tensor, Tensor];
  /** From the end of warm-up: s, b (b stays 0 unless learned), s's floor, Adam state of s and b. */
  s: Tensor | null;
  b: Tensor | null;
  sFloor: Tensor | null;
  adamS: [Tensor, Tensor] | null;
  adamOff: [Tensor, Tensor] | null;
}

/** Gradients of one linear as backend tensors (device mode); ds, db null in warm-up. */
interface DeviceGrads {
  dA: Tensor;
  dB: Tensor;
  ds: Tensor | null;
  db: Tensor | null;
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

export interface BatchGradients {
  /** Mean NLL over the batch's predictions. */
  loss: number;
  predictions: number;
  /** dA, dB per linear, in `linears` order. */
  lora: Float32Array[];
  /** ds (and db where b is learned) per linear, already multiplied by g; empty in warm-up. */
  quant: Float64Array[];
}

export type { TrainingMemory } from './l4q-memory';

export interface MergedModel {
  /** The model with every decoder linear packed (HostTensor.packed; data = its dequantization). */
  weights: ModelWeights<HostTensor>;
  /** layers[l][name]: the integer codes, steps and offsets of each decoder linear (before packing). */
  linears: Partial<Record<LinearName, IntegerLinear>>[];
}

/** Pruned weights are the exact zeros of W0; they stay zero through training and the merge. */
function maskOf(w: Float32Array): Uint8Array | null {
  if (!w.includes(0)) return null;
  return Uint8Array.from(w, (x) => (x === 0 ? 0 : 1));
}

function applyMask(w: Float32Array, m: Uint8Array | null): Float32Array {
  if (m) for (let i = 0; i < w.length; i++) if (!m[i]) w[i] = 0;
  return w;
}

export class L4QTrainer {
  readonly options: L4QOptions;
  readonly grid: QuantGrid;
  readonly linears: TrainableLinear[] = [];
  private readonly b: TrainingBackend;
  private readonly cfg: ModelConfig;
  private readonly host: ModelWeights<HostTensor>;
  private readonly frozen: TrainWeights;
  private readonly samples: Int32Array[];
  private readonly loraAdam: Adam;
  private quantAdam: Adam | null = null;
  private order: number[] = [];
  private cursor = 0;
  private readonly shuffle: () => number;
  private t = 0;
  private maxActivationBytes = 0;
  /** Device mode: the ops and each linear's tensors (in `linears` order); null = host path. */
  private readonly ops: QuantTrainOps | null;
  private readonly dev: DeviceLinear[] = [];
  /** Adam step counts of the LoRA and the quantizer optimizers (device mode). */
  private loraSteps = 0;
  private quantSteps = 0;
  /** Device mode: the host arrays lag the device tensors (refresh with syncHost). */
  private hostStale = false;

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
    let k = 0;
    weights.layers.forEach((l, li) => {
      for (const name of LINEAR_NAMES) {
        const w = l[name];
        const [rows, cols] = [w.shape[0]!, w.shape[1]!];
        if (rows === 0 || cols === 0) continue;
        const lora = createLora(rows, cols, options.rank, options.alpha, (options.seed * 1000003 + 7919 * ++k) >>> 0);
        this.linears.push({ layer: li, name, rows, cols, w0: w.data, mask: keepZeros ? maskOf(w.data) : null, lora, quant: null, sFloor: null });
      }
    });
    this.loraAdam = new Adam(this.linears.flatMap((x) => [x.lora.A, x.lora.B]), { lr: options.lr });
    this.ops = ops === 'auto' ? quantTrainOpsFor(b) : ops;
    if (this.ops) {
      const zeros = (shape: number[]): [Tensor, Tensor] => [b.upload(new Float32Array(shape[0]! * shape[1]!), shape), b.upload(new Float32Array(shape[0]! * shape[1]!), shape)];
      for (const x of this.linears) {
        const r = x.lora.rank;
        this.dev.push({
          w0: b.upload(x.w0, [x.rows, x.cols]),
          mask: x.mask && b.upload(Float32Array.from(x.mask), [x.rows, x.cols]),
          // Copies: the CPU backend's upload keeps the array itself, and the host arrays must
          // stay what they are until syncHost.
          A: b.upload(x.lora.A.slice(), [r, x.cols]),
          B: b.upload(x.lora.B.slice(), [x.rows, r]),
          adamA: zeros([r, x.cols]),
          adamB: zeros([x.rows, r]),
          s: null,
          b: null,
          sFloor: null,
          adamS: null,
          adamOff: null,
        });
      }
    }
    // Frozen tensors once; the linears are re-uploaded every step as their effective weights
    // (host path) or made on the device from W0, A, B, s, b (device path).
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

  /** Columns per group of a linear: G, or the whole row when G ≥ in or per channel (rules.ts groupWidth, as RTN). */
  private groupOf(cols: number): number {
    return groupWidth(this.options.group === 0 ? null : this.options.group, cols);
  }

  /**
   * b is learned unless symmetric, or the linear is pruned: with b ≡ 0 code 0 is exactly 0,
   * so pruned weights dequantize to exactly 0 in the packed MatMulNBits layout too (a
   * non-integer zero point z = −Qn − b/s could not represent 0).
   */
  private learnsOffset(x: TrainableLinear): boolean {
    return !this.options.symmetric && !x.mask;
  }

  /**
   * s, b from the current merged weights (step Tw); public for tests that start in the joint
   * phase. In device mode the host A, B must be current (trainStep syncs them first).
   */
  initQuantizer(): void {
    this.checkHostCurrent('initQuantizer');
    const o = this.options;
    for (const x of this.linears) {
      const w = mergeLora(x.w0, x.lora);
      const init = o.init === 'minmax' && !this.learnsOffset(x) ? 'l4q' : o.init;
      x.quant = initGroupQuant(w, x.rows, x.cols, this.groupOf(x.cols), this.grid, init, x.mask);
      x.sFloor = x.quant.s.map((s) => s * 1e-3);
    }
    const params = this.linears.flatMap((x) => (this.learnsOffset(x) ? [x.quant!.s, x.quant!.b] : [x.quant!.s]));
    this.quantAdam = new Adam(params, { lr: o.lrQuant });
    if (this.ops) this.uploadQuantizer();
  }

  /** Device mode: s, b, s's floor and fresh Adam state of s (and b where learned) as tensors. */
  private uploadQuantizer(): void {
    const b = this.b;
    const zeros = (n: number): [Tensor, Tensor] => [b.upload(new Float32Array(n), [n]), b.upload(new Float32Array(n), [n])];
    this.linears.forEach((x, i) => {
      const d = this.dev[i]!;
      for (const t of [d.s, d.b, d.sFloor, ...(d.adamS ?? []), ...(d.adamOff ?? [])]) if (t) b.dispose(t);
      const n = x.quant!.s.length;
      d.s = b.upload(x.quant!.s.slice(), [n]);
      d.b = b.upload(x.quant!.b.slice(), [n]);
      d.sFloor = b.upload(x.sFloor!.slice(), [n]);
      d.adamS = zeros(n);
      d.adamOff = this.learnsOffset(x) ? zeros(n) : null;
    });
    this.quantSteps = 0;
  }

  private checkHostCurrent(what: string): void {
    if (this.hostStale) throw new Error(`L4Q ${what}: the trained parameters are on the device and the host copies are out of date; await syncHost() first`);
  }

  /**
   * Device mode: copies A, B (and s, b once they exist) back into the host arrays of
   * `linears`. trainStep does it after the last step, so merge() and floatWeights() see the
   * trained values; a no-op on the host path.
   */
  async syncHost(): Promise<void> {
    if (!this.ops || !this.hostStale) return;
    for (let i = 0; i < this.linears.length; i++) {
      const x = this.linears[i]!;
      const d = this.dev[i]!;
      x.lora.A.set(await this.b.read(d.A));
      x.lora.B.set(await this.b.read(d.B));
      if (x.quant && d.s && d.b) {
        x.quant.s.set(await this.b.read(d.s));
        x.quant.b.set(await this.b.read(d.b));
      }
    }
    this.hostStale = false;
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

  /** The weight the forward uses: M ⊙ W' in warm-up, M ⊙ Q(W') after (protected: the gradient test substitutes the STE surrogate). */
  protected effective(x: TrainableLinear): { merged: Float32Array; eff: Float32Array } {
    const merged = applyMask(mergeLora(x.w0, x.lora), x.mask);
    const eff = x.quant ? fakeQuantize(merged, x.quant, this.grid, x.mask) : merged;
    return { merged, eff };
  }

  /** Loss and gradients of one batch at the current parameters (no update). */
  async gradients(batch: Int32Array[]): Promise<BatchGradients> {
    if (this.ops) {
      // Device mode: the same gradients, read back (for tests and inspection; trainStep does not).
      const lora: Float32Array[] = [];
      const quant: Float64Array[] = [];
      const r = await this.deviceGradients(batch, async (i, g) => {
        const x = this.linears[i]!;
        lora.push(await this.b.read(g.dA), await this.b.read(g.dB));
        if (g.ds) quant.push(Float64Array.from(await this.b.read(g.ds)));
        if (g.db && this.learnsOffset(x)) quant.push(Float64Array.from(await this.b.read(g.db)));
      });
      return { ...r, lora, quant };
    }
    const o = this.options;
    const b = this.b;
    const merged: Float32Array[] = [];
    const layers = this.frozen.layers.map((l) => ({ ...l }));
    const uploaded: Tensor[] = [];
    for (const x of this.linears) {
      const e = this.effective(x);
      merged.push(e.merged);
      const tensor = b.upload(e.eff, [x.rows, x.cols]);
      uploaded.push(tensor);
      layers[x.layer]![x.name] = tensor;
    }
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
    } finally {
      for (const t of uploaded) b.dispose(t);
    }
    const lora: Float32Array[] = [];
    const quant: Float64Array[] = [];
    for (let i = 0; i < this.linears.length; i++) {
      const x = this.linears[i]!;
      const gT = gammas[x.layer]![x.name]!;
      let gamma = await b.read(gT);
      b.dispose(gT);
      if (x.quant) {
        const g = o.gradScale ?? defaultGradScale(this.groupOf(x.cols), this.grid);
        const q = fakeQuantizeGrad(merged[i]!, gamma, x.quant, this.grid, g, x.mask);
        gamma = q.dW;
        quant.push(q.ds);
        if (this.learnsOffset(x)) quant.push(q.db);
      } else {
        applyMask(gamma, x.mask);
      }
      const lg = loraGrads(gamma, x.lora);
      lora.push(lg.dA, lg.dB);
    }
    return { loss: nllSum / predictions, predictions, lora, quant };
  }

  /**
   * Device mode: merge and fake-quantize every linear, run the batch's forward/backward, then
   * hand each linear's gradients (backend tensors, freed after `consume`) to `consume` in
   * `linears` order. Only the per-sequence loss is read back.
   */
  private async deviceGradients(batch: Int32Array[], consume: (i: number, g: DeviceGrads) => Promise<void> | void): Promise<{ loss: number; predictions: number }> {
    const ops = this.ops!;
    const b = this.b;
    const layers = this.frozen.layers.map((l) => ({ ...l }));
    const merged: Tensor[] = [];
    const quantized: Tensor[] = [];
    const gammas: Partial<Record<LinearName, Tensor>>[] = layers.map(() => ({}));
    const predictions = batch.reduce((a, s) => a + s.length - 1, 0);
    let nllSum = 0;
    try {
      this.linears.forEach((x, i) => {
        const d = this.dev[i]!;
        const w = ops.loraMerge(d.w0, d.A, d.B, x.lora.scale, d.mask);
        merged.push(w);
        const eff = d.s && d.b ? ops.fakeQuant(w, d.s, d.b, this.grid, this.groupOf(x.cols), d.mask) : w;
        if (eff !== w) quantized.push(eff);
        layers[x.layer]![x.name] = eff;
      });
      const W: TrainWeights = { ...this.frozen, layers };
      for (const seq of batch) {
        const r = await sequenceLossAndGrads(b, this.cfg, W, seq, 1 / predictions, gammas);
        nllSum += r.nllSum;
        this.maxActivationBytes = Math.max(this.maxActivationBytes, r.activationBytes);
      }
      for (const t of quantized.splice(0)) b.dispose(t);
      for (let i = 0; i < this.linears.length; i++) {
        const x = this.linears[i]!;
        const d = this.dev[i]!;
        const gamma = gammas[x.layer]![x.name]!;
        delete gammas[x.layer]![x.name];
        let dW = gamma;
        let ds: Tensor | null = null;
        let db: Tensor | null = null;
        if (d.s && d.b) {
          const g = this.options.gradScale ?? defaultGradScale(this.groupOf(x.cols), this.grid);
          const q = ops.fakeQuantGrad(merged[i]!, gamma, d.s, d.b, this.grid, this.groupOf(x.cols), g, d.mask);
          b.dispose(gamma);
          ({ dW, ds, db } = q);
        }
        // In warm-up Γ itself reaches LoRA, masked; after it fakeQuantGrad has masked dW.
        const lg = ops.loraGrads(dW, d.A, d.B, x.lora.scale, ds ? null : d.mask);
        b.dispose(dW);
        try {
          await consume(i, { dA: lg.dA, dB: lg.dB, ds, db });
        } finally {
          for (const t of [lg.dA, lg.dB, ds, db]) if (t) b.dispose(t);
        }
      }
    } finally {
      for (const t of [...merged, ...quantized]) b.dispose(t);
      for (const g of gammas) for (const t of Object.values(g)) if (t) b.dispose(t);
    }
    return { loss: nllSum / predictions, predictions };
  }

  /** Device mode: one step's gradients straight into the Adam kernels; nothing read but the loss. */
  private async deviceTrainStep(): Promise<{ loss: number; predictions: number }> {
    const ops = this.ops!;
    const o = this.options;
    const lora = { lr: o.lr, ...ADAM_DEFAULTS, t: this.loraSteps + 1 };
    const quant = { lr: o.lrQuant, ...ADAM_DEFAULTS, t: this.quantSteps + 1 };
    const r = await this.deviceGradients(this.nextBatch(), (i, g) => {
      const d = this.dev[i]!;
      ops.adamStep(d.A, g.dA, d.adamA[0], d.adamA[1], lora);
      ops.adamStep(d.B, g.dB, d.adamB[0], d.adamB[1], lora);
      if (g.ds && d.s && d.adamS) ops.adamStep(d.s, g.ds, d.adamS[0], d.adamS[1], quant, d.sFloor);
      if (g.db && d.b && d.adamOff) ops.adamStep(d.b, g.db, d.adamOff[0], d.adamOff[1], quant);
    });
    this.loraSteps++;
    if (this.quantAdam) this.quantSteps++;
    this.hostStale = true;
    return r;
  }

  /** One optimizer step (warm-up or joint). */
  async trainStep(): Promise<StepInfo> {
    if (this.done) throw new Error('L4Q: training already finished');
    const t0 = performance.now();
    if (this.ops) {
      if (this.t === this.options.warmup) {
        await this.syncHost();
        this.initQuantizer();
      }
      const g = await this.deviceTrainStep();
      const phase = this.quantAdam ? 'joint' : 'warmup';
      this.t++;
      if (this.done) await this.syncHost();
      return { step: this.t - 1, phase, loss: g.loss, predictions: g.predictions, ms: performance.now() - t0 };
    }
    if (this.t === this.options.warmup) this.initQuantizer();
    const g = await this.gradients(this.nextBatch());
    this.loraAdam.step(g.lora);
    if (this.quantAdam) {
      this.quantAdam.step(g.quant);
      for (const x of this.linears) {
        const s = x.quant!.s;
        for (let j = 0; j < s.length; j++) if (s[j]! < x.sFloor![j]!) s[j] = x.sFloor![j]!;
      }
    }
    const info: StepInfo = { step: this.t, phase: this.quantAdam ? 'joint' : 'warmup', loss: g.loss, predictions: g.predictions, ms: performance.now() - t0 };
    this.t++;
    return info;
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
      const p = packSigned({ rows: x.rows, cols: x.cols, bits: q.bits, groupSize: q.group, q: q.codes, step: q.scales, offset: this.learnsOffset(x) ? q.offsets : null });
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
    for (const d of this.dev) [d.w0, d.mask, d.A, d.B, ...d.adamA, ...d.adamB, d.s, d.b, d.sFloor, ...(d.adamS ?? []), ...(d.adamOff ?? [])].forEach(free);
  }
}

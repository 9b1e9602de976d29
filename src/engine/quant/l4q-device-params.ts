/**
 * L4Q's parameters on the device (l4q-params.ts): with QuantTrainOps (WebGPU on a hardware
 * adapter, see train.ts quantTrainOpsFor) A, B, s, b and both Adams' state are backend
 * tensors. A step runs merge → fake quantization → the trainer's forward/backward →
 * quantizer and LoRA gradients → Adam there, and only the loss comes back; the host arrays
 * of `linears` are copies, refreshed by syncHost (the trainer calls it before s, b are
 * initialised and after the last step). The GPU kernels sum in f32, so losses there differ
 * from the CPU reference's in late digits.
 */
import type { Tensor } from '../backend/backend';
import type { QuantTrainOps } from '../backend/quant-train-ops';
import type { TrainingBackend } from '../backend/training';
import { ADAM_DEFAULTS } from './adam';
import { defaultGradScale, type QuantGrid } from './l4q';
import { groupOf, initHostQuantizer, learnsOffset, type BatchGradients, type L4QForward, type L4QOptions, type L4QParams, type TrainableLinear } from './l4q-params';

/** A linear's trainable state as backend tensors. */
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

/** Gradients of one linear as backend tensors; ds, db null in warm-up. */
interface DeviceGrads {
  dA: Tensor;
  dB: Tensor;
  ds: Tensor | null;
  db: Tensor | null;
}

export class DeviceL4QParams implements L4QParams {
  readonly linears: TrainableLinear[];
  private readonly b: TrainingBackend;
  private readonly ops: QuantTrainOps;
  private readonly options: L4QOptions;
  private readonly grid: QuantGrid;
  /** Each linear's tensors, in `linears` order. */
  private readonly dev: DeviceLinear[] = [];
  /** Adam step counts of the LoRA and the quantizer optimizers. */
  private loraSteps = 0;
  private quantSteps = 0;
  private stale = false;
  private quantizerReady = false;

  constructor(b: TrainingBackend, ops: QuantTrainOps, linears: TrainableLinear[], options: L4QOptions, grid: QuantGrid) {
    this.b = b;
    this.ops = ops;
    this.linears = linears;
    this.options = options;
    this.grid = grid;
    const zeros = (shape: number[]): [Tensor, Tensor] => [b.upload(new Float32Array(shape[0]! * shape[1]!), shape), b.upload(new Float32Array(shape[0]! * shape[1]!), shape)];
    for (const x of linears) {
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

  get quantizing(): boolean {
    return this.quantizerReady;
  }

  get hostStale(): boolean {
    return this.stale;
  }

  /** s, b from the host copies (which must be current), then s, b, s's floor and fresh Adam state of s (and b where learned) as tensors. */
  initQuantizer(): void {
    initHostQuantizer(this.linears, this.options, this.grid);
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
      d.adamOff = learnsOffset(this.options, x) ? zeros(n) : null;
    });
    this.quantSteps = 0;
    this.quantizerReady = true;
  }

  /** Copies A, B (and s, b once they exist) back into the host arrays of `linears`. */
  async syncHost(): Promise<void> {
    if (!this.stale) return;
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
    this.stale = false;
  }

  /** The same gradients as the host path, read back (for tests and inspection; step does not). */
  async gradients(batch: Int32Array[], forward: L4QForward): Promise<BatchGradients> {
    const lora: Float32Array[] = [];
    const quant: Float64Array[] = [];
    const r = await this.run(batch, forward, async (i, g) => {
      const x = this.linears[i]!;
      lora.push(await this.b.read(g.dA), await this.b.read(g.dB));
      if (g.ds) quant.push(Float64Array.from(await this.b.read(g.ds)));
      if (g.db && learnsOffset(this.options, x)) quant.push(Float64Array.from(await this.b.read(g.db)));
    });
    return { ...r, lora, quant };
  }

  /** One step's gradients straight into the Adam kernels; nothing read but the loss. */
  async step(batch: Int32Array[], forward: L4QForward): Promise<{ loss: number; predictions: number }> {
    const ops = this.ops;
    const o = this.options;
    const quantizing = this.quantizing;
    const lora = { lr: o.lr, ...ADAM_DEFAULTS, t: this.loraSteps + 1 };
    const quant = { lr: o.lrQuant, ...ADAM_DEFAULTS, t: this.quantSteps + 1 };
    const r = await this.run(batch, forward, (i, g) => {
      const d = this.dev[i]!;
      ops.adamStep(d.A, g.dA, d.adamA[0], d.adamA[1], lora);
      ops.adamStep(d.B, g.dB, d.adamB[0], d.adamB[1], lora);
      if (g.ds && d.s && d.adamS) ops.adamStep(d.s, g.ds, d.adamS[0], d.adamS[1], quant, d.sFloor);
      if (g.db && d.b && d.adamOff) ops.adamStep(d.b, g.db, d.adamOff[0], d.adamOff[1], quant);
    });
    this.loraSteps++;
    if (quantizing) this.quantSteps++;
    this.stale = true;
    return r;
  }

  /**
   * Merge and fake-quantize every linear, run the batch's forward/backward, then hand each
   * linear's gradients (backend tensors, freed after `consume`) to `consume` in `linears`
   * order. Only the loss is read back.
   */
  private async run(batch: Int32Array[], forward: L4QForward, consume: (i: number, g: DeviceGrads) => Promise<void> | void): Promise<{ loss: number; predictions: number }> {
    const ops = this.ops;
    const b = this.b;
    const merged: Tensor[] = [];
    const quantized: Tensor[] = [];
    const weights: Tensor[] = [];
    let gammas: (Tensor | null)[] = [];
    let r: { loss: number; predictions: number };
    try {
      this.linears.forEach((x, i) => {
        const d = this.dev[i]!;
        const w = ops.loraMerge(d.w0, d.A, d.B, x.lora.scale, d.mask);
        merged.push(w);
        const eff = d.s && d.b ? ops.fakeQuant(w, d.s, d.b, this.grid, groupOf(this.options, x.cols), d.mask) : w;
        if (eff !== w) quantized.push(eff);
        weights.push(eff);
      });
      const f = await forward(batch, weights);
      gammas = f.gammas;
      r = { loss: f.loss, predictions: f.predictions };
      for (const t of quantized.splice(0)) b.dispose(t);
      for (let i = 0; i < this.linears.length; i++) {
        const x = this.linears[i]!;
        const d = this.dev[i]!;
        const gamma = gammas[i]!;
        gammas[i] = null;
        let dW = gamma;
        let ds: Tensor | null = null;
        let db: Tensor | null = null;
        if (d.s && d.b) {
          const g = this.options.gradScale ?? defaultGradScale(groupOf(this.options, x.cols), this.grid);
          const q = ops.fakeQuantGrad(merged[i]!, gamma, d.s, d.b, this.grid, groupOf(this.options, x.cols), g, d.mask);
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
      for (const t of gammas) if (t) b.dispose(t);
    }
    return r;
  }

  dispose(): void {
    const b = this.b;
    for (const d of this.dev) for (const t of [d.w0, d.mask, d.A, d.B, ...d.adamA, ...d.adamB, d.s, d.b, d.sFloor, ...(d.adamS ?? []), ...(d.adamOff ?? [])]) if (t) b.dispose(t);
  }
}

/**
 * L4Q's parameters on the host (the CPU reference path, l4q-params.ts): the arrays of
 * `linears` (lora.ts, l4q.ts) are the parameters and adam.ts steps them. A step uploads each
 * linear's effective weight, the trainer's forward/backward returns Γ, and the quantizer's
 * backward (fakeQuantizeGrad, float64 sums) and LoRA's gradients run here in a fixed order.
 */
import type { Tensor } from '../backend/backend';
import type { TrainingBackend } from '../backend/training';
import { Adam } from './adam';
import { defaultGradScale, fakeQuantize, fakeQuantizeGrad, type QuantGrid } from './l4q';
import { applyMask, groupOf, initHostQuantizer, learnsOffset, type BatchGradients, type L4QForward, type L4QOptions, type L4QParams, type TrainableLinear } from './l4q-params';
import { loraGrads, mergeLora } from './lora';

/** A linear's weights for the forward: W' = M ⊙ (W0 + (α/r)·B·A), and M ⊙ Q(W') once s, b exist (else W' itself). */
export type EffectiveWeight = (x: TrainableLinear) => { merged: Float32Array; eff: Float32Array };

/** The weight the forward uses: M ⊙ W' in warm-up, M ⊙ Q(W') after. */
export function effectiveWeight(x: TrainableLinear, grid: QuantGrid): { merged: Float32Array; eff: Float32Array } {
  const merged = applyMask(mergeLora(x.w0, x.lora), x.mask);
  const eff = x.quant ? fakeQuantize(merged, x.quant, grid, x.mask) : merged;
  return { merged, eff };
}

export class HostL4QParams implements L4QParams {
  readonly linears: TrainableLinear[];
  readonly hostStale = false;
  private readonly b: TrainingBackend;
  private readonly options: L4QOptions;
  private readonly grid: QuantGrid;
  private readonly effective: EffectiveWeight;
  private readonly loraAdam: Adam;
  private quantAdam: Adam | null = null;

  /** `effective`: the forward's weight of a linear (the trainer's, which the gradient test replaces by the STE surrogate). */
  constructor(b: TrainingBackend, linears: TrainableLinear[], options: L4QOptions, grid: QuantGrid, effective: EffectiveWeight) {
    this.b = b;
    this.linears = linears;
    this.options = options;
    this.grid = grid;
    this.effective = effective;
    this.loraAdam = new Adam(linears.flatMap((x) => [x.lora.A, x.lora.B]), { lr: options.lr });
  }

  get quantizing(): boolean {
    return this.quantAdam !== null;
  }

  initQuantizer(): void {
    const o = this.options;
    initHostQuantizer(this.linears, o, this.grid);
    const params = this.linears.flatMap((x) => (learnsOffset(o, x) ? [x.quant!.s, x.quant!.b] : [x.quant!.s]));
    this.quantAdam = new Adam(params, { lr: o.lrQuant });
  }

  async gradients(batch: Int32Array[], forward: L4QForward): Promise<BatchGradients> {
    const o = this.options;
    const b = this.b;
    const merged: Float32Array[] = [];
    const uploaded: Tensor[] = [];
    let r: Awaited<ReturnType<L4QForward>>;
    try {
      for (const x of this.linears) {
        const e = this.effective(x);
        merged.push(e.merged);
        uploaded.push(b.upload(e.eff, [x.rows, x.cols]));
      }
      r = await forward(batch, uploaded);
    } finally {
      for (const t of uploaded) b.dispose(t);
    }
    const lora: Float32Array[] = [];
    const quant: Float64Array[] = [];
    for (let i = 0; i < this.linears.length; i++) {
      const x = this.linears[i]!;
      const gT = r.gammas[i]!;
      let gamma = await b.read(gT);
      b.dispose(gT);
      if (x.quant) {
        const g = o.gradScale ?? defaultGradScale(groupOf(o, x.cols), this.grid);
        const q = fakeQuantizeGrad(merged[i]!, gamma, x.quant, this.grid, g, x.mask);
        gamma = q.dW;
        quant.push(q.ds);
        if (learnsOffset(o, x)) quant.push(q.db);
      } else {
        applyMask(gamma, x.mask);
      }
      const lg = loraGrads(gamma, x.lora);
      lora.push(lg.dA, lg.dB);
    }
    return { loss: r.loss, predictions: r.predictions, lora, quant };
  }

  async step(batch: Int32Array[], forward: L4QForward): Promise<{ loss: number; predictions: number }> {
    const g = await this.gradients(batch, forward);
    this.loraAdam.step(g.lora);
    if (this.quantAdam) {
      this.quantAdam.step(g.quant);
      for (const x of this.linears) {
        const s = x.quant!.s;
        for (let j = 0; j < s.length; j++) if (s[j]! < x.sFloor![j]!) s[j] = x.sFloor![j]!;
      }
    }
    return { loss: g.loss, predictions: g.predictions };
  }

  async syncHost(): Promise<void> {}

  dispose(): void {}
}

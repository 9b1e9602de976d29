/**
 * The `quantTrain` capability of a Backend (backend.ts): the parameter side of an L4Q
 * training step (LoRA merge, fake quantization, their gradients, Adam) as operations on
 * backend tensors, so a backend that keeps tensors on the GPU can run a whole step there
 * and only the loss comes back to the host. The model's forward and backward
 * (quant/train-model.ts) sit between `fakeQuant` and `fakeQuantGrad`.
 *
 * Shapes: W0, W', Ŵ, Γ [rows, cols]; A [r, cols]; B [rows, r]; s, b [rows·⌈cols/G⌉] with
 * group index row·⌈cols/G⌉ + ⌊col/G⌋ (quant/l4q.ts GroupQuant); masks are [rows, cols] tensors
 * of 1 (kept) and 0 (pruned). Outputs are new tensors owned by the caller (dispose them),
 * except `adamStep`, which updates its tensors in place.
 *
 * The math is that of quant/l4q.ts (fakeQuantize, fakeQuantizeGrad), lora.ts (mergeLora,
 * loraGrads) and adam.ts; the CPU implementation (quant/quant-train-ops-cpu.ts) calls
 * exactly those functions, the WebGPU one (webgpu/quant-train-ops.ts) is tested against it.
 */
import { StudioError } from '../errors';
import type { Tensor } from './types';

/** An n-bit signed grid: codes Qn … Qp (quant/l4q.ts quantGrid). */
export interface QuantGrid {
  bits: number;
  qn: number;
  qp: number;
}

/** Groups of `group` consecutive columns in a row of `cols` (the last may be short). */
export function groupsPerRow(cols: number, group: number): number {
  if (!Number.isInteger(group) || group < 1) throw new StudioError('input', `group size ${group} must be a positive integer`);
  return Math.ceil(cols / group);
}

export interface FakeQuantGradTensors {
  /** ∂L/∂W' = β ⊙ M ⊙ Γ. */
  dW: Tensor;
  /** ∂L/∂s and ∂L/∂b per group, multiplied by the gradient scale g. */
  ds: Tensor;
  db: Tensor;
}

export interface LoraGradTensors {
  dA: Tensor;
  dB: Tensor;
}

export interface AdamStepOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** The step number, from 1 (bias correction 1 − β^t). */
  t: number;
}

export interface QuantTrainOps {
  /** W' = M ⊙ (W0 + c·B·A). */
  loraMerge(w0: Tensor, a: Tensor, b: Tensor, scale: number, mask: Tensor | null): Tensor;
  /** Ŵ = M ⊙ (s·round(clamp((W' − b)/s, Qn, Qp)) + b), `group` columns per (s, b). */
  fakeQuant(w: Tensor, s: Tensor, b: Tensor, grid: QuantGrid, group: number, mask: Tensor | null): Tensor;
  /** The STE / LSQ / LSQ+ backward of fakeQuant for Γ = ∂L/∂Ŵ (l4q.ts fakeQuantizeGrad). */
  fakeQuantGrad(w: Tensor, gamma: Tensor, s: Tensor, b: Tensor, grid: QuantGrid, group: number, gradScale: number, mask: Tensor | null): FakeQuantGradTensors;
  /** With Γ' = M ⊙ dW (mask optional): ∂L/∂A = c·Bᵀ·Γ', ∂L/∂B = c·Γ'·Aᵀ. */
  loraGrads(dW: Tensor, a: Tensor, b: Tensor, scale: number, mask: Tensor | null): LoraGradTensors;
  /**
   * One Adam update of `param` in place (state m, v in place too); with `floor`,
   * param ← max(param, floor) afterwards (L4Q's lower bound on the steps s).
   */
  adamStep(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, o: AdamStepOptions, floor?: Tensor | null): void;
}

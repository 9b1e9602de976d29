/**
 * L4Q's parameter side behind one interface (docs/methods/l4q.md#training-schedule):
 * LoRA A, B on every decoder linear, from the end of warm-up the quantizer's s, b, and the
 * optimizer state of both. The trainer (train.ts) keeps the schedule — batches, warm-up,
 * the step loop, the merge — and drives one of two implementations:
 *
 *   HostL4QParams (l4q-host-params.ts)     the host arrays of `linears` are the parameters;
 *                                          the CPU reference's float64-summing gradients, host Adam.
 *   DeviceL4QParams (l4q-device-params.ts) A, B, s, b and both Adams' state as backend tensors,
 *                                          stepped with QuantTrainOps; the host arrays are
 *                                          copies refreshed by syncHost.
 *
 * Both see the model through an L4QForward: the trainer's forward/backward over its frozen
 * tensors, given each linear's effective weight.
 */
import type { Tensor } from '../backend/backend';
import { LINEAR_NAMES, type HostTensor, type LinearName, type ModelWeights } from '../model/weights';
import { groupWidth } from '../rules';
import { initGroupQuant, type GroupQuant, type QuantGrid, type QuantInit } from './l4q';
import { createLora, mergeLora, type LoraAdapter } from './lora';

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

export interface BatchGradients {
  /** Mean NLL over the batch's predictions. */
  loss: number;
  predictions: number;
  /** dA, dB per linear, in `linears` order. */
  lora: Float32Array[];
  /** ds (and db where b is learned) per linear, already multiplied by g; empty in warm-up. */
  quant: Float64Array[];
}

/**
 * The trainer's forward/backward of one batch with `weights[i]` as linear i's weight (in
 * `linears` order; the caller keeps them): the mean NLL and Γ = ∂L/∂W of every linear, in
 * the same order, summed over the batch and owned by the caller from then on.
 */
export type L4QForward = (batch: Int32Array[], weights: Tensor[]) => Promise<{ loss: number; predictions: number; gammas: Tensor[] }>;

/** What the schedule needs of a parameter set. */
export interface L4QParams {
  /** Every decoder linear with its host copies of A, B (and s, b once they exist); current unless `hostStale`. */
  readonly linears: TrainableLinear[];
  /** true once s, b exist (the joint phase). */
  readonly quantizing: boolean;
  /** true while the host copies lag the parameters (device); refresh with syncHost. */
  readonly hostStale: boolean;
  /** s, b from the current merged weights (host copies, which must be current) and a fresh optimizer for them. */
  initQuantizer(): void;
  /** Loss and gradients of one batch at the current parameters, read back to the host (no update). */
  gradients(batch: Int32Array[], forward: L4QForward): Promise<BatchGradients>;
  /** One optimizer step on the batch: gradients, Adam for A, B (and s, b with s's floor). */
  step(batch: Int32Array[], forward: L4QForward): Promise<{ loss: number; predictions: number }>;
  /** Copies the parameters into the host arrays of `linears` (a no-op when they are current). */
  syncHost(): Promise<void>;
  /** Frees the parameter set's backend tensors. */
  dispose(): void;
}

/** Columns per group of a linear: G, or the whole row when G ≥ in or per channel (rules.ts groupWidth, as RTN). */
export function groupOf(o: L4QOptions, cols: number): number {
  return groupWidth(o.group === 0 ? null : o.group, cols);
}

/**
 * b is learned unless symmetric, or the linear is pruned: with b ≡ 0 code 0 is exactly 0,
 * so pruned weights dequantize to exactly 0 in the packed MatMulNBits layout too (a
 * non-integer zero point z = −Qn − b/s could not represent 0).
 */
export function learnsOffset(o: L4QOptions, x: TrainableLinear): boolean {
  return !o.symmetric && !x.mask;
}

/** Pruned weights are the exact zeros of W0; they stay zero through training and the merge. */
function maskOf(w: Float32Array): Uint8Array | null {
  if (!w.includes(0)) return null;
  return Uint8Array.from(w, (x) => (x === 0 ? 0 : 1));
}

export function applyMask(w: Float32Array, m: Uint8Array | null): Float32Array {
  if (m) for (let i = 0; i < w.length; i++) if (!m[i]) w[i] = 0;
  return w;
}

/**
 * Every non-empty decoder linear with its seeded LoRA (A from the seed, B = 0) and its mask
 * (`keepZeros`: exact zeros of W0 are pruned weights), in layer then LINEAR_NAMES order.
 */
export function trainableLinears(weights: ModelWeights<HostTensor>, o: L4QOptions, keepZeros: boolean): TrainableLinear[] {
  const out: TrainableLinear[] = [];
  let k = 0;
  weights.layers.forEach((l, li) => {
    for (const name of LINEAR_NAMES) {
      const w = l[name];
      const [rows, cols] = [w.shape[0]!, w.shape[1]!];
      if (rows === 0 || cols === 0) continue;
      const lora = createLora(rows, cols, o.rank, o.alpha, (o.seed * 1000003 + 7919 * ++k) >>> 0);
      out.push({ layer: li, name, rows, cols, w0: w.data, mask: keepZeros ? maskOf(w.data) : null, lora, quant: null, sFloor: null });
    }
  });
  return out;
}

/** s, b (and s's floor) of every linear from its current host merged weight (QuantInit; min-max falls back to L4Q_init where b is not learned). */
export function initHostQuantizer(linears: TrainableLinear[], o: L4QOptions, grid: QuantGrid): void {
  for (const x of linears) {
    const w = mergeLora(x.w0, x.lora);
    const init = o.init === 'minmax' && !learnsOffset(o, x) ? 'l4q' : o.init;
    x.quant = initGroupQuant(w, x.rows, x.cols, groupOf(o, x.cols), grid, init, x.mask);
    x.sFloor = x.quant.s.map((s) => s * 1e-3);
  }
}

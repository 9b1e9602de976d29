/**
 * The operations the forward pass needs, and the optional capabilities a backend may add.
 * A backend owns its tensors (host arrays for the CPU reference, GPU buffers for WebGPU);
 * the model code only passes handles around, so data stays where the backend keeps it
 * until `read`.
 *
 * Conventions: activations are row-major [tokens, features]; a linear weight is
 * [out, in] as in PyTorch, and `matmul(x, w)` computes x · wᵀ.
 *
 * Capabilities (BackendCapabilities) are asked for in one way, `capability(backend, name)`,
 * which returns the backend's implementation or null:
 *   grad          GradOps (grad-ops.ts): the training backward; the backend object itself
 *                 (CpuTrainingBackend, WebGPU), null on the plain CPU and wasm backends;
 *   prune         PruneOps (prune-ops.ts): pruning scores, selections, column sums; the
 *                 host reference on CPU and wasm (cpu/prune-ops.ts), kernels on WebGPU;
 *   channelStats  a per-channel statistics kernel for calibration; WebGPU only (the host
 *                 sums of calibrate.ts are the reference everywhere else);
 *   quantTrain    QuantTrainOps (quant-train-ops.ts): L4Q's parameter side on the device;
 *                 WebGPU on a hardware adapter only (the backend decides: on software
 *                 adapters the host path is faster), null elsewhere (the trainer's host path).
 */
import type { GradOps } from './grad-ops';
import type { PackedLinear } from './packed-linear';
import type { PruneOps } from './prune-ops';
import type { QuantTrainOps } from './quant-train-ops';
import type { AttentionShape, BackendInfo, QuantizedTensor, Tensor } from './types';

export { attentionRows, isQuantizedTensor, shapeStr, type AttentionShape, type BackendInfo, type QuantizedTensor, type Tensor } from './types';

/**
 * Calibration statistics per input channel of x [T, C]: a [3, C] tensor of Σx, Σx² and
 * the token count (float32). With `into`, adds to that tensor in place and returns it.
 */
export interface ChannelStatsKernel {
  channelStats(x: Tensor, into?: Tensor): Tensor;
}

/** The optional capabilities, by name (see the header). */
export interface BackendCapabilities {
  grad: GradOps;
  prune: PruneOps;
  channelStats: ChannelStatsKernel;
  quantTrain: QuantTrainOps;
}

export type CapabilityName = keyof BackendCapabilities;

export interface Backend {
  readonly info: BackendInfo;

  upload(data: Float32Array, shape: readonly number[]): Tensor;
  /**
   * Uploads a model weight (a matrix used by matmul/embedding, or a norm/bias vector). A
   * backend may store it more compactly (WebGPU: f16 where its policy allows); results are
   * computed in f32 either way. Backends without a special path leave it out.
   */
  uploadWeight?(data: Float32Array, shape: readonly number[]): Tensor;
  uploadIds(ids: Int32Array): Tensor;
  read(t: Tensor): Promise<Float32Array>;
  /** Frees the tensor's storage. Using it afterwards is a bug. */
  dispose(t: Tensor): void;

  /** out[t, :] = table[ids[t], :] */
  embedding(table: Tensor, ids: Tensor): Tensor;
  /** out = x / sqrt(mean(x²) + eps) ⊙ weight, per row */
  rmsnorm(x: Tensor, weight: Tensor, eps: number): Tensor;
  /** out = x · wᵀ (+ bias) for x [T, in], w [out, in] */
  matmul(x: Tensor, w: Tensor, bias?: Tensor | null): Tensor;
  /** Keeps a packed integer linear (quant/pack.ts) as it is: codes, scales, zero points. */
  uploadQuantized(p: PackedLinear): QuantizedTensor;
  /** out = x · Ŵᵀ (+ bias) with Ŵ = (u − z)·scale dequantized on the fly from the packed weight. */
  matmulQuantized(x: Tensor, w: Tensor, bias?: Tensor | null): Tensor;
  /**
   * Rotary embedding, Hugging Face "rotate_half" layout, per head of size d:
   * out[i] = x[i]·cos[t,i] − x[i+d/2]·sin[t,i], out[i+d/2] = x[i+d/2]·cos[t,i] + x[i]·sin[t,i]
   * for i < d/2. cos/sin are [T, d/2].
   */
  rope(x: Tensor, cos: Tensor, sin: Tensor, numHeads: number, headDim: number): Tensor;
  /**
   * Causal grouped-query attention: query head h reads key/value head ⌊h·kv/heads⌋;
   * softmax(q·kᵀ/√d + causal mask) · v. q [T, heads·d], k/v [T, kv·d] → [T, heads·d].
   */
  attention(q: Tensor, k: Tensor, v: Tensor, shape: AttentionShape): Tensor;
  /**
   * Attention against a key/value cache (generation): q [T, heads·d] holds the queries of
   * positions offset … offset+T−1; kCache/vCache [capacity, kv·d] hold keys/values of
   * positions 0 … offset+T−1 in their first rows (later rows are not read). Query i sees
   * keys j ≤ offset + i. With offset 0 and capacity T it equals `attention`.
   */
  attentionCached(q: Tensor, kCache: Tensor, vCache: Tensor, shape: AttentionShape, offset: number): Tensor;
  /** Copies src [n, C] into rows row … row+n−1 of dst [R, C], in place (fills a KV cache). */
  writeRows(dst: Tensor, src: Tensor, row: number): void;
  /** out = silu(gate) ⊙ up */
  swiglu(gate: Tensor, up: Tensor): Tensor;
  /** out = a + b (same shape) */
  add(a: Tensor, b: Tensor): Tensor;
  /** Per-row negative log-likelihood: nll[t] = logsumexp(logits[t]) − logits[t, target[t]]. */
  nll(logits: Tensor, targets: Tensor): Tensor;

  /** The backend's implementation of an optional capability, or null (ask with `capability`). */
  capability?<K extends CapabilityName>(name: K): BackendCapabilities[K] | null;

  destroy(): void;
}

/** The backend's implementation of capability `name`, or null when it has none. */
export function capability<K extends CapabilityName>(b: Backend, name: K): BackendCapabilities[K] | null {
  return b.capability?.(name) ?? null;
}

/** A backend's `capability` from a table of lazy getters (one per capability it has). */
export function capabilityFrom<K extends CapabilityName>(table: { [C in CapabilityName]?: () => BackendCapabilities[C] | null }, name: K): BackendCapabilities[K] | null {
  const get = table[name] as (() => BackendCapabilities[K] | null) | undefined;
  return get ? get() : null;
}

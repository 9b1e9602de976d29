/**
 * The operations the forward pass needs. A backend owns its tensors (host arrays for the
 * CPU reference, GPU buffers for WebGPU); the model code only passes handles around, so
 * data stays where the backend keeps it until `read`.
 *
 * Conventions: activations are row-major [tokens, features]; a linear weight is
 * [out, in] as in PyTorch, and `matmul(x, w)` computes x · wᵀ.
 */
import type { PackedLinear } from '../quant/pack';

export interface Tensor {
  readonly shape: readonly number[];
}

/** A packed integer linear weight made by `uploadQuantized` (shape [out, in]). */
export interface QuantizedTensor extends Tensor {
  readonly quantized: true;
}

export function isQuantizedTensor(t: Tensor): t is QuantizedTensor {
  return (t as { quantized?: unknown }).quantized === true;
}

export interface AttentionShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}

/** A tensor shape as error messages write it: "[2, 3]". */
export function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

/**
 * The query rows T of an attention op whose q holds `qValues` values (T = qValues / (heads ·
 * head size), not necessarily a whole number: the caller checks it with its other shapes);
 * throws, naming `op`, when the query heads cannot be grouped over the key/value heads.
 */
export function attentionRows(op: string, qValues: number, s: AttentionShape): number {
  if (s.numKvHeads <= 0 || s.numHeads % s.numKvHeads !== 0) throw new Error(`${op}: ${s.numHeads} query heads cannot be grouped over ${s.numKvHeads} key/value heads`);
  return qValues / (s.numHeads * s.headDim);
}

export interface BackendInfo {
  name: 'cpu' | 'webgpu' | 'wasm';
  /** Human-readable device description (adapter name, "JavaScript (float64 accumulation)", "CPU (WebAssembly SIMD, f32, 1 thread)"). */
  device: string;
}

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

  destroy(): void;
}

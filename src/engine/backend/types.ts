/**
 * The handles and shapes the Backend interface (backend.ts) and its capabilities pass
 * around; kept apart so the capability interfaces (grad-ops.ts, prune-ops.ts,
 * quant-train-ops.ts) and backend.ts can all import them without a cycle.
 */
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

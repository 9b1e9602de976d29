/**
 * Packed linears inside a model's host weights, and the model's real size.
 *
 * A quantized decoder linear is a HostTensor carrying `packed` (see model/weights.ts): the
 * forward pass (model/llama.ts uploadWeight, linear) uploads the packed bytes
 * (Backend.uploadQuantized; the GPU never holds a dequantized copy) and multiplies with
 * Backend.matmulQuantized. Its `data` is the
 * dequantized weight (u − z)·scale, kept on the host so that code reading float weights
 * (pruning statistics, histograms, the L4Q warm start) sees exactly what the integer model
 * computes. Sizes always count the packed bytes.
 */
import { LINEAR_NAMES, type HostTensor, type LinearName, type ModelWeights } from '../model/weights';
import { dequantize, packedBytes, type PackedLinear } from './pack';

export type QuantizedHostTensor = HostTensor & { packed: PackedLinear };

/** The host tensor of a packed linear: shape [rows, cols], dequantized data, the packing. */
export function quantizedHostTensor(p: PackedLinear): QuantizedHostTensor {
  return { shape: [p.rows, p.cols], data: dequantize(p), packed: p };
}

export function isQuantizedHost(t: HostTensor | null | undefined): t is QuantizedHostTensor {
  return !!t && t.packed !== undefined;
}

export interface ModelSize {
  /** Bytes of every weight as held: float32 tensors at 4 bytes per value, packed linears at their packed bytes. */
  bytes: number;
  /** Decoder linear weights that are packed, and their bytes (codes + scales + zero points). */
  quantizedWeights: number;
  quantizedBytes: number;
  /** Everything else (embeddings, norms, head, biases, float linears) in float32. */
  floatBytes: number;
  /** 8 · quantizedBytes / quantizedWeights (0 when nothing is packed): bits per weight including scales and zero points. */
  effectiveBits: number;
}

/** The real size of a model's weights (a tied head counted once). */
export function modelSize(w: ModelWeights<HostTensor>): ModelSize {
  const seen = new Set<HostTensor>();
  let floatBytes = 0;
  let quantizedBytes = 0;
  let quantizedWeights = 0;
  const visit = (t: HostTensor | null) => {
    if (!t || seen.has(t)) return;
    seen.add(t);
    if (t.packed) {
      quantizedBytes += packedBytes(t.packed);
      quantizedWeights += t.packed.rows * t.packed.cols;
    } else {
      floatBytes += t.data.length * 4;
    }
  };
  visit(w.embed);
  for (const l of w.layers) {
    visit(l.inputNorm);
    visit(l.postNorm);
    for (const n of LINEAR_NAMES) visit(l[n]);
    for (const t of [l.qBias, l.kBias, l.vBias, l.oBias, l.downBias]) visit(t);
  }
  visit(w.norm);
  visit(w.lmHead);
  return { bytes: floatBytes + quantizedBytes, quantizedWeights, quantizedBytes, floatBytes, effectiveBits: quantizedWeights ? (8 * quantizedBytes) / quantizedWeights : 0 };
}

/**
 * A copy of the weights with every decoder linear (q, k, v, o, gate, up, down) replaced by
 * `quantize`'s packed version; embeddings, norms, biases and the head stay float32.
 * Empty matrices (a layer with no heads or MLP channels left by FLAP) stay as they are.
 */
export function quantizeLinears(w: ModelWeights<HostTensor>, quantize: (t: HostTensor, layer: number, name: LinearName) => PackedLinear): ModelWeights<HostTensor> {
  return {
    ...w,
    layers: w.layers.map((l, i) => {
      const out = { ...l };
      for (const n of LINEAR_NAMES) {
        const t = l[n];
        if (t.data.length > 0) out[n] = quantizedHostTensor(quantize(t, i, n));
      }
      return out;
    }),
  };
}

/**
 * The Llama causal LM as an ONNX graph (opset 17, plus com.microsoft MatMulNBits for 4/8-bit
 * layers), with the inputs and outputs transformers.js feeds decoder-only models:
 *
 *   inputs   input_ids [batch, seq] int64, attention_mask [batch, past+seq] int64,
 *            position_ids [batch, seq] int64,
 *            past_key_values.{i}.key / .value [batch, kv_i, past, head_dim] float32
 *   outputs  logits [batch, seq, vocab] float32,
 *            present.{i}.key / .value [batch, kv_i, past+seq, head_dim] float32
 *
 * kv_i is layer i's own key/value head count (a fixed dimension), so FLAP checkpoints with
 * different heads per layer — including 0 — export as they are; transformers.js reads these
 * dimensions from the session to build its empty cache. Keys are cached after RoPE, as in
 * transformers. The hidden state runs as [batch·seq, hidden] so every linear is one Gemm
 * (weight kept in Hugging Face [out, in] order, transB = 1) or one MatMulNBits.
 *
 *   x̂ = x · w / sqrt(mean(x²) + eps)                                  (RMSNorm)
 *   rope(t) = t·cos + rotate_half(t)·sin,  rotate_half([a, b]) = [−b, a]
 *     cos/sin = tables[position_ids] (the engine's own f64-computed tables, llama3 scaling incl.)
 *   attn = softmax(where(allowed, q·kᵀ/sqrt(d), −3.4e38)) · v,
 *     allowed[b, i, j] = j ≤ past + i  and  attention_mask[b, j] = 1
 *     query head h reads key/value head map[h] (standard ⌊h·kv/heads⌋ or FLAP's map)
 *   mlp = (silu(x·Wgᵀ) ⊙ x·Wuᵀ)·Wdᵀ (+ bd);  logits = norm(h)·Wlmᵀ
 */
import type { ModelConfig } from '../../model/config';
import { ropeTables } from '../../model/rope';
import { countWeightParameters, type HostTensor, type LayerWeights, type ModelWeights } from '../../model/weights';
import { StudioError } from '../../errors';
import { packLinear, unpackCodes, zeroPoints, type PackedLinear } from '../../quant/pack';
import { GraphBuilder } from './graph-builder';
import { DataType } from './proto';

export interface LlamaGraphOptions {
  dtype: 'f32' | 'f16';
}

/** What the graph wrote for each quantized linear (MatMulNBits, or float where it cannot). */
export interface QuantizedExportNote {
  name: string;
  as: 'MatMulNBits' | 'float';
  blockSize: number;
  reason?: string;
}

/** Largest negative f32: masked scores softmax to exactly 0 and never to NaN. */
const MASKED = -3.4028234663852886e38;

/** Position tables may always take this much, and more only up to the weights' own size. */
export const ROPE_TABLES_FLOOR_BYTES = 16 * 1024 * 1024;

/**
 * The graph stores cos/sin for every position up to max_position_embeddings. A config
 * that claims a context far beyond what its model is (10^7 positions on a 1 MB model made
 * a 307 MB export) is refused instead of exported mostly as tables.
 */
export function checkRopeTables(cfg: ModelConfig, w: ModelWeights<HostTensor>): void {
  const tableBytes = 2 * cfg.maxPositionEmbeddings * (cfg.headDim / 2) * 4;
  const weightBytes = countWeightParameters(w) * 4;
  if (tableBytes <= Math.max(ROPE_TABLES_FLOOR_BYTES, weightBytes)) return;
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  throw new StudioError(
    'config',
    `config.json: max_position_embeddings ${cfg.maxPositionEmbeddings} would make the ONNX export's position tables ${mib(tableBytes)}, more than the model's ${mib(weightBytes)} of weights; lower max_position_embeddings to the context the model was trained for`,
  );
}

export function buildLlamaGraph(cfg: ModelConfig, w: ModelWeights<HostTensor>, opts: LlamaGraphOptions): { graph: GraphBuilder; quantized: QuantizedExportNote[] } {
  checkRopeTables(cfg, w);
  const g = new GraphBuilder();
  const notes: QuantizedExportNote[] = [];
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const half = hd / 2;
  const F = DataType.FLOAT;

  const ids = g.input('input_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', DataType.INT64, ['batch_size', 'total_sequence_length']);
  const pos = g.input('position_ids', DataType.INT64, ['batch_size', 'sequence_length']);
  // A layer without heads declares its head count symbolically: onnxruntime-web reports a
  // fixed 0 dimension as 2^32−1 in inputMetadata, while transformers.js resolves unknown
  // symbols to 0, which is right.
  const kvDim = (l: LayerWeights<HostTensor>, i: number) => (l.numKvHeads > 0 ? l.numKvHeads : `num_key_value_heads_${i}`);
  const pastNames = w.layers.map((l, i) => {
    const key = g.input(`past_key_values.${i}.key`, F, ['batch_size', kvDim(l, i), 'past_sequence_length', hd]);
    const value = g.input(`past_key_values.${i}.value`, F, ['batch_size', kvDim(l, i), 'past_sequence_length', hd]);
    return { key, value };
  });

  // Shapes: bs = [batch, seq]; seqLen/totalLen as [1] tensors and scalars.
  const bs = g.op('Shape', [ids], {}, 'batch_seq');
  const batch1 = g.op('Shape', [ids], { start: 0, end: 1 }, 'batch');
  const seq1 = g.op('Shape', [ids], { start: 1, end: 2 }, 'seq');
  const total1 = g.op('Shape', [mask], { start: 1, end: 2 }, 'total');
  const past1 = g.op('Sub', [total1, seq1], {}, 'past');
  const zero = g.int64([0], []);
  const one = g.int64([1], []);
  const totalS = g.op('Squeeze', [total1, g.int64([0])]);
  const pastS = g.op('Squeeze', [past1, g.int64([0])]);

  // allowed [batch, 1, seq, total]: causal over absolute positions and not padding.
  const keyIdx = g.op('Range', [zero, totalS, one], {}, 'key_idx');
  const queryIdx = g.op('Range', [pastS, totalS, one], {}, 'query_idx');
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [keyIdx, g.int64([0])]), g.op('Unsqueeze', [queryIdx, g.int64([1])])], {}, 'causal');
  const notPad = g.op('Unsqueeze', [g.op('Cast', [mask], { to: DataType.BOOL }), g.int64([1, 2])], {}, 'not_pad');
  const allowed = g.op('And', [causal, notPad], {}, 'allowed');
  const masked = g.float([MASKED], []);

  // RoPE tables gathered by position: [batch, 1, seq, head_dim].
  const maxPos = cfg.maxPositionEmbeddings;
  const tables = ropeTables(cfg, 0, maxPos);
  const ropeOf = (name: string, table: Float32Array) => {
    const t = g.initializer(`rope_${name}_table`, F, [maxPos, half], new Uint8Array(table.buffer, table.byteOffset, table.byteLength));
    const gathered = g.op('Gather', [t, pos], { axis: 0 }, `rope_${name}`);
    return g.op('Unsqueeze', [g.op('Concat', [gathered, gathered], { axis: -1 }), g.int64([1])]);
  };
  const cos = ropeOf('cos', tables.cos);
  const sin = ropeOf('sin', tables.sin);
  const halves = g.int64([half, half]);
  const rope = (t: string): string => {
    const [a, b] = g.node('Split', [t, halves], { axis: -1 }, { outputs: 2, name: 'rope_split' }) as [string, string];
    const rotated = g.op('Concat', [g.op('Neg', [b]), a], { axis: -1 });
    return g.op('Add', [g.op('Mul', [t, cos]), g.op('Mul', [rotated, sin])], {}, 'rope');
  };

  const eps = g.float([cfg.rmsNormEps], []);
  const rmsnorm = (x: string, weight: HostTensor, name: string): string => {
    const ms = g.op('ReduceMean', [g.op('Mul', [x, x])], { axes: [-1], keepdims: 1 });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ms, eps])])]);
    return g.op('Mul', [g.op('Mul', [x, inv]), g.weight(`${name}.weight`, weight.data, weight.shape, opts.dtype)], {}, name);
  };

  const linear = (x: string, weight: HostTensor, bias: HostTensor | null, name: string): string => {
    const b = bias ? g.weight(`${name}.bias`, bias.data, bias.shape, opts.dtype) : null;
    if (weight.packed) {
      const nbits = matMulNBitsLayout(weight.packed);
      if (typeof nbits === 'string') {
        // Not expressible as MatMulNBits: the dequantized weight (exactly what the engine computes).
        notes.push({ name, as: 'float', blockSize: weight.packed.blockSize, reason: nbits });
      } else {
        notes.push({ name, as: 'MatMulNBits', blockSize: nbits.blockSize });
        return nbitsLinear(g, x, nbits, b, name);
      }
    }
    return g.op('Gemm', [x, g.weight(`${name}.weight`, weight.data, weight.shape, opts.dtype), ...(b ? [b] : [])], { transB: 1 }, name);
  };

  // [batch·seq, hidden]
  const embed = g.weight('model.embed_tokens.weight', w.embed.data, w.embed.shape, opts.dtype);
  let h = g.op('Reshape', [g.op('Gather', [embed, ids], { axis: 0 }), g.int64([-1, H])], {}, 'embeddings');

  w.layers.forEach((l, i) => {
    const p = `model.layers.${i}`;
    const { key: pastK, value: pastV } = pastNames[i]!;
    let presentK: string;
    let presentV: string;
    if (l.numHeads > 0) {
      const x = rmsnorm(h, l.inputNorm, `${p}.input_layernorm`);
      const heads = (t: string, n: number) =>
        g.op('Transpose', [g.op('Reshape', [t, g.op('Concat', [bs, g.int64([n, hd])], { axis: 0 })])], { perm: [0, 2, 1, 3] });
      const qh = rope(heads(linear(x, l.q, l.qBias, `${p}.self_attn.q_proj`), l.numHeads));
      const kh = rope(heads(linear(x, l.k, l.kBias, `${p}.self_attn.k_proj`), l.numKvHeads));
      const vh = heads(linear(x, l.v, l.vBias, `${p}.self_attn.v_proj`), l.numKvHeads);
      presentK = g.op('Concat', [pastK, kh], { axis: 2 }, `present_${i}_key`);
      presentV = g.op('Concat', [pastV, vh], { axis: 2 }, `present_${i}_value`);
      const map = kvMap(l);
      const kAll = map ? g.op('Gather', [presentK, g.int64(map)], { axis: 1 }) : presentK;
      const vAll = map ? g.op('Gather', [presentV, g.int64(map)], { axis: 1 }) : presentV;
      const scores = g.op('Mul', [g.op('MatMul', [qh, g.op('Transpose', [kAll], { perm: [0, 1, 3, 2] })]), g.float([1 / Math.sqrt(hd)], [])], {}, 'scores');
      const probs = g.op('Softmax', [g.op('Where', [allowed, scores, masked])], { axis: -1 }, 'probs');
      const ctx = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [probs, vAll])], { perm: [0, 2, 1, 3] }), g.int64([-1, l.numHeads * hd])]);
      h = g.op('Add', [h, linear(ctx, l.o, l.oBias, `${p}.self_attn.o_proj`)], {}, `${p}.attn_residual`);
    } else {
      // No heads left: the block adds only its output bias; the cache grows by empty rows.
      const empty = g.op('ConstantOfShape', [g.op('Concat', [batch1, g.int64([0]), seq1, g.int64([hd])], { axis: 0 })]);
      presentK = g.op('Concat', [pastK, empty], { axis: 2 }, `present_${i}_key`);
      presentV = g.op('Concat', [pastV, empty], { axis: 2 }, `present_${i}_value`);
      if (l.oBias) h = g.op('Add', [h, g.weight(`${p}.self_attn.o_proj.bias`, l.oBias.data, l.oBias.shape, opts.dtype)]);
    }
    g.node('Identity', [presentK], {}, { outputs: [`present.${i}.key`] });
    g.node('Identity', [presentV], {}, { outputs: [`present.${i}.value`] });
    g.output(`present.${i}.key`, F, ['batch_size', kvDim(l, i), 'total_sequence_length', hd]);
    g.output(`present.${i}.value`, F, ['batch_size', kvDim(l, i), 'total_sequence_length', hd]);

    if (l.intermediateSize > 0) {
      const x = rmsnorm(h, l.postNorm, `${p}.post_attention_layernorm`);
      const gate = linear(x, l.gate, null, `${p}.mlp.gate_proj`);
      const up = linear(x, l.up, null, `${p}.mlp.up_proj`);
      const act = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up], {}, 'swiglu');
      h = g.op('Add', [h, linear(act, l.down, l.downBias, `${p}.mlp.down_proj`)], {}, `${p}.mlp_residual`);
    } else if (l.downBias) {
      h = g.op('Add', [h, g.weight(`${p}.mlp.down_proj.bias`, l.downBias.data, l.downBias.shape, opts.dtype)]);
    }
  });

  const x = rmsnorm(h, w.norm, 'model.norm');
  const lmHead = w.lmHead === w.embed ? embed : g.weight('lm_head.weight', w.lmHead.data, w.lmHead.shape, opts.dtype);
  const logits2d = g.op('Gemm', [x, lmHead], { transB: 1 }, 'lm_head');
  g.node('Reshape', [logits2d, g.op('Concat', [bs, g.int64([cfg.vocabSize])], { axis: 0 })], {}, { outputs: ['logits'] });
  g.output('logits', F, ['batch_size', 'sequence_length', cfg.vocabSize]);
  return { graph: g, quantized: notes };
}

/** The query→key/value head gather indices, or null when every query head has its own. */
function kvMap(l: LayerWeights<HostTensor>): number[] | null {
  if (l.kvHeadMap) return [...l.kvHeadMap];
  if (l.numHeads === l.numKvHeads) return null;
  return Array.from({ length: l.numHeads }, (_, hIdx) => Math.floor((hIdx * l.numKvHeads) / l.numHeads));
}

/**
 * The packed linear in a layout MatMulNBits accepts (block size a power of two ≥ 16), or
 * why not. A single block per row (per-channel, or a group wider than the row) is
 * re-blocked to the next power of two, padded with the zero-point code, which changes
 * nothing; several blocks of another size cannot be re-blocked.
 */
export function matMulNBitsLayout(p: PackedLinear): PackedLinear | string {
  const pow2 = (n: number) => n >= 16 && (n & (n - 1)) === 0;
  if (!MATMULNBITS_BITS.includes(p.bits)) return `${p.bits}-bit weights (onnxruntime-web's MatMulNBits runs ${MATMULNBITS_BITS.join(', ')} bits)`;
  if (pow2(p.blockSize)) return p;
  if (p.kBlocks === 1) {
    let bs = 16;
    while (bs < p.cols) bs *= 2;
    const codes = unpackCodes(p);
    const zeros = p.fzeros ?? (p.qzeros ? Uint8Array.from(zeroPoints(p)) : null);
    return packLinear({ rows: p.rows, cols: p.cols, bits: p.bits, blockSize: bs, codes, scales: p.scales, zeros });
  }
  return `group size ${p.blockSize} is not a power of two ≥ 16 (MatMulNBits block_size)`;
}

/** Bit widths exported as MatMulNBits (the WebGPU EP's kernel is 4-bit only; the wasm EP also runs 8). */
export const MATMULNBITS_BITS = [4, 8];

/** com.microsoft MatMulNBits: y = x · dequant(B)ᵀ (+ bias), dequant = (u − z)·scale per block. */
function nbitsLinear(g: GraphBuilder, x: string, p: PackedLinear, bias: string | null, name: string): string {
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const B = g.initializer(`${name}.qweight`, DataType.UINT8, [p.rows, p.kBlocks, p.blobSize], p.qweight);
  const scales = g.initializer(`${name}.scales`, DataType.FLOAT, [p.rows * p.kBlocks], bytes(p.scales));
  const inputs = [x, B, scales];
  if (p.fzeros) inputs.push(g.initializer(`${name}.zeros`, DataType.FLOAT, [p.rows * p.kBlocks], bytes(p.fzeros)));
  else if (p.qzeros) inputs.push(g.initializer(`${name}.qzeros`, DataType.UINT8, [p.qzeros.length], p.qzeros));
  else if (bias) inputs.push('');
  if (bias) inputs.push('', bias);
  return g.node('MatMulNBits', inputs, { K: p.cols, N: p.rows, bits: p.bits, block_size: p.blockSize, accuracy_level: 0 }, { domain: 'com.microsoft', name })[0]!;
}

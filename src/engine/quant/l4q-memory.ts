/**
 * L4Q training memory from the model's shape and the settings, before any training: the
 * same five parts that L4QTrainer.memory() reports after a step (and the record keeps), by
 * the same rules (linearsTrainingMemory, which the trainer calls too), so the studio can show
 * what a run will need before it starts.
 *
 * Per decoder linear (out × in): LoRA A, B = 4·r·(in + out) bytes; s and b = 8 bytes per
 * group of G inputs (both counted, as the trainer does); Adam = two moments per trained
 * parameter (LoRA, s, and b when learned); Γ = 4·in·out (the dense weight gradient). The
 * activations kept for one sequence's backward, T = tokens − 1 positions, are per layer
 * 4·T·(4·H + 2·q + 2·kv + 3·I) (the block input, both norms' outputs, q, k, v, the attention
 * output, the residual, gate, up and SwiGLU) and at the end 4·T·(2·H + V) (the last hidden
 * state, its norm and the logits) — src/engine/quant/train-model.ts keeps exactly these.
 * The batch runs sequence by sequence, so only one sequence's activations live at a time.
 *
 * For a pruned model (FLAP's smaller layers, or masks that make b ≡ 0) this is an upper
 * bound: it assumes the dense shape and learned offsets everywhere.
 */
import { groupWidth } from '../rules';

export interface L4QModelShape {
  layers: number;
  hiddenSize: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
}

export interface L4QMemorySettings {
  rank: number;
  /** Inputs per (s, b) group; 0 = per output channel. */
  group: number;
  symmetric: boolean;
  /** Tokens per training window (the sequence is cut to predictions T = tokens − 1). */
  tokens: number;
}

/** An L4Q training run's memory, in five parts (the trainer's `memory()`, estimateL4QMemory). */
export interface TrainingMemory {
  loraBytes: number;
  quantParamBytes: number;
  optimizerBytes: number;
  /** Activations kept for the backward pass (one sequence: the batch runs sequence by sequence). */
  activationBytes: number;
  /** Dense weight gradients Γ (one per linear, accumulated over the batch, then freed). */
  gradientBytes: number;
}

/** [out, in] of each decoder linear of one layer (dense shape). */
function linearShapes(m: L4QModelShape): [number, number][] {
  const H = m.hiddenSize;
  const q = m.heads * m.headDim;
  const kv = m.kvHeads * m.headDim;
  const I = m.intermediateSize;
  return [[q, H], [kv, H], [kv, H], [H, q], [I, H], [I, H], [H, I]];
}

/**
 * The five parts for these decoder linears and settings, with `activationBytes` as measured
 * (the trainer) or estimated (below): the one set of rules both report by.
 */
export function linearsTrainingMemory(linears: readonly { rows: number; cols: number }[], s: Omit<L4QMemorySettings, 'tokens'>, activationBytes: number): TrainingMemory {
  let lora = 0;
  let groups = 0;
  let weights = 0;
  for (const { rows, cols } of linears) {
    lora += 4 * s.rank * (rows + cols);
    groups += rows * Math.ceil(cols / groupWidth(s.group === 0 ? null : s.group, cols));
    weights += rows * cols;
  }
  // s and b exist from the warm-up's end; both count (and their Adam state) as the job's need.
  const quantParams = groups * (s.symmetric ? 1 : 2);
  return {
    loraBytes: lora,
    quantParamBytes: 8 * groups,
    optimizerBytes: 2 * lora + 8 * quantParams,
    activationBytes,
    gradientBytes: 4 * weights,
  };
}

export function estimateL4QMemory(m: L4QModelShape, s: L4QMemorySettings): TrainingMemory {
  const layer = linearShapes(m).map(([rows, cols]) => ({ rows, cols }));
  const L = m.layers;
  const T = Math.max(1, s.tokens - 1);
  const H = m.hiddenSize;
  const q = m.heads * m.headDim;
  const kv = m.kvHeads * m.headDim;
  const activationBytes = 4 * T * (L * (4 * H + 2 * q + 2 * kv + 3 * m.intermediateSize) + 2 * H + m.vocabSize);
  return linearsTrainingMemory(Array.from({ length: L }, () => layer).flat(), s, activationBytes);
}

/** The five parts together. */
export function trainingMemoryTotal(t: TrainingMemory): number {
  return t.loraBytes + t.quantParamBytes + t.optimizerBytes + t.activationBytes + t.gradientBytes;
}

/**
 * Whether training on a model of `weightBytes` (float32) would pass half of the RAM the
 * platform reports — the rule the Hub preview applies to the weights alone
 * (hub/memory.ts checkMemory) — false when no RAM is reported.
 */
export function trainingMemoryTight(t: TrainingMemory, weightBytes: number, deviceMemoryBytes: number | null): boolean {
  return deviceMemoryBytes !== null && weightBytes + trainingMemoryTotal(t) > deviceMemoryBytes / 2;
}

/**
 * The tiny GQA model config and learnable token sequences the L4Q training tests share
 * (test/l4q-train.test.ts, test/l4q-gpu-ops.test.ts).
 */
import { parseModelConfig } from '../../src/engine/model/config';
import { seededRandom } from '../../src/engine/random';

export const tinyTrainingConfig = parseModelConfig(
  { architectures: ['LlamaForCausalLM'], hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 12, max_position_embeddings: 64, rms_norm_eps: 1e-5, tie_word_embeddings: true },
  'tiny',
);

/** Sequences of a short repeating pattern with a random phase: learnable next tokens. */
export function patterned(n: number, len: number, seed: number): Int32Array[] {
  const r = seededRandom(seed);
  const pattern = [3, 7, 1, 9, 4, 4, 2];
  return Array.from({ length: n }, () => {
    const phase = Math.floor(r() * pattern.length);
    return Int32Array.from({ length: len }, (_, i) => pattern[(i + phase) % pattern.length]!);
  });
}

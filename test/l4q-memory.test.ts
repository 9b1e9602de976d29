/**
 * The L4Q memory estimate made before training (src/engine/quant/l4q-memory.ts) equals what
 * the trainer reports after its steps, part by part, for several settings; the documented
 * stories260K numbers follow from the model's shape.
 */
import { describe, expect, it } from 'vitest';
import { CpuTrainingBackend } from '../src/engine/backend/cpu/cpu-grad';
import { parseModelConfig, type ModelConfig } from '../src/engine/model/config';
import { randomWeights } from '../src/engine/model/random-model';
import { estimateL4QMemory, trainingMemoryTight, trainingMemoryTotal } from '../src/engine/quant/l4q-memory';
import { L4Q_DEFAULTS, L4QTrainer, type L4QOptions } from '../src/engine/quant/train';
import { patterned } from './support/tiny-training';

/** A GQA model with odd sizes (groups that do not divide the inputs) and a head size of 6. */
const cfg = parseModelConfig(
  { architectures: ['LlamaForCausalLM'], hidden_size: 18, intermediate_size: 26, num_hidden_layers: 2, num_attention_heads: 6, num_key_value_heads: 2, head_dim: 6, vocab_size: 12, max_position_embeddings: 64, rms_norm_eps: 1e-5, tie_word_embeddings: true },
  'odd',
);

const shapeOf = (c: ModelConfig) => ({ layers: c.numLayers, hiddenSize: c.hiddenSize, heads: c.numHeads, kvHeads: c.numKvHeads, headDim: c.headDim, intermediateSize: c.intermediateSize, vocabSize: c.vocabSize });

describe('estimateL4QMemory', () => {
  for (const [what, o, tokens] of [
    ['asymmetric, group 8, rank 3', { group: 8, rank: 3, symmetric: false, init: 'minmax' }, 11],
    ['symmetric, per channel, rank 2', { group: 0, rank: 2, symmetric: true, init: 'l4q' }, 7],
    ['group larger than some inputs', { group: 20, rank: 1, symmetric: false, init: 'minmax' }, 9],
  ] as const) {
    it(`equals the trainer's report after joint steps (${what})`, async () => {
      const opts: L4QOptions = { ...L4Q_DEFAULTS, bits: 3, steps: 3, warmup: 1, batch: 2, seed: 1, ...o };
      const tr = new L4QTrainer(new CpuTrainingBackend(), cfg, randomWeights(cfg, 4), patterned(4, tokens, 2), opts);
      while (!tr.done) await tr.trainStep();
      const est = estimateL4QMemory(shapeOf(cfg), { rank: o.rank, group: o.group, symmetric: o.symmetric, tokens });
      expect(est).toEqual(tr.memory());
      tr.dispose();
    });
  }

  it("gives the documented stories260K numbers (defaults, one 512-token window)", () => {
    const stories = { layers: 5, hiddenSize: 64, heads: 8, kvHeads: 4, headDim: 8, intermediateSize: 172, vocabSize: 512 };
    const m = estimateL4QMemory(stories, { rank: 8, group: 32, symmetric: false, tokens: 512 });
    const KiB = 1024;
    expect((m.loraBytes / KiB).toFixed(1)).toBe('180.6');
    expect((m.quantParamBytes / KiB).toFixed(1)).toBe('56.9');
    expect((m.optimizerBytes / KiB).toFixed(1)).toBe('475.0');
    expect((m.activationBytes / KiB ** 2).toFixed(2)).toBe('10.64');
    expect((m.gradientBytes / KiB).toFixed(1)).toBe('885.0');
    expect(trainingMemoryTotal(m)).toBe(m.loraBytes + m.quantParamBytes + m.optimizerBytes + m.activationBytes + m.gradientBytes);
    // Tight past half of the reported RAM, weights included; never without a report.
    const weights = 1_040_000;
    const half = weights + trainingMemoryTotal(m);
    expect(trainingMemoryTight(m, weights, 2 * half)).toBe(false);
    expect(trainingMemoryTight(m, weights, 2 * half - 2)).toBe(true);
    expect(trainingMemoryTight(m, weights, null)).toBe(false);
  });
});

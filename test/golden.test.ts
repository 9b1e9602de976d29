/**
 * Golden values for the bundled model against reference.json (test/fixtures/stories260K, a copy of shared/data/stories260K)
 * (computed there by an independent float64 implementation of llama2.c's run.c).
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { generate } from '../src/engine/generate';
import { LlamaModel } from '../src/engine/model/llama';
import { bundledModel, reference } from './support/bundled';

const ref = reference();

async function logitsOf(ids: number[]) {
  const m = await bundledModel();
  const lm = new LlamaModel(m.config, new CpuBackend(), m.weights);
  const t = lm.forward(Int32Array.from(ids));
  return { logits: await lm.backend.read(t), V: m.config.vocabSize };
}

function nllAt(logits: Float32Array, V: number, row: number, target: number): number {
  let max = -Infinity;
  for (let j = 0; j < V; j++) max = Math.max(max, logits[row * V + j]!);
  let s = 0;
  for (let j = 0; j < V; j++) s += Math.exp(logits[row * V + j]! - max);
  return max + Math.log(s) - logits[row * V + target]!;
}

describe('stories260K golden values', () => {
  it('logits after BOS match to 1e-4 relative', async () => {
    const { logits } = await logitsOf([1]);
    ref.logits_after_BOS_at_pos0.first8.forEach((want, i) => {
      expect(Math.abs(logits[i]! - want)).toBeLessThanOrEqual(1e-4 * Math.abs(want) + 1e-5);
    });
    const order = [...logits].map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0]);
    ref.logits_after_BOS_at_pos0.top5.forEach((want, rank) => {
      expect(order[rank]![1]).toBe(want.id);
      expect(Math.abs(order[rank]![0] - want.logit)).toBeLessThanOrEqual(1e-4 * Math.abs(want.logit) + 1e-5);
    });
  });

  it('encodes the reference sentences to the same ids, with the same NLLs', async () => {
    const m = await bundledModel();
    for (const ex of ref.encode_examples) {
      const ids = [m.tokenizer.bosTokenId!, ...m.tokenizer.encode(ex.text)];
      expect(ids).toEqual(ex.ids_with_bos);
      const { logits, V } = await logitsOf(ids);
      let sum = 0;
      for (let t = 0; t + 1 < ids.length; t++) sum += nllAt(logits, V, t, ids[t + 1]!);
      expect(ids.length - 1).toBe(ex.predicted_tokens);
      // reference.json rounds to 4 decimals.
      expect(Math.abs(sum - ex.sum_nll_nats)).toBeLessThanOrEqual(6e-5 + 1e-4 * ex.sum_nll_nats);
      expect(Math.abs(sum / (ids.length - 1) - ex.mean_nll_nats)).toBeLessThanOrEqual(6e-5);
    }
  });

  it('greedy decoding from BOS reproduces the 200-step text exactly', async () => {
    const m = await bundledModel();
    const lm = new LlamaModel(m.config, new CpuBackend(), m.weights);
    // run.c: 200 steps from BOS, stopping if the model emits BOS.
    const ids = await generate(lm, [1], { maxNewTokens: 200, stopIds: [1] });
    const text = m.tokenizer.decode([1, ...ids], { skipSpecialTokens: true });
    expect(text).toBe(ref.greedy_from_empty_prompt_200_steps);
  });
});

/**
 * Mutation fuzzing of config.json parsing: every mutated config is accepted with sane
 * values or refused with a StudioError.
 * Larger run: FUZZ_CASES=100000 npx vitest run test/fuzz-config
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseModelConfig, type ModelConfig } from '../src/engine/model/config';
import { Campaign, Rng, clone, fuzzCases, fuzzSeed, interestingValue, mutateJson, mutateJsonText } from './support/fuzz';
import { BUNDLED_MODEL_DIR } from './support/paths';

const KEYS = [
  'architectures', 'model_type', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads',
  'num_key_value_heads', 'head_dim', 'vocab_size', 'max_position_embeddings', 'rms_norm_eps', 'rope_theta',
  'rope_scaling', 'tie_word_embeddings', 'attention_bias', 'mlp_bias', 'hidden_act', 'bos_token_id', 'eos_token_id',
  'torch_dtype', 'sliding_window', 'use_sliding_window', 'num_attention_heads_per_layer', 'num_key_value_heads_per_layer',
  'intermediate_size_per_layer', 'kv_head_map_per_layer', 'rope_type', 'type', 'factor', 'low_freq_factor',
  'high_freq_factor', 'original_max_position_embeddings',
];

function ropeScaling(r: Rng): unknown {
  const valid = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
  switch (r.int(6)) {
    case 0:
      return valid;
    case 1:
      return { ...valid, rope_type: undefined, type: 'llama3' };
    case 2:
      return { type: r.pick(['linear', 'dynamic', 'yarn', 'default', 'longrope', 'LLAMA3', '', null, 3, ['llama3'], { a: 1 }]), factor: 2 };
    case 3: {
      const v: Record<string, unknown> = { ...valid };
      v[r.pick(Object.keys(valid))] = interestingValue(r);
      return v;
    }
    case 4:
      return r.pick([null, {}, [], 'llama3', 8, { rope_type: 'default' }, { rope_type: 'llama3' }, { rope_type: 'llama3', type: 'linear' }]);
    default:
      return { rope_type: 'llama3', factor: r.pick([0, -1, 1e308, 0.5, 'NaN', NaN, Infinity]), low_freq_factor: r.pick([1, 0, Infinity]), high_freq_factor: 4, original_max_position_embeddings: r.pick([8192, 0, 1.5, 2 ** 53, -1]) };
  }
}

function perLayer(r: Rng, layers: number): unknown {
  const n = r.chance(0.7) ? layers : r.int(8);
  const key = r.pick(['num_attention_heads_per_layer', 'num_key_value_heads_per_layer', 'intermediate_size_per_layer', 'kv_head_map_per_layer']);
  const arr = Array.from({ length: n }, () =>
    key === 'kv_head_map_per_layer' ? (r.chance(0.3) ? null : Array.from({ length: r.int(10) }, () => r.int(6) - (r.chance(0.05) ? 3 : 0))) : r.pick([0, 1, 2, 4, 8, 3, 172, 2 ** 21, -1, 0.5]),
  );
  return [key, arr];
}

const EXTRA_VALUES = [['LlamaForCausalLM'], ['MistralForCausalLM'], ['Qwen2ForCausalLM'], ['GPT2LMHeadModel'], [], 'LlamaForCausalLM', 'silu', 'gelu', 'float16', 'bfloat16', 8, 16, 64, 4096, 65536, 65537, 1 << 22, (1 << 22) + 1, 1025, 7];

function mutateConfig(base: Record<string, unknown>, r: Rng): unknown {
  let c: unknown = clone(base);
  const n = r.range(1, 4);
  for (let i = 0; i < n; i++) {
    const obj = typeof c === 'object' && c !== null && !Array.isArray(c) ? (c as Record<string, unknown>) : null;
    const k = r.int(10);
    if (obj && k === 0) obj.rope_scaling = ropeScaling(r);
    else if (obj && k === 1) {
      const [key, arr] = perLayer(r, typeof obj.num_hidden_layers === 'number' ? Math.min(obj.num_hidden_layers, 64) : 5) as [string, unknown];
      obj[key] = arr;
    } else if (obj && k === 2) obj[r.pick(KEYS)] = r.chance(0.5) ? interestingValue(r) : r.pick(EXTRA_VALUES);
    else if (obj && k === 3) delete obj[r.pick(KEYS)];
    else c = mutateJson(c, r, EXTRA_VALUES, KEYS);
  }
  if (r.chance(0.5)) {
    // Most configs arrive as JSON text: round-trip (NaN/Infinity become null), sometimes with text damage.
    let text = 'null';
    try {
      text = JSON.stringify(c) ?? 'null';
    } catch {
      return c;
    }
    try {
      c = JSON.parse(r.chance(0.3) ? mutateJsonText(text, r) : text);
    } catch {
      c = JSON.parse(text);
    }
  }
  if (r.chance(0.02) && typeof c === 'object' && c !== null && !Array.isArray(c)) {
    // Nesting too deep for JSON.stringify (only JSON.parse can build it).
    const depth = r.pick([10_000, 100_000]);
    const deep = JSON.parse(`${'['.repeat(depth)}"llama3"${']'.repeat(depth)}`) as unknown;
    const obj = c as Record<string, unknown>;
    if (r.chance(0.5)) obj.rope_scaling = { [r.pick(['type', 'rope_type', 'factor'])]: deep };
    else obj[r.pick(KEYS)] = deep;
  }
  return c;
}

function checkAccepted(m: ModelConfig): void {
  const ints = [m.hiddenSize, m.intermediateSize, m.numLayers, m.numHeads, m.numKvHeads, m.headDim, m.vocabSize, m.maxPositionEmbeddings];
  if (!ints.every((v) => Number.isSafeInteger(v) && v > 0)) throw new Error(`invariant: non-positive-integer size in ${JSON.stringify(ints)}`);
  if (m.headDim % 2 !== 0 || m.numHeads % m.numKvHeads !== 0) throw new Error('invariant: impossible head layout accepted');
  if (!(m.rmsNormEps > 0 && Number.isFinite(m.rmsNormEps)) || !(m.ropeTheta > 0 && Number.isFinite(m.ropeTheta))) throw new Error('invariant: bad eps/theta');
  if (m.ropeScaling && ![m.ropeScaling.factor, m.ropeScaling.lowFreqFactor, m.ropeScaling.highFreqFactor].every((v) => v > 0 && Number.isFinite(v))) {
    throw new Error('invariant: bad rope scaling accepted');
  }
  if (m.layerShapes) {
    if (m.layerShapes.length !== m.numLayers) throw new Error('invariant: layerShapes length');
    for (const l of m.layerShapes) {
      if ((l.numHeads === 0) !== (l.numKvHeads === 0)) throw new Error('invariant: heads/kv mismatch');
      if (l.kvHeadMap ? l.kvHeadMap.some((g) => g >= l.numKvHeads) : l.numHeads > 0 && l.numHeads % l.numKvHeads !== 0) throw new Error('invariant: kv grouping');
    }
  }
}

describe('config.json fuzzing', () => {
  it('every mutated config is accepted with sane values or refused with a StudioError', () => {
    const seed = fuzzSeed(0xc0f1);
    const cases = fuzzCases(10_000);
    const r = new Rng(seed);
    const base = JSON.parse(readFileSync(path.join(BUNDLED_MODEL_DIR, 'config.json'), 'utf8')) as Record<string, unknown>;
    const c = new Campaign('config.json', seed);
    for (let i = 0; i < cases; i++) {
      const input = r.chance(0.02) ? clone(base) : mutateConfig(base, r);
      c.run(i, () => checkAccepted(parseModelConfig(input, 'fuzz/config.json')));
    }
    c.assertClean(1000);
    expect(c.cases).toBe(cases);
    expect(c.loaded).toBeGreaterThan(0);
    expect(c.refused).toBeGreaterThan(0);
  });
});

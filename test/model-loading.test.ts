/** Bad model input: each case gives a StudioError whose message names the file and the problem. */
import { describe, expect, it } from 'vitest';
import { StudioError } from '../src/engine/errors';
import { parseModelConfig } from '../src/engine/model/config';
import { loadModel } from '../src/engine/model/load';
import { SafetensorsFile, writeSafetensors } from '../src/engine/model/safetensors';
import { bundledFiles, memorySource } from './support/memory-source';

const baseConfig = () => JSON.parse(bundledFiles()['config.json'] as string) as Record<string, unknown>;

async function loadError(files: Record<string, Uint8Array | string>): Promise<StudioError> {
  try {
    await loadModel('broken', memorySource(files, 'broken'));
  } catch (e) {
    expect(e).toBeInstanceOf(StudioError);
    return e as StudioError;
  }
  throw new Error('expected the load to fail');
}

/** Rewrites the bundled safetensors with one tensor changed or dropped. */
function alteredWeights(change: (name: string, data: Float32Array, shape: number[]) => { data: Float32Array; shape: number[] } | null) {
  const f = new SafetensorsFile(bundledFiles()['model.safetensors'] as Uint8Array);
  const tensors = [];
  for (const name of f.names) {
    const r = change(name, f.float32(name), f.entry(name).shape);
    if (r) tensors.push({ name, dtype: 'F32' as const, shape: r.shape, data: r.data });
  }
  return writeSafetensors(tensors);
}

describe('model loading', () => {
  it('loads the bundled model', async () => {
    const m = await loadModel('stories260K', memorySource(bundledFiles()));
    expect(m.parameters).toBe(260032);
    expect(m.config.numKvHeads).toBe(4);
    expect(m.weights.lmHead).toBe(m.weights.embed);
    expect(m.weights.layers[0]!.numHeads).toBe(8);
  });

  it('refuses an unsupported architecture before reading weights', async () => {
    const files = bundledFiles();
    files['config.json'] = JSON.stringify({ ...baseConfig(), architectures: ['GPT2LMHeadModel'] });
    delete files['model.safetensors'];
    const e = await loadError(files);
    expect(e.message).toMatch(/broken\/config\.json: unsupported architecture "GPT2LMHeadModel"/);
  });

  it('refuses inconsistent sizes in config.json', () => {
    const { head_dim: _hd, ...noHeadDim } = baseConfig();
    expect(() => parseModelConfig({ ...noHeadDim, num_attention_heads: 7, num_key_value_heads: 7 })).toThrow(/hidden_size 64 is not divisible by num_attention_heads 7/);
    expect(() => parseModelConfig({ ...baseConfig(), num_key_value_heads: 3 })).toThrow(/num_attention_heads 8 is not a multiple of num_key_value_heads 3/);
    expect(() => parseModelConfig({ ...baseConfig(), hidden_size: -64 })).toThrow(/field "hidden_size"/);
    const { vocab_size: _drop, ...noVocab } = baseConfig();
    expect(() => parseModelConfig(noVocab)).toThrow(/field "vocab_size"/);
    expect(() => parseModelConfig({ ...baseConfig(), rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/unsupported rope_scaling type "yarn"/);
    expect(() => parseModelConfig([])).toThrow(/config\.json: is not a JSON object/);
  });

  it('parses llama3 rope scaling and q/k/v bias for Qwen2', () => {
    const c = parseModelConfig({
      ...baseConfig(),
      rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    });
    expect(c.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(parseModelConfig({ ...baseConfig(), architectures: ['Qwen2ForCausalLM'] }).attentionBias).toBe(true);
  });

  it('refuses a config.json that is not JSON', async () => {
    const files = bundledFiles();
    files['config.json'] = '{"architectures": [';
    expect((await loadError(files)).message).toMatch(/broken\/config\.json: not valid JSON/);
  });

  it('refuses a truncated safetensors file', async () => {
    const files = bundledFiles();
    files['model.safetensors'] = (files['model.safetensors'] as Uint8Array).subarray(0, 5000);
    expect((await loadError(files)).message).toMatch(/broken\/model\.safetensors: .*out of range/);
  });

  it('names a missing tensor', async () => {
    const files = bundledFiles();
    files['model.safetensors'] = alteredWeights((n, data, shape) => (n === 'model.layers.3.mlp.up_proj.weight' ? null : { data, shape }));
    expect((await loadError(files)).message).toMatch(/missing tensor "model\.layers\.3\.mlp\.up_proj\.weight"/);
  });

  it('names a tensor whose shape disagrees with the config', async () => {
    const files = bundledFiles();
    files['model.safetensors'] = alteredWeights((n, data, shape) =>
      n === 'model.layers.1.self_attn.v_proj.weight' ? { data: data.subarray(0, 16 * 64), shape: [16, 64] } : { data, shape },
    );
    expect((await loadError(files)).message).toMatch(/tensor "model\.layers\.1\.self_attn\.v_proj\.weight" has shape \[16, 64\], expected \[32, 64\]/);
  });

  it('refuses a missing tokenizer and a tokenizer larger than the vocabulary', async () => {
    const files = bundledFiles();
    delete files['tokenizer.json'];
    expect((await loadError(files)).message).toMatch(/broken\/tokenizer\.json: file not found/);
    const f2 = bundledFiles();
    f2['config.json'] = JSON.stringify({ ...baseConfig(), vocab_size: 100 });
    expect((await loadError(f2)).message).toMatch(/tokenizer has 512 tokens but config\.json vocab_size is 100/);
  });
});

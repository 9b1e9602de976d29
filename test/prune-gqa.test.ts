/**
 * GQA layouts: the MHA-expanded copy computes the same function (equal perplexity),
 * arbitrary query→key/value head maps run as equivalent uniform groups, and per-layer
 * sizes round-trip through config.json.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { tokenStream } from '../src/engine/data';
import { evaluatePerplexity } from '../src/engine/eval/perplexity';
import { parseModelConfig } from '../src/engine/model/config';
import { expandGqaToMha, expandLayerToMha, standardKvMap, uniformizeLayer } from '../src/engine/model/expand-gqa';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel, type LoadedModel } from '../src/engine/model/load';
import { hubCheckpointFiles, hubConfigJson, readCompanions } from '../src/engine/model/save';
import { dirSource } from '../src/cli/fs-source';
import { compressLayer } from '../src/engine/prune/flap';
import { bundledModel } from './support/bundled';
import { bundledFiles, memorySource } from './support/memory-source';
import { BUNDLED_MODEL_DIR, REPO_ROOT } from './support/paths';

let model: LoadedModel;
let stream: Int32Array;
const b = new CpuBackend();

beforeAll(async () => {
  model = await bundledModel();
  const text = readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 8_000);
  stream = tokenStream(model.tokenizer, text).ids;
});

async function logitsOf(lm: LlamaModel, n = 33): Promise<Float32Array> {
  return b.read(lm.forward(stream.subarray(0, n)));
}

function maxDiff(a: Float32Array, c: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - c[i]!));
  return a.length === c.length ? m : Infinity;
}

describe('MHA expansion', () => {
  it('copies each key/value head for its query heads and keeps perplexity', async () => {
    const { config, weights } = expandGqaToMha(model.config, model.weights);
    expect(config.numKvHeads).toBe(8);
    expect(config.layerShapes).toBeUndefined();
    const l0 = model.weights.layers[0]!;
    const e0 = weights.layers[0]!;
    expect(e0.k.shape).toEqual([64, 64]);
    // Query heads 2 and 3 read key/value head 1: rows 16…31 and 24…31 of the copy are rows 8…15.
    expect([...e0.k.data.subarray(16 * 64, 24 * 64)]).toEqual([...l0.k.data.subarray(8 * 64, 16 * 64)]);
    expect([...e0.v.data.subarray(24 * 64, 32 * 64)]).toEqual([...l0.v.data.subarray(8 * 64, 16 * 64)]);
    const opts = { seqlen: 128, windows: { start: 0, end: 2 } };
    const dense = await evaluatePerplexity(new LlamaModel(model.config, b, model.weights), stream, opts);
    const expanded = await evaluatePerplexity(new LlamaModel(config, b, weights), stream, opts);
    expect(Math.abs(expanded.ppl - dense.ppl) / dense.ppl).toBeLessThan(1e-6);

    // Written in Hub layout, it loads back as an MHA model with the same perplexity.
    const files = hubCheckpointFiles(config, weights, await readCompanions(dirSource(BUNDLED_MODEL_DIR)));
    const cfgJson = JSON.parse(new TextDecoder().decode(files['config.json']));
    expect(cfgJson.num_key_value_heads).toBe(8);
    expect(cfgJson.num_attention_heads_per_layer).toBeUndefined();
    const back = await loadModel('mha', memorySource(files));
    expect(back.weights.layers[3]!.numKvHeads).toBe(8);
    const reloaded = await evaluatePerplexity(new LlamaModel(back.config, b, back.weights), stream, opts);
    expect(reloaded.meanNll).toBe(expanded.meanNll);
  });
});

describe('query→key/value head maps', () => {
  it('standard map is ⌊h·kv/heads⌋', () => {
    expect(standardKvMap(8, 4)).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
    expect(standardKvMap(9, 3)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2]);
  });

  it('runs uneven and unordered maps exactly like the MHA expansion of the same layer', async () => {
    const l = model.weights.layers[2]!;
    for (const [heads, kv, map] of [
      [[0, 2, 3, 5], [0, 1, 2], [0, 1, 1, 2]], // groups of 1, 2, 1 → uniform groups of 1
      [[0, 1, 2, 3, 4, 5], [0, 1, 2], null], // standard after removal of a whole group
      [[0, 1, 2, 3, 6], [0, 1, 3], [0, 0, 1, 1, 2]], // 2, 2, 1
    ] as const) {
      const pruned = compressLayer(l, 8, [...heads], [...kv], [...Array(172).keys()], null);
      expect(pruned.kvHeadMap ?? null).toEqual(map);
      const u = uniformizeLayer(pruned, 8);
      expect(u.kvHeadMap).toBeUndefined();
      expect(u.numHeads % u.numKvHeads).toBe(0);
      const withMap = { ...model.weights, layers: model.weights.layers.map((x, i) => (i === 2 ? pruned : x)) };
      const asMha = { ...model.weights, layers: model.weights.layers.map((x, i) => (i === 2 ? expandLayerToMha(pruned, 8) : x)) };
      const a = await logitsOf(new LlamaModel(model.config, b, withMap));
      const m = await logitsOf(new LlamaModel(model.config, b, asMha));
      expect(maxDiff(a, m)).toBeLessThan(1e-5);
    }
    // An unordered map: query head 0 reads key/value head 1 and head 1 reads head 0.
    const two = compressLayer(l, 8, [0, 2], [0, 1], [...Array(172).keys()], null);
    expect(two.kvHeadMap).toBeUndefined(); // [0, 1] is the standard map of 2/2 heads
    expect(() => compressLayer(l, 8, [0, 1], [0, 1], [], null)).toThrow(/key\/value head 1 is read by no query head/);
    const swappedLayer = { ...two, kvHeadMap: [1, 0] };
    const asMha = expandLayerToMha(swappedLayer, 8);
    const w1 = { ...model.weights, layers: model.weights.layers.map((x, i) => (i === 2 ? swappedLayer : x)) };
    const w2 = { ...model.weights, layers: model.weights.layers.map((x, i) => (i === 2 ? asMha : x)) };
    expect(maxDiff(await logitsOf(new LlamaModel(model.config, b, w1)), await logitsOf(new LlamaModel(model.config, b, w2)))).toBeLessThan(1e-5);
  });
});

describe('per-layer sizes in config.json', () => {
  it('parses and validates the per-layer keys', () => {
    const base = JSON.parse(bundledFiles()['config.json'] as string);
    const c = parseModelConfig({
      ...base,
      num_attention_heads_per_layer: [8, 5, 0, 4, 8],
      num_key_value_heads_per_layer: [4, 3, 0, 2, 4],
      intermediate_size_per_layer: [172, 0, 100, 50, 172],
      kv_head_map_per_layer: [null, [0, 1, 1, 2, 2], null, null, null],
    });
    expect(c.layerShapes![1]).toEqual({ numHeads: 5, numKvHeads: 3, intermediateSize: 0, kvHeadMap: [0, 1, 1, 2, 2] });
    expect(c.layerShapes![2]).toEqual({ numHeads: 0, numKvHeads: 0, intermediateSize: 100, kvHeadMap: null });
    expect(() => parseModelConfig({ ...base, intermediate_size_per_layer: [1, 2] })).toThrow(/"intermediate_size_per_layer" has 2 entries for 5 layers/);
    expect(() => parseModelConfig({ ...base, num_attention_heads_per_layer: [8, 5, 8, 8, 8] })).toThrow(/layer 1: 5 query heads are not a multiple of 4/);
    expect(() => parseModelConfig({ ...base, num_attention_heads_per_layer: [8, 0, 8, 8, 8], num_key_value_heads_per_layer: [4, 2, 4, 4, 4] })).toThrow(
      /layer 1: 0 query heads with 2 key\/value heads/,
    );
    expect(hubConfigJson(c, base).kv_head_map_per_layer).toEqual([null, [0, 1, 1, 2, 2], null, null, null]);
  });

  it('refuses weights that disagree with the per-layer sizes', async () => {
    const files = bundledFiles();
    const cfg = JSON.parse(files['config.json'] as string);
    files['config.json'] = JSON.stringify({ ...cfg, intermediate_size_per_layer: [172, 172, 100, 172, 172] });
    await expect(loadModel('x', memorySource(files))).rejects.toThrow(/layer 2: config.json says intermediate size 100, the tensors have 172/);
  });
});

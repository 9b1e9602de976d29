/**
 * transformers.js (the library browser users deploy with; in Node it runs onnxruntime-node)
 * loads an exported ONNX folder from a local path — no Hub access — and its greedy text
 * equals the engine's, for the dense model, a FLAP model with a head map and a layer left
 * with no heads and no MLP channels (its cache inputs have 0 heads), and a 4-bit model.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, env } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { calibrate, calibrationSamples } from '../src/engine/calibrate';
import { tokenStream } from '../src/engine/data';
import { exportModelFiles } from '../src/engine/export/export-model';
import { generate } from '../src/engine/generate';
import type { ModelConfig } from '../src/engine/model/config';
import { LlamaModel } from '../src/engine/model/llama';
import type { LoadedModel } from '../src/engine/model/load';
import { readCompanions } from '../src/engine/model/save';
import type { HostTensor, ModelWeights } from '../src/engine/model/weights';
import { compressLayer, FLAP_DEFAULTS, flapPrune } from '../src/engine/prune/flap';
import { dirSource } from '../src/cli/fs-source';
import { quantizeLinears } from '../src/engine/quant/quantized-linear';
import { rtnQuantize } from '../src/engine/quant/rtn';
import { bundledModel } from './support/bundled';
import { BUNDLED_MODEL_DIR } from './support/paths';

const root = mkdtempSync(path.join(tmpdir(), 'studio-tjs-'));
env.allowRemoteModels = false;
env.localModelPath = root;
const PROMPT = 'Once upon a time';
const NEW_TOKENS = 24;
let model: LoadedModel;

beforeAll(async () => {
  model = await bundledModel();
});

async function writeOnnx(name: string, cfg: ModelConfig, w: ModelWeights<HostTensor>) {
  const { files } = exportModelFiles(cfg, w, await readCompanions(dirSource(BUNDLED_MODEL_DIR)), { format: 'onnx' });
  mkdirSync(path.join(root, name), { recursive: true });
  for (const [f, bytes] of Object.entries(files)) writeFileSync(path.join(root, name, f), bytes);
}

async function engineGreedy(cfg: ModelConfig, w: ModelWeights<HostTensor>): Promise<number[]> {
  const lm = new LlamaModel(cfg, new CpuBackend(), w);
  const prompt = [1, ...model.tokenizer.encode(PROMPT)];
  const ids = await generate(lm, prompt, { maxNewTokens: NEW_TOKENS, temperature: 0 });
  lm.dispose();
  return [...prompt, ...ids];
}

async function transformersGreedy(name: string): Promise<number[]> {
  const tok = await AutoTokenizer.from_pretrained(name);
  const m = await AutoModelForCausalLM.from_pretrained(name, { dtype: 'fp32', subfolder: '', device: 'cpu' });
  const inputs = tok(PROMPT);
  // Only ever-growing sequences: no early stop, so both produce NEW_TOKENS tokens.
  const out = (await m.generate({ ...inputs, max_new_tokens: NEW_TOKENS, min_new_tokens: NEW_TOKENS, do_sample: false })) as unknown as { tolist(): bigint[][] };
  await m.dispose();
  return out.tolist()[0]!.map(Number);
}

describe('transformers.js runs the exported folder', () => {
  it('dense stories260K: the same greedy text as the engine', async () => {
    await writeOnnx('dense', model.config, model.weights);
    const ours = await engineGreedy(model.config, model.weights);
    const theirs = await transformersGreedy('dense');
    expect(theirs).toEqual(ours);
    expect(model.tokenizer.decode(theirs, { skipSpecialTokens: true })).toMatch(/^Once upon a time, there was a little girl named Lily/);
  });

  it('FLAP with a head map and an empty layer: the same greedy text', async () => {
    const text = 'Once upon a time there was a little dog. He liked to run and play in the park with his friends every day. '.repeat(20);
    const samples = calibrationSamples(tokenStream(model.tokenizer, text).ids, { samples: 4, seqlen: 64, offset: 0 });
    const stats = (await calibrate(model.config, new CpuBackend(), model.weights, samples, { points: ['o', 'down'] })).stats;
    const f = flapPrune(model.config, model.weights, stats, { ...FLAP_DEFAULTS, pruningRatio: 0.3, gqaUnit: 'head' });
    const empty = compressLayer(f.weights.layers[3]!, model.config.headDim, [], [], [], null);
    const w = { ...f.weights, layers: f.weights.layers.map((l, i) => (i === 3 ? empty : l)) };
    const cfg = { ...f.config, layerShapes: w.layers.map((l) => ({ numHeads: l.numHeads, numKvHeads: l.numKvHeads, intermediateSize: l.intermediateSize, kvHeadMap: l.kvHeadMap ? [...l.kvHeadMap] : null })) };
    expect(w.layers.some((l) => l.kvHeadMap)).toBe(true);
    await writeOnnx('flap', cfg, w);
    const ours = await engineGreedy(cfg, w);
    expect(await transformersGreedy('flap')).toEqual(ours);
  });

  it('RTN 4-bit (MatMulNBits): the same greedy text', async () => {
    const w = quantizeLinears(model.weights, (t) => rtnQuantize(t.data, t.shape[0]!, t.shape[1]!, { bits: 4, groupSize: 32, symmetric: false }));
    await writeOnnx('q4', model.config, w);
    const ours = await engineGreedy(model.config, w);
    expect(await transformersGreedy('q4')).toEqual(ours);
  });
});

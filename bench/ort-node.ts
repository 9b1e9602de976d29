/**
 * Our CPU backend against onnxruntime-web's wasm EP in Node, on the same model and the
 * same tokens in one run: `npx tsx bench/ort-node.ts [--model stories260K|smollm2|both]
 * [--tokens 512] [--smol-tokens 64] [--reps 5] [--threads 1] [--variants dense,flap,q4]`
 *
 * For each model and variant, one forward pass of T tokens (logits for every position,
 * empty cache), run alternately by the two engines (ours, ORT, ours, ORT, …) after a
 * warm-up of each, so that a noisy shared machine disturbs both alike; medians reported.
 * The ONNX model is our own export (src/engine/export/onnx) of exactly the weights our
 * engine runs. Variants:
 *   dense  the model as is;
 *   flap   50 % structurally pruned: stories260K by FLAP (WIFV, AL-AM, calibrated on
 *          TinyStories); the SmolLM2-135M shape (random weights, so no meaningful scores)
 *          with FLAP's shapes at 50 %: half the MLP channels of every layer and 1 or 2 of
 *          the 3 key/value groups in alternate layers (both engines get the same matrices);
 *   q4     RTN 4-bit asymmetric, group 32: our packed matmul vs ORT's MatMulNBits.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-web';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { calibrate, calibrationSamples } from '../src/engine/calibrate';
import { dirSource } from '../src/cli/fs-source';
import { tokenStream } from '../src/engine/data';
import { exportOnnxModel } from '../src/engine/export/onnx/export';
import { createOrtDecoder, ortStep } from '../src/engine/export/onnx/ort-run';
import type { ModelConfig } from '../src/engine/model/config';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel } from '../src/engine/model/load';
import { randomWeights, shapeConfig } from '../src/engine/model/random-model';
import type { HostTensor, ModelWeights } from '../src/engine/model/weights';
import { compressLayer, FLAP_DEFAULTS, flapPrune } from '../src/engine/prune/flap';
import { quantizeLinears } from '../src/engine/quant/quantized-linear';
import { rtnQuantize } from '../src/engine/quant/rtn';
import { seededRandom } from '../src/engine/random';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const which = opt('model', 'both');
const reps = Number(opt('reps', '5'));
const variants = opt('variants', 'dense,flap,q4').split(',');
ort.env.wasm.numThreads = Number(opt('threads', '1'));
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Variant {
  model: string;
  variant: string;
  cfg: ModelConfig;
  weights: ModelWeights<HostTensor>;
  tokens: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function q4(w: ModelWeights<HostTensor>) {
  return quantizeLinears(w, (t) => rtnQuantize(t.data, t.shape[0]!, t.shape[1]!, { bits: 4, groupSize: 32, symmetric: false }));
}

function shapesOf(cfg: ModelConfig, w: ModelWeights<HostTensor>): ModelConfig {
  return { ...cfg, layerShapes: w.layers.map((l) => ({ numHeads: l.numHeads, numKvHeads: l.numKvHeads, intermediateSize: l.intermediateSize, kvHeadMap: l.kvHeadMap ? [...l.kvHeadMap] : null })) };
}

async function* variantsOf(): AsyncGenerator<Variant> {
  if (which === 'both' || which === 'stories260K') {
    const m = await loadModel('stories260K', dirSource(path.join(root, 'public/models/stories260K')));
    const tokens = Number(opt('tokens', '512'));
    if (variants.includes('dense')) yield { model: 'stories260K', variant: 'dense', cfg: m.config, weights: m.weights, tokens };
    if (variants.includes('flap')) {
      const text = readFileSync(path.join(root, 'public/datasets/tinystories_val.txt'), 'utf8');
      const samples = calibrationSamples(tokenStream(m.tokenizer, text).ids, { samples: 32, seqlen: 128, offset: 200_000 });
      const stats = (await calibrate(m.config, new CpuBackend(), m.weights, samples, { points: ['o', 'down'] })).stats;
      const f = flapPrune(m.config, m.weights, stats, { ...FLAP_DEFAULTS, pruningRatio: 0.5 });
      yield { model: 'stories260K', variant: 'flap 50%', cfg: f.config, weights: f.weights, tokens };
    }
    if (variants.includes('q4')) yield { model: 'stories260K', variant: 'RTN 4-bit g32', cfg: m.config, weights: q4(m.weights), tokens };
  }
  if (which === 'both' || which === 'smollm2') {
    const cfg = shapeConfig('SmolLM2-135M');
    const w = randomWeights(cfg, 1);
    const tokens = Number(opt('smol-tokens', '64'));
    const name = 'SmolLM2-135M shape';
    if (variants.includes('dense')) yield { model: name, variant: 'dense', cfg, weights: w, tokens };
    if (variants.includes('flap')) {
      const hd = cfg.headDim;
      const layers = w.layers.map((l, i) => {
        const groups = i % 2 === 0 ? [0] : [0, 1];
        const heads = groups.flatMap((g) => [3 * g, 3 * g + 1, 3 * g + 2]);
        return compressLayer(l, hd, heads, groups, Array.from({ length: l.intermediateSize / 2 }, (_, c) => 2 * c), null);
      });
      const pw = { ...w, layers };
      yield { model: name, variant: 'FLAP shapes 50%', cfg: shapesOf(cfg, pw), weights: pw, tokens };
    }
    if (variants.includes('q4')) yield { model: name, variant: 'RTN 4-bit g32', cfg, weights: q4(w), tokens };
  }
}

function linearParams(w: ModelWeights<HostTensor>): number {
  return w.layers.reduce((s, l) => s + [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].reduce((a, t) => a + t.data.length, 0), 0);
}

async function main() {
  console.log(`# ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, Node ${process.version}, onnxruntime-web ${ort.env.versions.web} wasm EP, ${ort.env.wasm.numThreads} thread(s); medians of ${reps} alternating runs`);
  console.log('| model | variant | tokens | decoder linear params | ours (CPU backend) ms | ORT wasm ms | ours / ORT |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for await (const v of variantsOf()) {
    const rand = seededRandom(7);
    const ids = Int32Array.from({ length: v.tokens }, () => Math.floor(rand() * v.cfg.vocabSize));
    const backend = new CpuBackend();
    const lm = new LlamaModel(v.cfg, backend, v.weights);
    const exported = exportOnnxModel(v.cfg, v.weights);
    const d = await createOrtDecoder(ort, exported.model, { externalData: exported.externalData });
    const ours = async () => {
      const t0 = performance.now();
      const t = lm.forward(ids);
      const out = await backend.read(t);
      backend.dispose(t);
      return { ms: performance.now() - t0, out };
    };
    const theirs = async () => {
      const t0 = performance.now();
      const r = await ortStep(d, ids, 0, null);
      return { ms: performance.now() - t0, out: r.logits };
    };
    // Warm-up, and a check that both compute the same logits.
    const a = await ours();
    const b = await theirs();
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < a.out.length; i++) {
      diff = Math.max(diff, Math.abs(a.out[i]! - b.out[i]!));
      scale = Math.max(scale, Math.abs(a.out[i]!));
    }
    const mine: number[] = [];
    const ortMs: number[] = [];
    for (let r = 0; r < reps; r++) {
      mine.push((await ours()).ms);
      ortMs.push((await theirs()).ms);
    }
    const m1 = median(mine);
    const m2 = median(ortMs);
    console.log(`| ${v.model} | ${v.variant} | ${v.tokens} | ${(linearParams(v.weights) / 1e6).toFixed(2)} M | ${m1.toFixed(1)} | ${m2.toFixed(1)} | ${(m1 / m2).toFixed(2)}× | <!-- logits max|Δ|/max ${(diff / scale).toExponential(1)} -->`);
    await d.session.release();
    lm.dispose();
  }
}

await main();

/**
 * Our CPU backends against onnxruntime-web's wasm EP in Node, on the same model and the
 * same tokens in one run: `npx tsx bench/ort-node.ts [--model stories260K|smollm2|both]
 * [--tokens 512] [--smol-tokens 64] [--reps 5] [--threads 1] [--variants dense,flap,q4]
 * [--engines cpu,wasm,ort] [--clock cpu|wall]`
 *
 * For each model and variant, one forward pass of T tokens (logits for every position,
 * empty cache), run in turn by the engines (CPU reference, wasm SIMD backend, ORT, CPU, …)
 * after a warm-up of each, so that a noisy shared machine disturbs all alike; medians
 * reported. All three are single-threaded (ORT with --threads 1); `--clock cpu` (the
 * default) times each pass by process.cpuUsage (user + system CPU time of this process),
 * which other processes on a busy machine inflate less than wall time.
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
import type { Backend } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { createWasmBackend } from '../src/engine/backend/wasm/wasm-backend';
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
import { cliOption as opt } from './cli-args';

const which = opt('model', 'both');
const reps = Number(opt('reps', '5'));
const variants = opt('variants', 'dense,flap,q4').split(',');
ort.env.wasm.numThreads = Number(opt('threads', '1'));
const engines = opt('engines', 'cpu,wasm,ort').split(',');
const clock = opt('clock', 'cpu');
/** Milliseconds of the chosen clock. */
const now = () => {
  if (clock === 'wall') return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
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

interface Engine {
  name: string;
  run(): Promise<{ ms: number; out: Float32Array }>;
  close(): Promise<void>;
}

/** One of our backends running the model: a forward pass of `ids`, logits read back. */
function ourEngine(name: string, backend: Backend, v: Variant, ids: Int32Array): Engine {
  const lm = new LlamaModel(v.cfg, backend, v.weights);
  return {
    name,
    async run() {
      const t0 = now();
      const t = lm.forward(ids);
      const out = await backend.read(t);
      backend.dispose(t);
      return { ms: now() - t0, out };
    },
    async close() {
      lm.dispose();
      backend.destroy();
    },
  };
}

async function ortEngine(v: Variant, ids: Int32Array): Promise<Engine> {
  const exported = exportOnnxModel(v.cfg, v.weights);
  const d = await createOrtDecoder(ort, exported.model, { externalData: exported.externalData });
  return {
    name: 'ort',
    async run() {
      const t0 = now();
      const r = await ortStep(d, ids, 0, null);
      return { ms: now() - t0, out: r.logits };
    },
    close: () => d.session.release(),
  };
}

function maxRel(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!));
  }
  return diff / scale;
}

async function main() {
  const load = os.loadavg()[0]!.toFixed(1);
  console.log(`# ${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, Node ${process.version}, onnxruntime-web ${ort.env.versions.web} wasm EP, ${ort.env.wasm.numThreads} thread(s); medians of ${reps} runs in turn, ${clock === 'cpu' ? 'process CPU time' : 'wall time'}; load average ${load} at start`);
  const col = { cpu: 'ours (CPU reference) ms', wasm: 'ours (wasm SIMD) ms', ort: 'ORT wasm EP ms' } as Record<string, string>;
  const ratios = [engines.includes('cpu') && engines.includes('ort') ? 'CPU ref / ORT' : null, engines.includes('wasm') && engines.includes('ort') ? 'wasm SIMD / ORT' : null].filter((x) => x !== null);
  console.log(`| model | variant | tokens | decoder linear params | ${engines.map((e) => col[e]).join(' | ')} | ${ratios.join(' | ')} |`);
  console.log(`| --- | --- | --- | --- | ${engines.map(() => '---').join(' | ')} | ${ratios.map(() => '---').join(' | ')} |`);
  for await (const v of variantsOf()) {
    const rand = seededRandom(7);
    const ids = Int32Array.from({ length: v.tokens }, () => Math.floor(rand() * v.cfg.vocabSize));
    const es: Engine[] = [];
    for (const e of engines) {
      if (e === 'cpu') es.push(ourEngine('cpu', new CpuBackend(), v, ids));
      else if (e === 'wasm') es.push(ourEngine('wasm', await createWasmBackend(), v, ids));
      else if (e === 'ort') es.push(await ortEngine(v, ids));
    }
    // Warm-up, and a check that all compute the same logits (against the first engine).
    const first: Float32Array[] = [];
    for (const e of es) first.push((await e.run()).out);
    const diffs = es.slice(1).map((e, i) => `${e.name} ${maxRel(first[0]!, first[i + 1]!).toExponential(1)}`);
    const times: number[][] = es.map(() => []);
    for (let r = 0; r < reps; r++) for (let i = 0; i < es.length; i++) times[i]!.push((await es[i]!.run()).ms);
    const med = times.map(median);
    const at = (name: string) => med[engines.indexOf(name)]!;
    const ratioCells = [engines.includes('cpu') && engines.includes('ort') ? at('cpu') / at('ort') : null, engines.includes('wasm') && engines.includes('ort') ? at('wasm') / at('ort') : null].filter((x) => x !== null);
    console.log(
      `| ${v.model} | ${v.variant} | ${v.tokens} | ${(linearParams(v.weights) / 1e6).toFixed(2)} M | ${med.map((m) => m.toFixed(1)).join(' | ')} | ${ratioCells.map((x) => `${x.toFixed(2)}×`).join(' | ')} | <!-- logits max|Δ|/max vs ${es[0]!.name}: ${diffs.join(', ')} -->`,
    );
    for (const e of es) await e.close();
  }
}

await main();

/**
 * Pruning benchmark and reference sweep: `npx tsx bench/prune.ts [options]`.
 *
 *   --model stories260K (default) | SmolLM2-135M (random weights with that shape)
 *   --windows A:B      eval windows (default 0:20; stories260K: tinystories, seqlen 512)
 *   --mha              run on the MHA-expanded copy (stories260K)
 *   --only NAME        run the settings whose name contains NAME
 *   --json FILE        also write the results as JSON
 *
 * stories260K: the "Checked by" settings with the default protocol (calibration:
 * tinystories, offset 200000, 64 samples of 128 tokens; eval: tinystories, seqlen 512);
 * prints perplexity before/after and the time of each phase (calibrate, prune, eval).
 *
 * SmolLM2-135M: random weights of the real shape (30 layers, hidden 576, 9/3 heads,
 * intermediate 1536, vocab 49152) on random token ids; times calibrate + prune + eval of
 * magnitude, Wanda and FLAP with a small protocol (--samples N --seqlen S, default 2 × 64,
 * one eval window of S tokens). On the CPU backend this shape runs ~0.3 GFLOP/s, so the
 * protocol is kept tiny; the numbers are what the GPU backend has to beat.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { calibrate } from '../src/engine/calibrate';
import { evaluatePerplexity } from '../src/engine/eval/perplexity';
import { modelRefOf } from '../src/engine/experiment';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel } from '../src/engine/model/load';
import { randomWeights, shapeConfig } from '../src/engine/model/random-model';
import { runPruneExperiment } from '../src/engine/prune/experiment';
import { FLAP_DEFAULTS, flapPrune } from '../src/engine/prune/flap';
import { magnitudePrune } from '../src/engine/prune/magnitude';
import { runWanda } from '../src/engine/prune/wanda';
import type { MethodSpec } from '../src/engine/record';
import { dirSource } from '../src/cli/fs-source';
import { readFile } from 'node:fs/promises';

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const flag = (name: string) => args.includes(`--${name}`);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

const mag = (pattern: string): MethodSpec => ({ name: 'magnitude', sparsity: 0.5, pattern, granularity: 'matrix' });
const wanda = (pattern: string, variant = false): MethodSpec => ({ name: 'wanda', sparsity: 0.5, pattern, mode: 'sequential', variant });
const flap = (metric: 'WIFV' | 'WIFN' | 'IFV', structure: 'AL-AM' | 'UL-UM', ratio: number): MethodSpec => ({ name: 'flap', ...FLAP_DEFAULTS, metric, structure, pruningRatio: ratio });

const SETTINGS: [string, MethodSpec][] = [
  ['magnitude 50%', mag('unstructured')],
  ['magnitude 2:4', mag('2:4')],
  ['wanda 50%', wanda('unstructured')],
  ['wanda 2:4', wanda('2:4')],
  ['wanda 4:8', wanda('4:8')],
  ['wanda variant 50%', wanda('unstructured', true)],
  ...(['WIFV', 'WIFN', 'IFV'] as const).flatMap((m) =>
    (['AL-AM', 'UL-UM'] as const).flatMap((s) => [0.2, 0.5].map((r): [string, MethodSpec] => [`flap ${m} ${s} ${r * 100}%`, flap(m, s, r)])),
  ),
];

interface Row {
  setting: string;
  ppl: number;
  meanNll: number;
  sparsity: number;
  calibrateMs: number | null;
  pruneMs: number | null;
  evalMs: number;
}

async function stories() {
  const windows = opt('windows') ?? '0:20';
  const mha = flag('mha');
  const only = opt('only');
  const model = await loadModel('stories260K', dirSource(path.join(root, 'public/models/stories260K')));
  const text = await readFile(path.join(root, 'public/datasets/tinystories_val.txt'), 'utf8');
  const b = new CpuBackend();
  const base = {
    model,
    modelRef: modelRefOf(model, 'bundled'),
    backend: b,
    text,
    dataset: { name: 'tinystories', source: 'bundled' as const },
    seqlen: 512,
    windows,
    calibration: { sampling: { samples: 64, seqlen: 128, offset: 200_000 } },
    runtime: 'node' as const,
    expandGqa: mha,
  };
  const dense = await runPruneExperiment({ ...base, method: { name: 'dense' }, baseline: false });
  console.log(`stories260K${mha ? ' (MHA-expanded)' : ''}, windows ${windows} of 512, ${dense.record.scoredTokens} scored tokens`);
  console.log(`dense                      ppl ${dense.record.ppl.toFixed(4)}  eval ${(dense.record.timings.evalMs / 1000).toFixed(1)} s`);
  const rows: Row[] = [];
  for (const [name, method] of SETTINGS) {
    if (only && !name.includes(only)) continue;
    const r = (await runPruneExperiment({ ...base, method, baseline: false })).record;
    const t = r.timings;
    rows.push({ setting: name, ppl: r.ppl, meanNll: r.meanNll, sparsity: r.sparsity!.achieved, calibrateMs: t.calibrateMs ?? null, pruneMs: t.pruneMs ?? null, evalMs: t.evalMs });
    const s = (ms: number | undefined) => (ms === undefined ? '   -  ' : `${(ms / 1000).toFixed(2).padStart(6)}`);
    console.log(
      `${name.padEnd(26)} ppl ${r.ppl.toFixed(4).padStart(9)}  sparsity ${(100 * r.sparsity!.achieved).toFixed(2).padStart(6)}%  calibrate ${s(t.calibrateMs)} s  prune ${s(t.pruneMs)} s  eval ${s(t.evalMs)} s`,
    );
  }
  const out = opt('json');
  if (out) writeFileSync(out, JSON.stringify({ model: 'stories260K', mhaExpanded: mha, windows, dense: { ppl: dense.record.ppl, meanNll: dense.record.meanNll }, rows }, null, 2));
}

async function smol() {
  const S = Number(opt('seqlen') ?? 64);
  const N = Number(opt('samples') ?? 2);
  const cfg = shapeConfig('SmolLM2-135M');
  const t0 = performance.now();
  const weights = randomWeights(cfg, 1);
  console.log(`SmolLM2-135M shape, random weights (${((performance.now() - t0) / 1000).toFixed(1)} s to generate); ${N} samples × ${S} tokens, 1 eval window of ${S}`);
  let s = 12345;
  const ids = Int32Array.from({ length: (N + 1) * S }, () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % cfg.vocabSize);
  const samples = Array.from({ length: N }, (_, i) => ids.subarray(i * S, (i + 1) * S));
  const evalStream = ids.subarray(N * S);
  const b = new CpuBackend();
  const evaluate = async (w: typeof weights, c = cfg) => {
    const t = performance.now();
    const r = await evaluatePerplexity(new LlamaModel(c, b, w), evalStream, { seqlen: S, windows: { start: 0, end: 1 } });
    return { ppl: r.ppl, ms: performance.now() - t };
  };
  const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const dense = await evaluate(weights);
  console.log(`dense        eval ${sec(dense.ms)}`);
  let t = performance.now();
  const m = magnitudePrune(weights, { sparsity: 0.5, pattern: 'unstructured', granularity: 'matrix' });
  const mPrune = performance.now() - t;
  console.log(`magnitude    prune ${sec(mPrune)}  eval ${sec((await evaluate(m.weights)).ms)}`);
  const w = await runWanda(cfg, b, weights, samples, { sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false });
  console.log(`wanda        calibrate ${sec(w.calibrateMs)}  prune ${sec(w.pruneMs)}  eval ${sec((await evaluate(w.weights)).ms)}`);
  t = performance.now();
  const cal = await calibrate(cfg, b, weights, samples, { points: ['o', 'down'] });
  const cMs = performance.now() - t;
  t = performance.now();
  const f = flapPrune(cfg, weights, cal.stats, FLAP_DEFAULTS);
  const fMs = performance.now() - t;
  console.log(`flap         calibrate ${sec(cMs)}  prune ${sec(fMs)}  eval ${sec((await evaluate(f.weights, f.config)).ms)}  (removed ${(100 * f.sparsity.achieved).toFixed(1)}%)`);
}

if ((opt('model') ?? 'stories260K') === 'SmolLM2-135M') await smol();
else await stories();

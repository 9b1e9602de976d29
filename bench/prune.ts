/**
 * Pruning benchmark and reference sweep: `npx tsx bench/prune.ts [options]`.
 *
 *   --model stories260K (default) | SmolLM2-135M (random weights with that shape)
 *   --windows A:B      eval windows (default 0:20; stories260K: tinystories, seqlen 512)
 *   --mha              run on the MHA-expanded copy (stories260K)
 *   --only A,B         run the settings whose name contains A or B
 *   --json FILE        also write the results as JSON
 *   --backend B        cpu (default) or webgpu: calibration, scoring/selection (PruneOps) and
 *                      evaluation all on that backend
 *   --vulkan V         for webgpu in Node without a GPU: lavapipe (default when
 *                      .cache/lavapipe/lvp_icd.json exists, see scripts/setup-lavapipe.sh) or
 *                      swiftshader (Chromium's); an explicit VK_ICD_FILENAMES wins over both
 *   --prune-ops P      where scoring and selection run: auto (default: the backend's kernels
 *                      on a hardware adapter, the host on a software one), device, host
 *   --mask-layers N    SmolLM2-135M on webgpu: also time scoring + selection alone, host
 *                      against the kernels, on the linears of the first N layers (default 2)
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
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Backend } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { createWebGpuBackend } from '../src/engine/backend/webgpu';
import { nodeGpu } from '../src/engine/backend/webgpu/node';
import { calibrate } from '../src/engine/calibrate';
import { evaluatePerplexity } from '../src/engine/eval/perplexity';
import { modelRefOf } from '../src/engine/experiment';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel } from '../src/engine/model/load';
import { randomWeights, shapeConfig } from '../src/engine/model/random-model';
import { runPruneExperiment } from '../src/engine/prune/experiment';
import { FLAP_DEFAULTS, flapPrune } from '../src/engine/prune/flap';
import { magnitudePrune } from '../src/engine/prune/magnitude';
import { CPU_PRUNE_OPS, pruneOpsFor, type PruneOps, type PruneOpsChoice, type Selection } from '../src/engine/prune/ops';
import { LINEAR_NAMES } from '../src/engine/model/weights';
import { runWanda } from '../src/engine/prune/wanda';
import type { MethodSpec } from '../src/engine/record';
import { dirSource } from '../src/cli/fs-source';
import { readFile } from 'node:fs/promises';
import { cliFlag as flag, cliOption as opt } from './cli-args';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const pruneOpsChoice = (opt('prune-ops') ?? 'auto') as PruneOpsChoice;
if (!['auto', 'device', 'host'].includes(pruneOpsChoice)) throw new Error(`--prune-ops ${pruneOpsChoice}: expected auto, device or host`);

/** The backend named by --backend (WebGPU in Node on lavapipe or SwiftShader when there is no GPU). */
async function makeBackend(): Promise<Backend> {
  const name = opt('backend') ?? 'cpu';
  if (name === 'cpu') return new CpuBackend();
  if (name !== 'webgpu') throw new Error(`--backend ${name}: expected cpu or webgpu`);
  const lavapipe = path.join(root, '.cache/lavapipe/lvp_icd.json');
  const vulkan = opt('vulkan') ?? (existsSync(lavapipe) ? 'lavapipe' : 'swiftshader');
  process.env.VK_ICD_FILENAMES ??= vulkan === 'lavapipe' ? lavapipe : '/usr/lib/chromium/vk_swiftshader_icd.json';
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  return createWebGpuBackend(await nodeGpu());
}

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
  const only = opt('only')?.split(',');
  const model = await loadModel('stories260K', dirSource(path.join(root, 'public/models/stories260K')));
  const text = await readFile(path.join(root, 'public/datasets/tinystories_val.txt'), 'utf8');
  const b = await makeBackend();
  console.log(`backend: ${b.info.name} (${b.info.device}); scoring and selection on ${pruneOpsFor(b, pruneOpsChoice).device}`);
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
    pruneOps: pruneOpsChoice,
  };
  const dense = await runPruneExperiment({ ...base, method: { name: 'dense' }, baseline: false });
  console.log(`stories260K${mha ? ' (MHA-expanded)' : ''}, windows ${windows} of 512, ${dense.record.scoredTokens} scored tokens`);
  console.log(`dense                      ppl ${dense.record.ppl.toFixed(4)}  eval ${(dense.record.timings.evalMs / 1000).toFixed(1)} s`);
  const rows: Row[] = [];
  for (const [name, method] of SETTINGS) {
    if (only && !only.some((o) => name.includes(o))) continue;
    const r = (await runPruneExperiment({ ...base, method, baseline: false })).record;
    const t = r.timings;
    rows.push({ setting: name, ppl: r.ppl, meanNll: r.meanNll, sparsity: r.sparsity!.achieved, calibrateMs: t.calibrateMs ?? null, pruneMs: t.pruneMs ?? null, evalMs: t.evalMs });
    const s = (ms: number | undefined) => (ms === undefined ? '   -  ' : `${(ms / 1000).toFixed(2).padStart(6)}`);
    console.log(
      `${name.padEnd(26)} ppl ${r.ppl.toFixed(4).padStart(9)}  sparsity ${(100 * r.sparsity!.achieved).toFixed(2).padStart(6)}%  calibrate ${s(t.calibrateMs)} s  prune ${s(t.pruneMs)} s  eval ${s(t.evalMs)} s`,
    );
  }
  const out = opt('json');
  if (out) writeFileSync(out, JSON.stringify({ model: 'stories260K', backend: b.info, mhaExpanded: mha, windows, dense: { ppl: dense.record.ppl, meanNll: dense.record.meanNll }, rows }, null, 2));
  b.destroy();
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
  const b = await makeBackend();
  const ops = pruneOpsFor(b, pruneOpsChoice);
  console.log(`backend: ${b.info.name} (${b.info.device}); scoring and selection on ${ops.device}`);
  const evaluate = async (w: typeof weights, c = cfg) => {
    const t = performance.now();
    const r = await evaluatePerplexity(new LlamaModel(c, b, w), evalStream, { seqlen: S, windows: { start: 0, end: 1 } });
    return { ppl: r.ppl, ms: performance.now() - t };
  };
  const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const dense = await evaluate(weights);
  console.log(`dense        eval ${sec(dense.ms)}`);
  let t = performance.now();
  const m = await magnitudePrune(weights, { sparsity: 0.5, pattern: 'unstructured', granularity: 'matrix' }, ops);
  const mPrune = performance.now() - t;
  console.log(`magnitude    prune ${sec(mPrune)}  eval ${sec((await evaluate(m.weights)).ms)}`);
  const w = await runWanda(cfg, b, weights, samples, { sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false }, { ops });
  console.log(`wanda        calibrate ${sec(w.calibrateMs)}  prune ${sec(w.pruneMs)}  eval ${sec((await evaluate(w.weights)).ms)}`);
  t = performance.now();
  const cal = await calibrate(cfg, b, weights, samples, { points: ['o', 'down'] });
  const cMs = performance.now() - t;
  t = performance.now();
  const f = await flapPrune(cfg, weights, cal.stats, FLAP_DEFAULTS, ops);
  const fMs = performance.now() - t;
  console.log(`flap         calibrate ${sec(cMs)}  prune ${sec(fMs)}  eval ${sec((await evaluate(f.weights, f.config)).ms)}  (removed ${(100 * f.sparsity.achieved).toFixed(1)}%)`);
  const device = pruneOpsFor(b, 'device');
  if (device.device !== 'cpu') await masksOnly(weights.layers.slice(0, Number(opt('mask-layers') ?? 2)), device);
  b.destroy();
}

/**
 * Scoring + selection alone, over the decoder linears of the given layers: the host reference
 * against the backend's PruneOps, with the masks compared (they must be identical).
 * Wanda's column scale is a random positive vector per matrix (as √scaler would be).
 */
async function masksOnly(layers: ReturnType<typeof randomWeights>['layers'], ops: PruneOps) {
  const linears = layers.flatMap((l) => LINEAR_NAMES.map((n) => l[n]));
  let seed = 7;
  const scales = linears.map((w) => Float32Array.from({ length: w.shape[1]! }, () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 + 0.01));
  const cases: [string, Selection, boolean][] = [
    ['magnitude 50% per matrix', { kind: 'matrix', sparsity: 0.5 }, false],
    ['magnitude 50% per row', { kind: 'row', k: -1 }, false],
    ['wanda 50% per row', { kind: 'row', k: -1 }, true],
    ['wanda 2:4', { kind: 'nm', n: 2, m: 4 }, true],
    ['wanda 4:8', { kind: 'nm', n: 4, m: 8 }, true],
  ];
  console.log(`\nscoring + selection only, ${linears.length} matrices (host reference vs ${ops.device}):`);
  for (const [name, sel0, scaled] of cases) {
    const times: number[] = [];
    const masks: Uint8Array[][] = [];
    for (const o of [CPU_PRUNE_OPS, ops]) {
      const t = performance.now();
      const out: Uint8Array[] = [];
      for (let i = 0; i < linears.length; i++) {
        const w = linears[i]!;
        const sel = sel0.kind === 'row' ? { kind: 'row' as const, k: Math.floor(w.shape[1]! / 2) } : sel0;
        out.push(await o.mask(w, scaled ? scales[i]! : null, sel));
      }
      times.push(performance.now() - t);
      masks.push(out);
    }
    let diff = 0;
    masks[0]!.forEach((m, i) => m.forEach((v, j) => (diff += v !== masks[1]![i]![j] ? 1 : 0)));
    console.log(`${name.padEnd(26)} host ${(times[0]! / 1000).toFixed(2)} s  ${ops.device} ${(times[1]! / 1000).toFixed(2)} s  differing mask entries: ${diff}`);
  }
  for (const term of [{ kind: 'square' as const }]) {
    const times: number[] = [];
    for (const o of [CPU_PRUNE_OPS, ops]) {
      const t = performance.now();
      for (const w of linears) await o.columnSums(w, term);
      times.push(performance.now() - t);
    }
    console.log(`${'column sums Σ W² (FLAP)'.padEnd(26)} host ${(times[0]! / 1000).toFixed(2)} s  ${ops.device} ${(times[1]! / 1000).toFixed(2)} s`);
  }
}

if ((opt('model') ?? 'stories260K') === 'SmolLM2-135M') await smol();
else await stories();

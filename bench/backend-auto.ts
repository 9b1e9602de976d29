/**
 * Does Auto pick the fastest backend here? `npx tsx bench/backend-auto.ts [options]`
 *
 * Runs the studio's default pruning run — Wanda 50 % unstructured on stories260K,
 * calibration 64 × 128 tokens of tinystories (offset 200000), perplexity before and after
 * on windows 0:4 at seqlen 512 — through the `studio prune` command in-process, on each
 * backend this machine has (wasm, webgpu, cpu) and on what `--backend auto` picks; each
 * time is the whole command (backend creation, model load, both evaluations, pruning).
 * Runs go round-robin (one of each backend per round, the order rotated each round) so that
 * a change in the machine's load hits every backend alike; each backend's time is the
 * median of its rounds. Also kept: the job alone (the record's timings.wallMs: model load,
 * calibration, pruning, both evaluations, without creating the backend), where Auto's
 * probe of the WebGPU adapter (in Node a Dawn instance, a few hundred ms once per process)
 * does not count. Prints each median and the ratio Auto / fastest, for both (the target:
 * ≤ 1.2), and writes the
 * result, with the machine and its load average (os.loadavg() before and after), to
 * bench/results/backend-auto-<date>.json.
 *
 *   --rounds N       rounds (default 5)
 *   --no-cpu         leave out the CPU reference (the slowest by far)
 *   --vulkan V       WebGPU in Node without a GPU: swiftshader (what `studio` falls back to,
 *                    the default) or lavapipe (.cache/lavapipe, scripts/setup-lavapipe.sh);
 *                    an explicit VK_ICD_FILENAMES wins
 *   --windows A:B    evaluation windows (default 0:4, the studio's default)
 *   --note TEXT      a note stored with the result (e.g. what else the machine was doing)
 *   --out FILE       where to write (default bench/results/backend-auto-<date>.json)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { main } from '../src/cli/main';
import { SWIFTSHADER_ICD } from '../src/engine/backend/webgpu/node';
import { cliFlag, cliOption } from './cli-args';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const rounds = Number(cliOption('rounds', '5'));
const windows = cliOption('windows', '0:4');
const vulkan = cliOption('vulkan', 'swiftshader');
if (vulkan !== 'swiftshader' && vulkan !== 'lavapipe') throw new Error(`--vulkan ${vulkan}: expected swiftshader or lavapipe`);
process.env.VK_ICD_FILENAMES ??= vulkan === 'lavapipe' ? path.join(root, '.cache/lavapipe/lvp_icd.json') : SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= '/tmp';

const JOB = ['prune', '--model', 'stories260K', '--method', 'wanda', '--sparsity', '0.5', '--dataset', 'tinystories', '--seqlen', '512', '--windows', windows, '--json'];

interface Run {
  ms: number;
  /** The record's timings.wallMs: the job without creating the backend. */
  jobMs: number;
  backend: string;
  device: string;
  pplBefore: number;
  pplAfter: number;
  fallbackReason?: string;
  stderr: string;
}

async function run(backend: string): Promise<Run> {
  let out = '';
  let err = '';
  const t0 = performance.now();
  const code = await main([...JOB, '--backend', backend], { out: (s) => (out += s), err: (s) => (err += s) });
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`--backend ${backend}: exit ${code}: ${err}`);
  const r = JSON.parse(out) as { backend: { name: string; device: string; fallbackReason?: string }; baseline?: { ppl: number }; ppl: number; timings: { wallMs: number } };
  return { ms, jobMs: r.timings.wallMs, backend: r.backend.name, device: r.backend.device, pplBefore: r.baseline?.ppl ?? NaN, pplAfter: r.ppl, ...(r.backend.fallbackReason ? { fallbackReason: r.backend.fallbackReason } : {}), stderr: err.trim() };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const candidates = ['wasm', 'webgpu', ...(cliFlag('no-cpu') ? [] : ['cpu'])];
const loadBefore = os.loadavg();
const started = new Date();
const available: string[] = [];
const unavailable: Record<string, string> = {};
const runs: Record<string, Run[]> = {};
// Round 0 finds which backends work (and warms up module loading and kernel compilation).
for (const b of [...candidates, 'auto']) {
  try {
    await run(b);
    if (b !== 'auto') available.push(b);
  } catch (e) {
    if (b === 'auto') throw e;
    unavailable[b] = e instanceof Error ? e.message : String(e);
    console.log(`${b}: unavailable: ${unavailable[b]}`);
  }
}
const order = [...available, 'auto'];
for (let i = 0; i < rounds; i++) {
  for (const b of [...order.slice(i % order.length), ...order.slice(0, i % order.length)]) {
    const r = await run(b);
    (runs[b] ??= []).push(r);
    console.log(`round ${i + 1}/${rounds}  ${b.padEnd(6)} ${(r.ms / 1000).toFixed(2)} s (job ${(r.jobMs / 1000).toFixed(2)} s)  (${r.backend}: ${r.device})  ppl ${r.pplBefore.toFixed(3)} → ${r.pplAfter.toFixed(3)}  load ${os.loadavg()[0]!.toFixed(2)}`);
  }
}
const loadAfter = os.loadavg();

const medians = Object.fromEntries(Object.entries(runs).map(([b, rs]) => [b, median(rs.map((r) => r.ms))]));
const jobMedians = Object.fromEntries(Object.entries(runs).map(([b, rs]) => [b, median(rs.map((r) => r.jobMs))]));
const fastest = available.reduce((best, b) => (medians[b]! < medians[best]! ? b : best), available[0]!);
const jobFastest = available.reduce((best, b) => (jobMedians[b]! < jobMedians[best]! ? b : best), available[0]!);
const autoRun = runs.auto![0]!;
const ratio = medians.auto! / medians[fastest]!;
const jobRatio = jobMedians.auto! / jobMedians[jobFastest]!;

const result = {
  bench: 'backend-auto',
  date: started.toISOString(),
  machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, platform: `${os.platform()} ${os.release()} ${os.arch()}`, node: process.version, memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1) },
  load: { before: loadBefore, after: loadAfter, note: 'os.loadavg() (1, 5, 15 min) before and after; the machine is shared with other jobs, so the absolute times carry their noise' },
  note: cliOption('note') ?? '',
  job: `studio ${JOB.join(' ')} --backend B (whole command in-process: backend, model load, calibration 64 × 128 tokens, baseline and pruned evaluation)`,
  webgpuAdapter: runs.webgpu?.[0]?.device ?? null,
  vulkan: process.env.VK_ICD_FILENAMES,
  rounds,
  available,
  unavailable,
  autoPicked: { backend: autoRun.backend, device: autoRun.device, ...(autoRun.fallbackReason ? { reason: autoRun.fallbackReason } : {}), stderr: autoRun.stderr },
  mediansMs: Object.fromEntries(Object.entries(medians).map(([b, m]) => [b, Math.round(m)])),
  runsMs: Object.fromEntries(Object.entries(runs).map(([b, rs]) => [b, rs.map((r) => Math.round(r.ms))])),
  jobMediansMs: Object.fromEntries(Object.entries(jobMedians).map(([b, m]) => [b, Math.round(m)])),
  jobRunsMs: Object.fromEntries(Object.entries(runs).map(([b, rs]) => [b, rs.map((r) => Math.round(r.jobMs))])),
  ppl: Object.fromEntries(Object.entries(runs).map(([b, rs]) => [b, { before: rs[0]!.pplBefore, after: rs[0]!.pplAfter }])),
  fastest,
  autoOverFastest: +ratio.toFixed(3),
  jobFastest,
  jobAutoOverFastest: +jobRatio.toFixed(3),
  target: 'Auto / fastest ≤ 1.2',
  meetsTarget: ratio <= 1.2,
  jobMeetsTarget: jobRatio <= 1.2,
};

const stamp = started.toISOString().slice(0, 19).replace(/[:T]/g, '-');
const out = cliOption('out') ?? path.join(root, 'bench/results', `backend-auto-${stamp}.json`);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);

console.log('');
for (const b of order) console.log(`${b.padEnd(6)} median ${(medians[b]! / 1000).toFixed(2)} s, job ${(jobMedians[b]! / 1000).toFixed(2)} s${b === 'auto' ? `  (picked ${autoRun.backend})` : ''}`);
console.log(`Auto picked ${autoRun.backend}${autoRun.fallbackReason ? `: ${autoRun.fallbackReason}` : ''}`);
console.log(`Auto / fastest (${fastest}) = ${ratio.toFixed(2)}× whole command, ${jobRatio.toFixed(2)}× job (${jobFastest}) (target ≤ 1.2×)  load ${loadBefore.map((x) => x.toFixed(2)).join(' ')} → ${loadAfter.map((x) => x.toFixed(2)).join(' ')}`);
console.log(`wrote ${path.relative(process.cwd(), out)}`);

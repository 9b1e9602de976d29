/**
 * Real models at real size (issue 19, item 5): `npx tsx bench/scale.ts [options]`
 *
 * For each model of scripts/make-scale-fixtures.ts (random bf16 weights, the real configs,
 * sharded Hub layout; written first when missing) and each backend, a child process runs
 *
 *   load      the Hub loader, streamed with progress, from the local Hub-layout server
 *             (test/support/hub-server.ts serving the folder from disk, in this process)
 *   evaluate  perplexity of 1 window of 64 tokens (tinystories)
 *
 * and reports each phase's wall time. Host memory is measured from outside: this process
 * samples /proc/<pid>/status of the child (and its descendants, summed) every --sample-ms,
 * keeping each phase's peak VmRSS; the child also resets its own high-water mark at each
 * phase start (`5` > /proc/self/clear_refs) and reports VmHWM at its end, which catches a
 * peak between two samples. Not yet here (issue 19 item 5): Wanda, FLAP, RTN,
 * prune-then-RTN, ONNX export, Chromium, GPU pool peaks.
 *
 *   --models A,B        default SmolLM2-135M
 *   --backends A,B      default wasm,cpu
 *   --fixtures DIR      where the checkpoints are (default .cache/scale-fixtures)
 *   --sample-ms N       sampling period (default 20)
 *   --note TEXT         stored with the result
 *   --out FILE          default bench/results/scale-<date>.json
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SCALE_MODEL_IDS, SCALE_MODELS, writeScaleFixture, type ScaleModelId } from '../scripts/make-scale-fixtures';
import { cliFlag, cliOption } from './cli-args';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SEQLEN = 64;

/** Fields of /proc/<pid>/status in KiB (VmRSS, VmHWM), or null when the process is gone. */
function procStatus(pid: number | 'self'): { rssKiB: number; hwmKiB: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
  } catch {
    return null;
  }
}

/** The pid and its descendants (via /proc/<pid>/task/<tid>/children). */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
        const kids = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids) for (const k of kids.split(/\s+/)) out.push(Number(k));
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// The child: one model on one backend, phase by phase, JSON lines on stdout.

async function child(): Promise<void> {
  const send = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const hubUrl = cliOption('hub-url')!;
  const repoId = cliOption('repo')!;
  const backendName = cliOption('backend', 'cpu');
  const resetHwm = () => {
    try {
      writeFileSync('/proc/self/clear_refs', '5');
      return true;
    } catch {
      return false;
    }
  };
  const phase = async <T>(name: string, f: () => Promise<T>, extra: (r: T) => Record<string, unknown> = () => ({})): Promise<T> => {
    const reset = resetHwm();
    send({ event: 'start', phase: name, hwmReset: reset });
    const t0 = performance.now();
    const r = await f();
    const ms = performance.now() - t0;
    send({ event: 'end', phase: name, ms: Math.round(ms), selfHwmKiB: procStatus('self')?.hwmKiB ?? null, selfRssKiB: procStatus('self')?.rssKiB ?? null, ...extra(r) });
    return r;
  };
  const { makeBackend } = await import('../src/cli/common');
  const { loadHubModel } = await import('../src/engine/hub/load-hub');
  const { parseHubRepo } = await import('../src/engine/hub/repo');
  const { LlamaModel } = await import('../src/engine/model/llama');
  const { evaluatePerplexity } = await import('../src/engine/eval/perplexity');
  const { tokenStream } = await import('../src/engine/data');
  send({ event: 'ready', rssKiB: procStatus('self')?.rssKiB ?? null });
  const be = await phase('backend', () => makeBackend(backendName), (b) => ({ backend: b.backend.info.name, device: b.backend.info.device }));
  let progressEvents = 0;
  let lastReport = 0;
  const { model } = await phase(
    'load',
    () =>
      loadHubModel({
        endpoint: { baseUrl: hubUrl },
        repo: parseHubRepo(repoId),
        onProgress: (p) => {
          progressEvents++;
          const now = performance.now();
          if (now - lastReport > 1000) {
            lastReport = now;
            send({ event: 'progress', phase: 'load', loaded: p.loaded, total: p.total });
          }
        },
      }),
    (r) => ({ weightBytes: r.model.weightBytes, parameters: r.model.parameters, progressEvents }),
  );
  const text = readFileSync(path.join(root, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 4000);
  await phase(
    'evaluate',
    async () => {
      const ids = tokenStream(model.tokenizer, text).ids;
      const lm = new LlamaModel(model.config, be.backend, model.weights);
      try {
        return await evaluatePerplexity(lm, ids, { seqlen: SEQLEN, windows: { start: 0, end: 1 } });
      } finally {
        lm.dispose();
      }
    },
    (r) => ({ ppl: r.ppl, scoredTokens: r.scoredTokens }),
  );
  send({ event: 'done' });
}

// ---------------------------------------------------------------------------------------
// The parent: fixtures, server, children, sampling from outside.

interface PhaseResult {
  ms: number;
  /** Peak of the sampled VmRSS of the child's process tree during the phase (from outside). */
  outsidePeakRssMB: number;
  /** The child's VmHWM at the phase end, reset at its start. */
  selfHwmMB: number | null;
  samples: number;
  [k: string]: unknown;
}

async function runChild(hubUrl: string, repo: string, backend: string, sampleMs: number) {
  const proc = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', '--hub-url', hubUrl, '--repo', repo, '--backend', backend], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = proc.pid!;
  const phases: Record<string, PhaseResult> = {};
  let current: string | null = null;
  let peak = 0;
  let samples = 0;
  let overallPeak = 0;
  let stderr = '';
  let baselineKiB: number | null = null;
  proc.stderr.on('data', (d) => (stderr += String(d)));
  const sample = () => {
    let rss = 0;
    for (const p of processTree(pid)) rss += procStatus(p)?.rssKiB ?? 0;
    if (rss > 0) {
      peak = Math.max(peak, rss);
      overallPeak = Math.max(overallPeak, rss);
      samples++;
    }
  };
  const timer = setInterval(sample, sampleMs);
  const lines = createInterface({ input: proc.stdout });
  const events: Record<string, unknown>[] = [];
  lines.on('line', (line) => {
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    events.push(e);
    if (e.event === 'ready') baselineKiB = (e.rssKiB as number | null) ?? null;
    if (e.event === 'start') {
      sample();
      current = String(e.phase);
      peak = 0;
      samples = 0;
      sample();
    } else if (e.event === 'end' && current) {
      sample();
      const { event: _e, phase: _p, ms, selfHwmKiB, selfRssKiB: _r, ...rest } = e as { event: string; phase: string; ms: number; selfHwmKiB: number | null; selfRssKiB: number | null };
      phases[current] = { ms, outsidePeakRssMB: +(peak / 1024).toFixed(1), selfHwmMB: selfHwmKiB === null ? null : +(selfHwmKiB / 1024).toFixed(1), samples, ...rest };
      console.log(`  ${current.padEnd(9)} ${(ms / 1000).toFixed(2).padStart(7)} s  peak RSS ${(peak / 1024).toFixed(0).padStart(6)} MB (outside, ${samples} samples), VmHWM ${selfHwmKiB === null ? '?' : (selfHwmKiB / 1024).toFixed(0)} MB`);
      current = null;
    } else if (e.event === 'progress') {
      console.log(`  load: ${((e.loaded as number) / 1e6).toFixed(0)} / ${e.total === null ? '?' : ((e.total as number) / 1e6).toFixed(0)} MB`);
    }
  });
  const code: number = await new Promise((resolve) => proc.on('exit', (c) => resolve(c ?? 1)));
  clearInterval(timer);
  const done = events.some((e) => e.event === 'done');
  // baselineRssMB: the child's VmRSS with Node, tsx and the engine's modules loaded, before any phase.
  return { ok: code === 0 && done, exitCode: code, baselineRssMB: baselineKiB === null ? null : +(baselineKiB / 1024).toFixed(1), phases, peakRssMB: +(overallPeak / 1024).toFixed(1), ...(code === 0 && done ? {} : { error: stderr.trim().split('\n').slice(-5).join('\n') }) };
}

async function parent(): Promise<void> {
  const { diskRepoFiles, startHubServer } = await import('../test/support/hub-server');
  const models = (cliOption('models', 'SmolLM2-135M').split(',') as ScaleModelId[]).filter(Boolean);
  for (const m of models) if (!SCALE_MODEL_IDS.includes(m)) throw new Error(`--models: unknown "${m}" (known: ${SCALE_MODEL_IDS.join(', ')})`);
  const backends = cliOption('backends', 'wasm,cpu').split(',').filter(Boolean);
  const fixtures = path.resolve(cliOption('fixtures', path.join(root, '.cache/scale-fixtures')));
  const sampleMs = Number(cliOption('sample-ms', '20'));
  for (const m of models) {
    if (!existsSync(path.join(fixtures, m, 'model.safetensors.index.json'))) {
      console.log(`writing the ${m} fixture to ${path.relative(process.cwd(), fixtures)}`);
      writeScaleFixture(m, fixtures, { log: console.log });
    }
  }
  const server = await startHubServer(Object.fromEntries(models.map((m) => [`scale/${m}`, { files: diskRepoFiles(path.join(fixtures, m)) }])));
  const started = new Date();
  const loadBefore = os.loadavg();
  const runs: Record<string, unknown>[] = [];
  try {
    for (const m of models) {
      const index = JSON.parse(readFileSync(path.join(fixtures, m, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number } };
      const bf16Bytes = index.metadata.total_size;
      for (const b of backends) {
        console.log(`${m} on ${b} (${(bf16Bytes / 1e9).toFixed(2)} GB of bf16)`);
        const r = await runChild(server.url, `scale/${m}`, b, sampleMs);
        if (!r.ok) console.log(`  failed (exit ${r.exitCode}): ${r.error}`);
        const peakOverBf16 = +((r.peakRssMB * 2 ** 20) / bf16Bytes).toFixed(2);
        console.log(`  peak RSS ${r.peakRssMB.toFixed(0)} MB = ${peakOverBf16}× the bf16 bytes`);
        runs.push({ model: m, repo: SCALE_MODELS[m].repo, backend: b, bf16Bytes, ...r, peakOverBf16 });
      }
    }
  } finally {
    await server.close();
  }
  const result = {
    bench: 'scale',
    date: started.toISOString(),
    machine: { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, platform: `${os.platform()} ${os.release()} ${os.arch()}`, node: process.version, memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1) },
    load: { before: loadBefore, after: os.loadavg(), note: 'os.loadavg() (1, 5, 15 min) before and after; the machine is shared with other jobs' },
    note: cliOption('note') ?? '',
    job: `Node child process per model × backend: backend creation; load = Hub loader (streamed, with progress) from the local Hub-layout server serving scripts/make-scale-fixtures.ts output from disk; evaluate = perplexity of 1 window of ${SEQLEN} tokens (tinystories)`,
    memory: `outsidePeakRssMB: max of VmRSS summed over the child's process tree, sampled from /proc/<pid>/status every ${sampleMs} ms by the parent; selfHwmMB: the child's VmHWM at the phase end after a reset (5 > /proc/self/clear_refs) at its start; peakOverBf16: the whole run's sampled peak over the checkpoint's bf16 bytes`,
    notYet: 'Wanda 50 %, FLAP 20 %, RTN 4-bit g32, prune-then-RTN, ONNX export + onnxruntime-web run, L4Q, WebGPU, Chromium, GPU pool peaks (issue 19 item 5)',
    runs,
  };
  const stamp = started.toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const out = cliOption('out') ?? path.join(root, 'bench/results', `scale-${stamp}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}

if (cliFlag('child')) await child();
else await parent();

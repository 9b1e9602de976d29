/**
 * L4Q training benchmark in Chromium: `npx tsx bench/l4q-chromium.ts [--model stories260K|smollm2]
 * [--tokens 128] [--batch 4] [--steps 3] [--layers 2] [--vocab 4096] [--backends webgpu,cpu]`
 *
 * Serves bench/browser-train with Vite (the bundled model from public/), opens it in Debian's
 * Chromium with WebGPU enabled (headless: SwiftShader), and prints the worker's result:
 * joint-phase L4Q steps on our WebGPU backend and on the CPU reference, in the same page.
 */
import { chromeVersion, runBenchPage } from './browser-page';
import { cliFlag, cliOption as opt } from './cli-args';
import { describeTiming, type TrainingTiming } from './l4q-steps';

const query = new URLSearchParams({ model: opt('model', 'stories260K'), tokens: opt('tokens', '128'), batch: opt('batch', '4'), steps: opt('steps', '3'), backends: opt('backends', 'webgpu,cpu') });
for (const k of ['layers', 'vocab']) if (cliFlag(k)) query.set(k, opt(k, ''));

const result = (await runBenchPage('bench/browser-train', query, Number(opt('port', '4299')), 30 * 60_000)) as {
  model: string;
  userAgent: string;
  results: (TrainingTiming & { backend: string; device: string })[];
};
console.log(`${result.model} — ${chromeVersion(result.userAgent)}`);
for (const r of result.results) console.log(`${describeTiming(result.model, `${r.backend} (${r.device})`, r)}; losses ${r.losses.map((l) => l.toFixed(4)).join(' ')}`);

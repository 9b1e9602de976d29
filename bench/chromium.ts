/**
 * Forward-pass benchmark in Chromium: `npx tsx bench/chromium.ts [--model stories260K|smollm2]
 * [--tokens 512] [--reps 3] [--layers N] [--backends webgpu,cpu] [--timeout-min 60]`
 *
 * Serves bench/browser with Vite (the bundled model from public/), opens it in Debian's
 * Chromium with WebGPU enabled (headless: SwiftShader), and prints the worker's result: our
 * WebGPU backend against the CPU reference in the same page, on the same tokens.
 */
import { chromeVersion, runBenchPage } from './browser-page';
import { cliFlag, cliOption as opt } from './cli-args';

const query = new URLSearchParams({ model: opt('model', 'stories260K'), tokens: opt('tokens', '512'), reps: opt('reps', '3') });
if (cliFlag('layers')) query.set('layers', opt('layers', '30'));
if (cliFlag('backends')) query.set('backends', opt('backends', 'webgpu,cpu'));
// The 135M shape's forward takes minutes per backend on a software adapter and on the CPU.
const timeoutMs = Number(opt('timeout-min', '60')) * 60_000;

const result = (await runBenchPage('bench/browser', query, Number(opt('port', '4298')), timeoutMs)) as {
  model: string;
  userAgent: string;
  results: { backend: string; device: string; tokens: number; ms: number; tokensPerSecond: number; matmulKernel?: string; matmulShare?: number; attention?: string; attentionShare?: number }[];
};
console.log(`${result.model} — ${chromeVersion(result.userAgent)}`);
for (const r of result.results) {
  const extra = r.backend === 'webgpu' ? ` | matmul ${r.matmulKernel}, ${Math.round(r.matmulShare! * 100)}% of forward | attention ${r.attention}, ${Math.round(r.attentionShare! * 100)}%` : '';
  console.log(`${r.backend} (${r.device}) | ${r.tokens} tokens | ${r.ms} ms | ${r.tokensPerSecond} tokens/s${extra}`);
}

/**
 * Our WebGPU backend against onnxruntime-web's WebGPU EP in Chromium, on the same adapter:
 * `npx tsx bench/ort-webgpu.ts [--models stories260K,smollm2] [--tokens 512] [--smol-tokens 32]
 * [--reps 3] [--variants dense,flap,q4] [--port 4216] [--timeout-min 60]`
 *
 * Builds bench/ort-webgpu.html with Vite (public/ copied for the bundled model), serves it
 * with vite preview, opens it in Chromium (CHROMIUM_PATH, default /usr/bin/chromium, with
 * --enable-unsafe-webgpu; on a machine without a GPU that is SwiftShader) and prints the
 * page's medians as a Markdown table. The page (ort-webgpu-page.ts) runs one forward pass
 * of T tokens in each engine alternately, after a warm-up, and checks their logits agree.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import { build, preview } from 'vite';
import { cliOption as opt } from './cli-args';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const port = Number(opt('port', '4216'));

// A production build of the page (the dev server re-optimizes dependencies and reloads the
// page mid-run), with public/ (the bundled model) copied next to it, served by vite preview.
const outDir = mkdtempSync(path.join(tmpdir(), 'ort-webgpu-bench-'));
await build({
  root,
  configFile: false,
  logLevel: 'warn',
  appType: 'mpa',
  worker: { format: 'es' },
  build: { outDir, emptyOutDir: true, sourcemap: false, rollupOptions: { input: path.join(root, 'bench/ort-webgpu.html') } },
});
// A missing file must be a 404 (the loader probes for a shard index), not index.html.
const server = await preview({ root, configFile: false, logLevel: 'warn', appType: 'mpa', build: { outDir }, preview: { host: '127.0.0.1', port, strictPort: true } });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--enable-unsafe-webgpu', '--disable-quic', '--no-first-run'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') console.error(`page: ${m.text()}`);
  });
  const query = new URLSearchParams({
    models: opt('models', 'stories260K'),
    tokens: opt('tokens', '512'),
    smolTokens: opt('smol-tokens', '32'),
    reps: opt('reps', '3'),
    variants: opt('variants', 'dense,flap,q4'),
  });
  await page.goto(`http://127.0.0.1:${port}/bench/ort-webgpu.html?${query}`);
  // Partial results (rows finished so far) are printed if the page does not finish in time.
  await page.waitForSelector('#out[data-done]', { timeout: Number(opt('timeout-min', '60')) * 60_000 }).catch(() => console.error('timed out: partial results'));
  const text = (await page.textContent('#out')) ?? '';
  if (text.startsWith('error')) throw new Error(text);
  const r = JSON.parse(text) as { adapter: string; isFallback: boolean | null; ort: string; rows: { model: string; variant: string; tokens: number; oursMs: number; ortMs: number; logitsRelDiff: number }[] };
  console.log(`# Chromium ${browser.version()}, adapter "${r.adapter}"${r.isFallback ? ' (fallback adapter)' : ''}, onnxruntime-web ${r.ort} WebGPU EP; medians of ${opt('reps', '3')} alternating runs`);
  console.log('| model | variant | tokens | ours (WebGPU backend) ms | ORT WebGPU EP ms | ORT / ours | logits max|Δ|/max |');
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const x of r.rows) console.log(`| ${x.model} | ${x.variant} | ${x.tokens} | ${x.oursMs.toFixed(1)} | ${x.ortMs.toFixed(1)} | ${(x.ortMs / x.oursMs).toFixed(2)}× | ${x.logitsRelDiff.toExponential(1)} |`);
} finally {
  await browser.close();
  await server.close();
  rmSync(outDir, { recursive: true, force: true });
}

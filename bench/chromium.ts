/**
 * Forward-pass benchmark in Chromium: `npx tsx bench/chromium.ts [--model stories260K|smollm2]
 * [--tokens 512] [--reps 3] [--layers N] [--backends webgpu,cpu] [--timeout-min 60]`
 *
 * Serves bench/browser with Vite (the bundled model from public/), opens it in Debian's
 * Chromium with WebGPU enabled (headless: SwiftShader), and prints the worker's result: our
 * WebGPU backend against the CPU reference in the same page, on the same tokens.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import { createServer } from 'vite';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const query = new URLSearchParams({ model: opt('model', 'stories260K'), tokens: opt('tokens', '512'), reps: opt('reps', '3') });
if (args.includes('--layers')) query.set('layers', opt('layers', '30'));
if (args.includes('--backends')) query.set('backends', opt('backends', 'webgpu,cpu'));
// The 135M shape's forward takes minutes per backend on a software adapter and on the CPU.
const timeoutMs = Number(opt('timeout-min', '60')) * 60_000;

const server = await createServer({
  configFile: false,
  root: path.join(root, 'bench/browser'),
  publicDir: path.join(root, 'public'),
  logLevel: 'warn',
  // Real 404s for missing files (the loader probes for a sharded index first).
  appType: 'mpa',
  server: { host: '127.0.0.1', port: Number(opt('port', '4298')), strictPort: true },
});
await server.listen();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu'],
});
try {
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error(`[page] ${m.text()}`));
  await page.goto(`http://127.0.0.1:${server.config.server.port}/?${query}`);
  await page.waitForSelector('#result[data-done]', { timeout: timeoutMs });
  const result = JSON.parse((await page.textContent('#result')) ?? '{}');
  if (result.error) throw new Error(result.error);
  console.log(`${result.model} — ${result.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? result.userAgent}`);
  for (const r of result.results) {
    const extra = r.backend === 'webgpu' ? ` | matmul ${r.matmulKernel}, ${Math.round(r.matmulShare * 100)}% of forward | attention ${r.attention}, ${Math.round(r.attentionShare * 100)}%` : '';
    console.log(`${r.backend} (${r.device}) | ${r.tokens} tokens | ${r.ms} ms | ${r.tokensPerSecond} tokens/s${extra}`);
  }
} finally {
  await browser.close();
  await server.close();
}

/**
 * L4Q training benchmark in Chromium: `npx tsx bench/l4q-chromium.ts [--model stories260K|smollm2]
 * [--tokens 128] [--batch 4] [--steps 3] [--layers 2] [--vocab 4096] [--backends webgpu,cpu]`
 *
 * Serves bench/browser-train with Vite (the bundled model from public/), opens it in Debian's
 * Chromium with WebGPU enabled (headless: SwiftShader), and prints the worker's result:
 * joint-phase L4Q steps on our WebGPU backend and on the CPU reference, in the same page.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import { createServer } from 'vite';
import { describeTiming, type TrainingTiming } from './l4q-steps';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const query = new URLSearchParams({ model: opt('model', 'stories260K'), tokens: opt('tokens', '128'), batch: opt('batch', '4'), steps: opt('steps', '3'), backends: opt('backends', 'webgpu,cpu') });
for (const k of ['layers', 'vocab']) if (args.includes(`--${k}`)) query.set(k, opt(k, ''));

const server = await createServer({
  configFile: false,
  root: path.join(root, 'bench/browser-train'),
  publicDir: path.join(root, 'public'),
  logLevel: 'warn',
  appType: 'mpa',
  server: { host: '127.0.0.1', port: Number(opt('port', '4299')), strictPort: true },
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
  await page.waitForSelector('#result[data-done]', { timeout: 30 * 60_000 });
  const result = JSON.parse((await page.textContent('#result')) ?? '{}');
  if (result.error) throw new Error(result.error);
  console.log(`${result.model} — ${result.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? result.userAgent}`);
  for (const r of result.results as (TrainingTiming & { backend: string; device: string; error?: string })[]) {
    console.log(r.error ? `${r.backend} (${r.device}): ${r.error}` : `${describeTiming(result.model, `${r.backend} (${r.device})`, r)}; losses ${r.losses.map((l) => l.toFixed(4)).join(' ')}`);
  }
} finally {
  await browser.close();
  await server.close();
}

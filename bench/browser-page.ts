/**
 * Runs one of the in-browser benchmark pages (bench/browser, bench/browser-train): serves the
 * page's folder with Vite (the bundled model from public/), opens it in Debian's Chromium
 * with WebGPU enabled (headless: SwiftShader here), waits for the page's worker to fill
 * #result and returns that JSON. Shared by bench/chromium.ts and bench/l4q-chromium.ts.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import { createServer } from 'vite';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function runBenchPage(pageDir: string, query: URLSearchParams, port: number, timeoutMs: number): Promise<{ userAgent: string; [k: string]: unknown }> {
  const server = await createServer({
    configFile: false,
    root: path.join(root, pageDir),
    publicDir: path.join(root, 'public'),
    logLevel: 'warn',
    // Real 404s for missing files (the loader probes for a sharded index first).
    appType: 'mpa',
    server: { host: '127.0.0.1', port, strictPort: true },
  });
  await server.listen();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-unsafe-webgpu'],
  });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => m.type() === 'error' && console.error(`[page] ${m.text()}`));
    await page.goto(`http://127.0.0.1:${port}/?${query}`);
    await page.waitForSelector('#result[data-done]', { timeout: timeoutMs });
    const result = JSON.parse((await page.textContent('#result')) ?? '{}');
    if (result.error) throw new Error(result.error);
    return result;
  } finally {
    await browser.close();
    await server.close();
  }
}

/** "Chrome/156.0.0.0" out of a user agent string. */
export function chromeVersion(userAgent: string): string {
  return userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? userAgent;
}

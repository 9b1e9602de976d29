import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { EVAL_TIMEOUT, evaluateWindows, openStudio, parsePpl } from './helpers';

// Chromium without --enable-unsafe-webgpu: navigator.gpu exists but offers no adapter, as on
// a machine whose GPU the browser will not use. 'Auto' must then run on the CPU
// (WebAssembly SIMD) backend and say why WebGPU is not in use.
test.use({
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // As playwright.config.ts: Chromium's crash handler writes under XDG_CONFIG_HOME.
    env: { ...process.env, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME ?? mkdtempSync(join(tmpdir(), 'pq-studio-chromium-')) },
  },
});

test("without a WebGPU adapter 'Auto' falls back to the CPU (WebAssembly SIMD) backend", async ({ page }) => {
  const pageErrors = await openStudio(page);
  const panel = page.getByTestId('model-panel');
  await expect(panel.getByLabel('Backend')).toHaveValue('auto');
  await expect(panel.getByTestId('model-backend')).toContainText(/^wasm — CPU \(WebAssembly SIMD/);
  await expect(panel.getByTestId('backend-fallback')).toContainText('WebGPU is not in use');
  await expect(page.getByTestId('webgpu-banner')).toContainText('The engine runs on the CPU (WebAssembly SIMD).');
  await evaluateWindows(page, '0:1');
  const ppl = page.getByTestId('ppl-value');
  await expect(ppl).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  expect(parsePpl(await ppl.textContent())).toBeGreaterThan(2);
  await expect(page.getByTestId('result-card').first()).toContainText(/wasm — CPU \(WebAssembly SIMD/);
  expect(pageErrors).toEqual([]);
});

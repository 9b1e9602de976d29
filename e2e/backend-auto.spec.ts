/**
 * Auto chooses by expected speed, not by name: headless Chromium here (with
 * --enable-unsafe-webgpu, playwright.config.ts) offers only the SwiftShader adapter, a
 * software renderer slower than the CPU (WebAssembly SIMD) backend, so Auto runs on the
 * CPU; the banner and the model panel say so and why; WebGPU chosen in the Backend menu
 * runs on the software adapter anyway, and Auto again goes back to the CPU.
 */
import { expect, test } from '@playwright/test';
import { EVAL_TIMEOUT, chooseBackend, evaluateWindows, openStudio, parsePpl } from './helpers';

test('Auto passes the software WebGPU adapter over for the CPU (WebAssembly SIMD) backend and says why; WebGPU can still be chosen', async ({ page }) => {
  const pageErrors = await openStudio(page);
  const panel = page.getByTestId('model-panel');
  const banner = page.getByTestId('webgpu-banner');
  await expect(panel.getByLabel('Backend')).toHaveValue('auto');

  // The page has the adapter, and says it is a software renderer.
  await expect(banner).toContainText(/WebGPU .*swiftshader/i);
  await expect(banner).toContainText('(software renderer: SwiftShader)');
  // Which backend runs, and why.
  await expect(panel.getByTestId('model-backend')).toContainText(/^wasm — CPU \(WebAssembly SIMD/);
  await expect(panel.getByTestId('backend-reason')).toHaveText(' · Auto: the WebGPU adapter is a software renderer, slower than the CPU backend here');
  const fallback = panel.getByTestId('backend-fallback');
  await expect(fallback).toContainText(/WebGPU is not in use: WebGPU adapter google swiftshader.* is a software renderer \(slower than the CPU backend here\)/i);
  await expect(fallback).toContainText('choose WebGPU in the Backend menu to use it anyway');
  await expect(banner.getByTestId('engine-backend')).toHaveText(
    'The engine runs on the CPU (WebAssembly SIMD): the WebGPU adapter is a software renderer (slower than the CPU backend here); choose WebGPU in the Backend menu to use it anyway.',
  );

  // A run on Auto is a wasm run, and its record says why WebGPU was not used.
  await page.getByLabel('Sequence length').fill('128');
  await evaluateWindows(page, '0:1');
  const ppl = page.getByTestId('ppl-value');
  await expect(ppl).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  const card = page.getByTestId('result-card').first();
  await expect(card).toContainText(/wasm — CPU \(WebAssembly SIMD/);
  await expect(card).toContainText(/Fallback: WebGPU adapter .*swiftshader.* is a software renderer/i);
  const onAuto = parsePpl(await ppl.first().textContent());

  // Chosen in the menu, WebGPU runs on the software adapter.
  await chooseBackend(page, 'webgpu');
  await expect(panel.getByTestId('model-backend')).toContainText(/^webgpu — .*swiftshader/i);
  await expect(panel.getByTestId('backend-reason')).toHaveText(' · chosen in the Backend menu (the WebGPU adapter is a software renderer, slower than the CPU backend here)');
  await expect(fallback).toHaveCount(0);
  await expect(banner.getByTestId('engine-backend')).toHaveText('The engine runs on WebGPU.');
  await evaluateWindows(page, '0:1');
  await expect(ppl).toHaveCount(2, { timeout: EVAL_TIMEOUT });
  await expect(page.getByTestId('result-card').first()).toContainText(/webgpu — .*swiftshader/i);
  await expect(page.getByTestId('result-card').first()).not.toContainText('Fallback:');
  // The same model on both: the perplexities agree to what 3 decimals show (1e-4 relative).
  expect(Math.abs(parsePpl(await ppl.first().textContent()) - onAuto)).toBeLessThanOrEqual(0.0011);

  // Back on Auto: the CPU again.
  await panel.getByLabel('Backend').selectOption('auto');
  await expect(panel.getByTestId('model-backend')).toContainText(/^wasm — CPU \(WebAssembly SIMD/);
  await expect(fallback).toContainText('is a software renderer');
  expect(pageErrors).toEqual([]);
});

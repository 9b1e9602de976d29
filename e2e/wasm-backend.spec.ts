import { expect, test } from '@playwright/test';
import { EVAL_TIMEOUT, evaluateWindows, openStudio, parsePpl } from './helpers';

// The WebAssembly SIMD backend in the page's worker, under the site's Content-Security-Policy
// (the preview server sends it; compiling the kernels needs 'wasm-unsafe-eval').
test('the CPU (WebAssembly SIMD) backend runs in the browser and matches the CPU reference', async ({ page }) => {
  const pageErrors = await openStudio(page);
  // The policy really is in force, and allows compiling WebAssembly but not evaluating strings.
  const csp = (await page.request.get('./')).headers()['content-security-policy'] ?? '';
  expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
  expect(csp).not.toContain("'unsafe-eval'");
  const panel = page.getByTestId('model-panel');
  await panel.getByLabel('Backend').selectOption('wasm');
  await expect(panel.getByTestId('model-backend')).toContainText(/^wasm — CPU \(WebAssembly SIMD, f32, 1 thread\)/);
  await evaluateWindows(page, '1:2');
  const ppl = page.getByTestId('ppl-value');
  await expect(ppl).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  await expect(page.getByTestId('result-card').first()).toContainText(/wasm — CPU \(WebAssembly SIMD/);
  const wasm = parsePpl(await ppl.first().textContent());

  await panel.getByLabel('Backend').selectOption('cpu');
  await expect(panel.getByTestId('model-backend')).toContainText(/^cpu — /);
  await evaluateWindows(page, '1:2');
  await expect(ppl).toHaveCount(2, { timeout: EVAL_TIMEOUT });
  const cpu = parsePpl(await ppl.first().textContent());
  // Shown to 3 decimals; the backends agree to 1e-4 relative (test/wasm-backend.test.ts).
  expect(Math.abs(wasm - cpu)).toBeLessThanOrEqual(0.0011);
  expect(pageErrors).toEqual([]);
});

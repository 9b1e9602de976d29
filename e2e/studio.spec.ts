import { expect, test, type Page } from '@playwright/test';
import { EVAL_TIMEOUT, LOAD_TIMEOUT, chooseBackend, evaluateWindows, holdAt, openStudio, parsePpl, releaseHold, waitForHold } from './helpers';

test('loads stories260K and evaluates TinyStories perplexity', async ({ page }, testInfo) => {
  const pageErrors = await openStudio(page, { testHooks: true });

  const panel = page.getByTestId('model-panel');
  await expect(panel).toContainText('stories260K');
  await expect(panel).toContainText('LlamaForCausalLM');
  await expect(panel.getByTestId('model-layers')).toHaveText('5');
  // Auto is the default; on headless Chromium's SwiftShader adapter it runs on the CPU
  // (backend-auto.spec.ts). This flow is checked on WebGPU, chosen in the Backend menu.
  await expect(panel.getByLabel('Backend')).toHaveValue('auto');
  await chooseBackend(page, 'webgpu');
  await expect(panel.getByTestId('model-backend')).toContainText(/^webgpu — .*swiftshader/i);
  await expect(panel.getByTestId('backend-fallback')).toHaveCount(0);
  await expect(page.getByLabel('Dataset')).toHaveValue('tinystories');
  await expect(page.getByLabel('Sequence length')).toHaveValue('512');

  // Held at its first window while the progress bar and Cancel are checked.
  await holdAt(page, 'evaluate', 0);
  await evaluateWindows(page, '0:2');
  await waitForHold(page);
  await expect(page.getByTestId('job-progress')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Cancel' })).toBeVisible();
  await releaseHold(page);

  const ppl = page.getByTestId('ppl-value');
  await expect(ppl).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  const value = parsePpl(await ppl.textContent());
  expect(Number.isFinite(value)).toBe(true);
  expect(value).toBeGreaterThan(2);
  expect(value).toBeLessThan(8);
  await expect(ppl).toHaveText(/^\d+\.\d{3}$/);

  const protocol = page.getByTestId('protocol');
  await expect(protocol).toContainText('tinystories');
  await expect(protocol).toContainText('windows 0:2');
  await expect(protocol).toContainText('seqlen 512');
  await expect(page.getByTestId('result-card')).toContainText(/Scored tokens\s*1,022/);
  await expect(page.getByTestId('result-card')).toContainText(/webgpu — .*swiftshader/i);

  // The job is over: no progress bar, no alert.
  await expect(page.getByTestId('job-progress')).toHaveCount(0);
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(pageErrors).toEqual([]);

  const shot = testInfo.outputPath('studio.png');
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach('studio', { path: shot, contentType: 'image/png' });
});

test('out-of-range windows show an alert and the studio keeps working', async ({ page }) => {
  const pageErrors = await openStudio(page);

  await evaluateWindows(page, '0:99999');
  const alert = page.getByRole('alert');
  await expect(alert).toBeVisible({ timeout: EVAL_TIMEOUT });
  await expect(alert).toContainText('0:99999');
  await expect(alert).toContainText('out of range');
  await expect(page.getByTestId('ppl-value')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Evaluate', exact: true })).toBeEnabled();

  // A valid run afterwards succeeds; the alert stays until dismissed.
  await evaluateWindows(page, '0:1');
  const ppl = page.getByTestId('ppl-value');
  await expect(ppl).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  const value = parsePpl(await ppl.textContent());
  expect(value).toBeGreaterThan(1);
  expect(value).toBeLessThan(20);
  await expect(page.getByTestId('protocol')).toContainText('windows 0:1');
  await expect(alert).toBeVisible();

  await alert.getByRole('button', { name: /Dismiss/ }).click();
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(page.getByTestId('ppl-value')).toHaveCount(1);
  expect(pageErrors).toEqual([]);
});

test('cancelling an evaluation keeps earlier results', async ({ page }, testInfo) => {
  await openStudio(page, { testHooks: true });

  await evaluateWindows(page, '0:1');
  await expect(page.getByTestId('ppl-value')).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  const first = await page.getByTestId('ppl-value').textContent();

  // Held after its first window: running (and with a rate) whenever Cancel is pressed.
  await holdAt(page, 'evaluate', 1);
  await evaluateWindows(page, '0:50');
  await waitForHold(page);
  await expect(page.getByTestId('job-progress')).toBeVisible();
  // Once a window is done the progress line shows a time estimate.
  await expect(page.getByTestId('job-eta')).toHaveText(/^about .+ left$/, { timeout: EVAL_TIMEOUT });
  await expect(page.getByTestId('job-progress')).not.toHaveAttribute('value', '0');
  await expect(page.getByTestId('job-phase')).toContainText('Evaluating');
  const shot = testInfo.outputPath('studio-running.png');
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach('studio-running', { path: shot, contentType: 'image/png' });
  await page.getByRole('button', { name: 'Cancel' }).click();

  const alert = page.getByRole('alert');
  await expect(alert).toContainText('cancelled', { timeout: EVAL_TIMEOUT });
  await expect(page.getByTestId('job-progress')).toHaveCount(0);
  await expect(page.getByTestId('ppl-value')).toHaveCount(1);
  await expect(page.getByTestId('ppl-value')).toHaveText(first ?? '');
  await expect(page.getByRole('button', { name: 'Evaluate', exact: true })).toBeEnabled();
});

test('pasted and uploaded text are evaluated; a bad seqlen is refused', async ({ page }) => {
  const pageErrors = await openStudio(page);
  const text = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog. '.repeat(8);

  await page.getByLabel('Dataset').selectOption('paste');
  await page.getByLabel('Text to evaluate').fill(text);
  await page.getByLabel('Sequence length').fill('600');
  await evaluateWindows(page, '0:1');
  await expect(page.getByRole('alert')).toContainText('from 2 to 512');
  await page.getByRole('alert').getByRole('button', { name: /Dismiss/ }).click();

  await page.getByLabel('Sequence length').fill('64');
  await evaluateWindows(page, '0:2');
  await expect(page.getByTestId('ppl-value')).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  await expect(page.getByTestId('protocol')).toContainText('pasted text · seqlen 64 · windows 0:2');
  expect(parsePpl(await page.getByTestId('ppl-value').textContent())).toBeGreaterThan(1);

  await page.getByLabel('Dataset').selectOption('file');
  await page.getByLabel('Text file (.txt, UTF-8)').setInputFiles({ name: 'lily.txt', mimeType: 'text/plain', buffer: Buffer.from(text, 'utf-8') });
  await expect(page.getByText(/lily\.txt · /)).toBeVisible();
  await evaluateWindows(page, '1');
  await expect(page.getByTestId('ppl-value')).toHaveCount(2, { timeout: EVAL_TIMEOUT });
  await expect(page.getByTestId('protocol').first()).toContainText('lily.txt · seqlen 64 · windows 1:2');
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(pageErrors).toEqual([]);
});

test('a failed model load is shown and can be retried', async ({ page }) => {
  await page.route('**/models/stories260K/model.safetensors', (route) => route.fulfill({ status: 404, body: 'missing' }));
  await page.goto('/');
  await expect(page.getByTestId('model-status')).toHaveText('load failed', { timeout: LOAD_TIMEOUT });
  await expect(page.getByRole('alert')).toContainText('model.safetensors');
  await expect(page.getByRole('alert')).toContainText('404');
  await expect(page.getByRole('button', { name: 'Evaluate', exact: true })).toBeDisabled();

  await page.unroute('**/models/stories260K/model.safetensors');
  await page.getByRole('button', { name: /^(Try again|Load stories260K)$/ }).click();
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
  await expect(page.getByTestId('model-panel')).toContainText('stories260K');
  await expect(page.getByRole('alert')).toBeVisible();
});

test('the WebGPU and CPU backends give the same perplexity in the browser', async ({ page }) => {
  await openStudio(page);
  await chooseBackend(page, 'webgpu');
  await evaluateWindows(page, '1:2');
  const ppl = page.getByTestId('ppl-value');
  await expect(ppl).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  await expect(page.getByTestId('result-card').first()).toContainText(/webgpu/);
  const gpu = parsePpl(await ppl.first().textContent());

  await page.getByTestId('model-panel').getByLabel('Backend').selectOption('cpu');
  await expect(page.getByTestId('model-backend')).toContainText(/^cpu — /);
  await evaluateWindows(page, '1:2');
  await expect(ppl).toHaveCount(2, { timeout: EVAL_TIMEOUT });
  await expect(page.getByTestId('result-card').first()).toContainText(/cpu — /);
  const cpu = parsePpl(await ppl.first().textContent());
  expect(cpu).toBe(gpu);
});

/** Dense eval + calibration + pruning + pruned eval of one window, in a browser. */
const PRUNE_TIMEOUT = 240_000;

async function setCalibration(page: Page, samples: string, tokens: string) {
  await page.getByLabel('Samples', { exact: true }).fill(samples);
  await page.getByLabel('Tokens per sample', { exact: true }).fill(tokens);
}

test('Wanda 50% prunes the model and shows perplexity before and after', async ({ page }, testInfo) => {
  const pageErrors = await openStudio(page, { testHooks: true });
  await page.getByLabel('Windows', { exact: true }).fill('0:1');

  const method = page.getByTestId('method-panel');
  await method.getByLabel('Pruning method').selectOption('wanda');
  await expect(method.getByTestId('method-explanation')).toContainText('‖X_j‖₂');
  await expect(method.getByLabel('Calibration order')).toHaveValue('sequential');
  await expect(method.getByLabel('Pattern')).toHaveValue('unstructured');
  await expect(method.getByLabel('Offset')).toHaveValue('200000');
  await method.getByLabel('Sparsity', { exact: true }).fill('0.5');
  await setCalibration(page, '4', '64');
  // Held at the start of calibration while the progress bar and Cancel are checked.
  await holdAt(page, 'calibrate', 0);
  await page.getByRole('button', { name: 'Prune & evaluate' }).click();
  await waitForHold(page);
  await expect(page.getByTestId('job-progress')).toBeVisible();
  await expect(page.getByTestId('runs-panel').getByRole('button', { name: 'Cancel' })).toBeVisible();
  await releaseHold(page);

  const after = page.getByTestId('ppl-value');
  await expect(after).toHaveCount(1, { timeout: PRUNE_TIMEOUT });
  const before = parsePpl(await page.getByTestId('ppl-before').textContent());
  const value = parsePpl(await after.textContent());
  expect(before).toBeGreaterThan(2);
  expect(before).toBeLessThan(8);
  expect(value).toBeGreaterThan(before);

  const card = page.getByTestId('result-card');
  await expect(card.getByTestId('sparsity-value')).toHaveText(/^50\.00% zeros$/);
  await expect(card.getByTestId('method-text')).toContainText('Wanda');
  await expect(card.getByTestId('method-text')).toContainText('sequential');
  await expect(card.getByTestId('ppl-chart')).toContainText('Perplexity before/after');
  await expect(card.getByTestId('ppl-chart')).toContainText('windows 0:1');
  await expect(card.getByTestId('ppl-chart').locator('svg').first()).toBeVisible();
  await expect(card).toContainText('tinystories · 4 × 64 tokens');
  // Window 0 is far from the calibration tokens (from 200,000): a held-out number, no warning.
  await expect(card.getByTestId('calibration-overlap')).toHaveCount(0);
  await expect(card.getByTestId('layer-table')).toHaveCount(0);
  await expect(page.getByTestId('job-progress')).toHaveCount(0);
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(pageErrors).toEqual([]);

  const shot = testInfo.outputPath('studio-wanda.png');
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach('studio-wanda', { path: shot, contentType: 'image/png' });
});

test('FLAP 20% AL-AM removes heads and channels and lists them per layer', async ({ page }, testInfo) => {
  const pageErrors = await openStudio(page);
  // Window 390 (tokens 199,680 … 200,191) holds the first calibration tokens: the card must say so.
  await page.getByLabel('Windows', { exact: true }).fill('390:391');

  const method = page.getByTestId('method-panel');
  await method.getByLabel('Pruning method').selectOption('flap');
  await expect(method.getByLabel('Pruning ratio', { exact: true })).toHaveValue('0.2');
  await expect(method.getByLabel('Metric')).toHaveValue('WIFV');
  await expect(method.getByLabel('Structure')).toHaveValue('AL-AM');
  await expect(method.getByLabel('Head cost')).toHaveValue('truncated');
  await expect(method.getByLabel(/Bias compensation/)).toBeChecked();
  await setCalibration(page, '4', '64');
  await page.getByRole('button', { name: 'Prune & evaluate' }).click();

  const table = page.getByTestId('layer-table');
  await expect(table).toBeVisible({ timeout: PRUNE_TIMEOUT });
  await expect(table.locator('tbody tr')).toHaveCount(5);
  await expect(page.getByTestId('sparsity-value')).toHaveText(/% parameters removed$/);
  await expect(page.getByTestId('method-text')).toContainText('AL-AM');
  await expect(page.getByTestId('calibration-overlap')).toContainText('1 of the 1 evaluation windows (window 390) contain calibration tokens');
  expect(parsePpl(await page.getByTestId('ppl-value').textContent())).toBeGreaterThan(parsePpl(await page.getByTestId('ppl-before').textContent()));
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(pageErrors).toEqual([]);

  const shot = testInfo.outputPath('studio-flap.png');
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach('studio-flap', { path: shot, contentType: 'image/png' });
});

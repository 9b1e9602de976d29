/** L4Q in the page: training in the worker with a live loss curve, pause/resume, the merged integer model's result. */
import { expect, test } from '@playwright/test';
import { EVAL_TIMEOUT, chooseBackend, holdAt, openStudio, parkedJobs, parsePpl, releaseHold, waitForHold } from './helpers';

test('L4Q trains in the worker with a live loss curve, pauses and resumes, and reports the integer model', async ({ page }) => {
  // A page that reports 1 MiB of RAM: the memory estimate must warn (stories260K needs ~13 MiB).
  await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'deviceMemory', { get: () => 1 / 1024 }));
  const errors = await openStudio(page, { testHooks: true });
  // Training on WebGPU is what this checks: choose it (Auto runs on the CPU on SwiftShader).
  await chooseBackend(page, 'webgpu');
  await page.getByLabel('Windows', { exact: true }).fill('0:1');
  const panel = page.getByTestId('l4q-panel');
  await expect(panel.getByTestId('l4q-memory-estimate')).toContainText('more than half of the 1.00 MiB of memory this device reports');
  await panel.getByLabel('Bits').selectOption('3');
  await expect(panel.getByTestId('l4q-explanation')).toContainText('clamp((W′ − b)/s, -4, 3)');
  await panel.getByLabel('Steps (all)').fill('40');
  await panel.getByLabel('LoRA-only warm-up steps').fill('1');
  await panel.getByLabel('Windows per step').fill('1');
  await panel.getByLabel('Training windows', { exact: true }).fill('4');
  // Short windows keep the software adapter's 40 steps quick (the default is 512 tokens).
  await expect(panel.getByLabel(/Tokens per window/)).toHaveValue('512');
  await panel.getByLabel(/Tokens per window/).fill('128');
  // Held after its first step, so that Pause comes while it trains (on any machine).
  await holdAt(page, 'train', 1);
  await panel.getByTestId('l4q-button').click();

  const status = panel.getByTestId('l4q-status');
  await waitForHold(page);
  await expect(status).toContainText('step 1 of 40');
  await expect(panel.getByTestId('l4q-loss-chart')).toBeVisible();
  await panel.getByTestId('l4q-pause').click();
  await expect(status).toContainText('paused');
  // Let go, it stops at its pause gate before the next step: nothing moves while it waits there.
  await releaseHold(page);
  await expect.poll(() => parkedJobs(page), { timeout: EVAL_TIMEOUT }).toHaveLength(1);
  await expect(status).toContainText(/^step 1 of 40 · paused · last loss/);
  await panel.getByTestId('l4q-resume').click();

  const result = panel.getByTestId('l4q-result');
  await expect(result).toBeVisible({ timeout: EVAL_TIMEOUT });
  await expect(status).toContainText('finished: 40 steps');
  const ppl = parsePpl(await result.locator('strong').first().textContent());
  expect(ppl).toBeGreaterThan(2);
  expect(ppl).toBeLessThan(20);
  await expect(result).toContainText('bits per');
  // The page runs on WebGPU (SwiftShader here, chosen above), and the worker trains on it too.
  await expect(result).toContainText(/trained on WebGPU \(.*swiftshader/i);
  await expect(page.getByTestId('result-card').first().getByTestId('method-text')).toContainText('L4Q');
  // The training windows the form asked for are the ones the record says it used.
  await expect(page.getByTestId('result-card').first()).toContainText('tinystories · 4 × 128 tokens');
  expect(errors).toEqual([]);
});

test('L4Q at 4 and 3 bits with the RTN-then-LoRA baseline: the result and the perplexity-vs-bits chart', async ({ page }) => {
  const errors = await openStudio(page);
  await page.getByLabel('Sequence length').fill('64');
  await page.getByLabel('Windows', { exact: true }).fill('0:1');
  const panel = page.getByTestId('l4q-panel');
  // Before training: the estimate of the defaults, the stories260K numbers of docs/benchmarks.md.
  const estimate = panel.getByTestId('l4q-memory-estimate');
  await expect(estimate).toContainText('LoRA 180.6 KiB, s/b 56.9 KiB, Adam 475.0 KiB, activations of one 512-token window 10.64 MiB, weight gradients Γ 885.0 KiB');
  await panel.getByLabel('Steps (all)').fill('3');
  await panel.getByLabel('LoRA-only warm-up steps').fill('1');
  await panel.getByLabel('Training windows', { exact: true }).fill('2');
  await panel.getByLabel(/Tokens per window/).fill('64');
  await expect(estimate).toContainText('activations of one 64-token window 1.31 MiB');
  await panel.getByTestId('l4q-rtn-lora').check();
  await expect(panel.getByLabel('Bit widths to sweep')).toHaveValue('4, 3');
  await panel.getByTestId('l4q-sweep-bits-button').click();

  // Two queued runs, 4 bits then 3; the panel's result is the last.
  await expect(page.getByTestId('result-card').filter({ hasText: 'L4Q' })).toHaveCount(2, { timeout: 2 * EVAL_TIMEOUT });
  const result = panel.getByTestId('l4q-result');
  await expect(result).toBeVisible();
  const base = parsePpl((await result.getByTestId('l4q-rtn-lora-ppl').textContent())!.replace(/.*RTN-then-LoRA/, ''));
  expect(base).toBeGreaterThan(2);
  expect(base).toBeLessThan(50);
  await expect(result).toContainText('adapters in float32');
  await expect(result.getByTestId('l4q-rtn-lora-merged-ppl')).toContainText(/merged \d+\.\d{3}/);
  // The live curve drew the baseline's training beside L4Q's.
  await expect(panel.getByTestId('l4q-loss-chart')).toContainText('RTN-then-LoRA (float adapter)');
  await expect(panel.getByTestId('l4q-loss-chart').locator('.recharts-line')).toHaveCount(3);
  // What the trainer reported is what the form estimated.
  await expect(result).toContainText('Training memory: LoRA 180.6 KiB, s/b 56.9 KiB, Adam 475.0 KiB, activations 1.31 MiB');
  // The target's share, from the record: (RTN − L4Q) / (RTN − dense).
  await expect(result.getByTestId('l4q-recovered')).toContainText(/^Recovered: -?\d+\.\d % of the perplexity RTN loses/);
  const chart = page.getByTestId('quant-panel').getByTestId('bits-chart');
  await expect(chart).toContainText('L4Q g32 asym');
  // RTN as the L4Q runs scored it (no RTN run was made).
  await expect(chart).toContainText('RTN g32 asym');
  await expect(chart).toContainText('RTN-then-LoRA g32 asym (float adapter)');
  await expect(chart).toContainText('RTN-then-LoRA g32 asym merged, rounded again');
  // Four lines, a dot at 3 and at 4 bits each.
  await expect(chart.locator('.recharts-line-dots circle')).toHaveCount(8);
  expect(errors).toEqual([]);
  // Kept in the repository with the other screens (e2e/screenshots/).
  await panel.screenshot({ path: 'e2e/screenshots/l4q-panel.png' });
  await chart.screenshot({ path: 'e2e/screenshots/l4q-bits-chart.png' });
});

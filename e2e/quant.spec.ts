/** RTN in the page: 4-bit quantization in the worker, before/after perplexity and the real packed size. */
import { expect, test } from '@playwright/test';
import { EVAL_TIMEOUT, openStudio, parsePpl } from './helpers';

test('RTN 4-bit group 64 quantizes in the worker and shows perplexity and packed size', async ({ page }) => {
  const errors = await openStudio(page);
  await page.getByLabel('Windows', { exact: true }).fill('0:1');
  const panel = page.getByTestId('quant-panel');
  await panel.getByLabel('Bits').selectOption('4');
  await panel.getByLabel('Scale per').selectOption('64');
  await panel.getByLabel('Zero point').selectOption('sym');
  await expect(panel.getByTestId('quant-explanation')).toContainText('scale = e / −8');
  await panel.getByLabel('Symmetric scale').selectOption('gptq');
  await expect(panel.getByTestId('quant-explanation')).toContainText('scale = 2·max|w| / 15');
  await panel.getByLabel('Zero point').selectOption('asym');
  await expect(panel.getByTestId('quant-explanation')).toContainText('z = round(−lo / scale)');
  await panel.getByTestId('quantize-button').click();

  const result = panel.getByTestId('quant-result');
  await expect(result).toBeVisible({ timeout: EVAL_TIMEOUT });
  await expect(result).toContainText('4.74 bits per weight');
  const after = parsePpl(await result.locator('strong').first().textContent());
  expect(after).toBeGreaterThan(2);
  expect(after).toBeLessThan(10);
  // The run is also in the results, named as RTN.
  await expect(page.getByTestId('result-card').first().getByTestId('method-text')).toContainText('RTN');
  expect(errors).toEqual([]);
});

test('Sweep bits queues one RTN run per width and fills the perplexity-vs-bits chart', async ({ page }) => {
  const errors = await openStudio(page);
  await page.getByLabel('Sequence length').fill('128');
  await page.getByLabel('Windows', { exact: true }).fill('0:1');
  const panel = page.getByTestId('quant-panel');
  await panel.getByLabel('Scale per').selectOption('64');
  await panel.getByLabel('Bit widths to sweep').fill('8, 4');
  await panel.getByTestId('sweep-bits-button').click();

  const chart = panel.getByTestId('bits-chart');
  await expect(chart).toBeVisible({ timeout: 2 * EVAL_TIMEOUT });
  // One line (RTN g64 asym) with a dot at 8 and at 4 bits.
  await expect(chart.locator('.recharts-line-dots circle')).toHaveCount(2);
  await expect(chart).toContainText('RTN g64 asym');
  await expect(page.getByTestId('result-card').filter({ hasText: 'RTN' })).toHaveCount(2);
  await expect(chart.getByRole('button', { name: 'Present Perplexity vs bits full screen' })).toBeVisible();
  expect(errors).toEqual([]);
});

/**
 * Side-by-side generation and the weight histogram in Chromium: prune with Wanda 50%, then
 * one prompt through the dense and the pruned model (greedy, then seeded sampling twice
 * with the same seed), and the histogram of one matrix before/after on shared bins.
 */
import { expect, test } from '@playwright/test';
import { openStudio } from './helpers';

const PRUNE_TIMEOUT = 240_000;
const GEN_TIMEOUT = 120_000;

test('dense and pruned models generate side by side, with tokens/s, and their weights compare in a histogram', async ({ page }) => {
  const pageErrors = await openStudio(page);
  const gen = page.locator('section', { has: page.getByRole('heading', { name: 'Generate: dense vs compressed' }) });

  // Before any pruning run the compressed side says why it cannot generate.
  await gen.getByLabel('New tokens').fill('12');
  await gen.getByRole('button', { name: 'Generate both' }).click();
  await expect(gen.getByTestId('gen-text-dense')).not.toBeEmpty({ timeout: GEN_TIMEOUT });
  await expect(gen.getByRole('alert')).toContainText('no compressed model yet', { timeout: GEN_TIMEOUT });

  await page.getByLabel('Windows', { exact: true }).fill('0:1');
  const method = page.getByTestId('method-panel');
  await method.getByLabel('Pruning method').selectOption('wanda');
  await method.getByLabel('Sparsity', { exact: true }).fill('0.5');
  await page.getByLabel('Samples', { exact: true }).fill('4');
  await page.getByLabel('Tokens per sample', { exact: true }).fill('32');
  await page.getByRole('button', { name: 'Prune & evaluate' }).click();
  await expect(page.getByTestId('ppl-value')).toHaveCount(1, { timeout: PRUNE_TIMEOUT });

  // Greedy.
  await gen.getByLabel('Generation prompt').fill('Once upon a time');
  await gen.getByLabel('New tokens').fill('24');
  await gen.getByRole('button', { name: 'Generate both' }).click();
  const stats = gen.locator('.gen-stats');
  await expect(stats.nth(0)).toContainText('tokens/s', { timeout: GEN_TIMEOUT });
  await expect(stats.nth(1)).toContainText('tokens/s', { timeout: GEN_TIMEOUT });
  await expect(gen.getByTestId('gen-text-dense')).toContainText('Once upon a time');
  await expect(gen.getByTestId('gen-text-compressed')).toContainText('Once upon a time');
  await expect(gen).toContainText('Wanda · 50% unstructured');
  const greedyDense = await gen.getByTestId('gen-text-dense').textContent();
  expect((greedyDense ?? '').length).toBeGreaterThan('Once upon a time'.length + 10);

  // Sampled with a seed: the same seed gives the same text.
  await gen.getByLabel('Decoding').selectOption('sampled');
  await gen.getByLabel('Sampling seed').fill('7');
  await gen.getByRole('button', { name: 'Generate both' }).click();
  await expect(stats.nth(1)).toContainText('tokens/s', { timeout: GEN_TIMEOUT });
  const first = [await gen.getByTestId('gen-text-dense').textContent(), await gen.getByTestId('gen-text-compressed').textContent()];
  await gen.getByRole('button', { name: 'Generate both' }).click();
  await expect(stats.nth(1)).toContainText('tokens/s', { timeout: GEN_TIMEOUT });
  const second = [await gen.getByTestId('gen-text-dense').textContent(), await gen.getByTestId('gen-text-compressed').textContent()];
  expect(second).toEqual(first);
  await gen.screenshot({ path: 'e2e/screenshots/generation.png' });

  // Histogram of layer 1 up_proj: dense vs the Wanda model on the same bins.
  const hist = page.locator('section', { has: page.getByRole('heading', { name: 'Weight histogram' }) });
  await hist.getByLabel('Histogram layer').selectOption('1');
  await hist.getByLabel('Histogram matrix').selectOption('up');
  await hist.getByRole('button', { name: 'Show histogram' }).click();
  const chart = hist.getByTestId('weight-histogram');
  await expect(chart.getByTestId('chart-caption')).toContainText('layer 1 · up_proj');
  await expect(chart.getByTestId('chart-caption')).toContainText('5,504 exact zeros of 11,008');
  await expect(chart.locator('.recharts-bar-rectangle').first()).toBeVisible();
  await hist.screenshot({ path: 'e2e/screenshots/weight-histogram.png' });
  expect(pageErrors).toEqual([]);
});

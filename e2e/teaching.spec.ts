/**
 * Teaching mode in Chromium: FLAP on one layer of the live model, step by step (input
 * statistics, scores as an image, mask, kept heads, output change), then Wanda on a matrix.
 */
import { expect, test } from '@playwright/test';
import { openStudio } from './helpers';

const INSPECT_TIMEOUT = 180_000;

test('teaching mode walks through one layer step by step', async ({ page }) => {
  const pageErrors = await openStudio(page);
  const teach = page.locator('section', { has: page.getByRole('heading', { name: 'Teaching mode: one layer, step by step' }) });
  await teach.getByLabel('Teaching method').selectOption('flap');
  await teach.getByLabel('Teaching pruning ratio (%)').fill('30');
  await teach.getByLabel('Teaching layer').selectOption('2');
  await teach.getByLabel('Teaching matrix').selectOption('o');
  await teach.getByLabel('Teaching samples').fill('8');
  await teach.getByLabel('Teaching tokens per sample').fill('64');
  await teach.getByRole('button', { name: 'Inspect layer' }).click();

  const title = teach.getByTestId('teach-step-title');
  await expect(title).toHaveText('Step 1 of 5: Input statistics', { timeout: INSPECT_TIMEOUT });
  await expect(teach).toContainText('512 calibration tokens');
  await expect(teach.locator('.stat-chart svg').first()).toBeVisible();
  // Each statistics chart sits in the chart frame: protocol caption, downloads and the presenter view.
  const stat = teach.getByTestId('teach-stat-l2');
  await expect(stat.getByTestId('chart-caption')).toContainText('layer 2 · o_proj');
  await expect(stat.getByRole('button', { name: /^Save .* as PNG$/ })).toBeVisible();
  await expect(stat.getByRole('button', { name: /as CSV$/ })).toBeVisible();
  await stat.getByRole('button', { name: /^Present .* full screen$/ }).click();
  await expect(page.getByTestId('presenter')).toBeVisible();
  await expect(page.getByTestId('presenter').locator('svg.recharts-surface')).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('presenter')).toHaveCount(0);

  await teach.getByRole('button', { name: 'Next →' }).click();
  await expect(title).toHaveText('Step 2 of 5: Scores');
  await expect(teach).toContainText('s_j = F_j · Σ_i W_ij²');
  await expect(teach.getByTestId('teach-scores')).toBeVisible();
  // The score image: presenter view and a PNG of the canvas.
  const scores = teach.getByTestId('teach-scores-frame');
  const download = page.waitForEvent('download');
  await scores.getByRole('button', { name: /^Save .* as PNG$/ }).click();
  expect((await download).suggestedFilename()).toMatch(/^scores-of-layer-2-.*\.png$/);
  await scores.getByRole('button', { name: /^Present .* full screen$/ }).click();
  await expect(page.getByTestId('presenter').locator('canvas.matrix-image')).toBeVisible();
  await page.getByRole('button', { name: 'Close presenter view (Esc)' }).click();
  await expect(page.getByTestId('presenter')).toHaveCount(0);

  await teach.getByRole('button', { name: 'Next →' }).click();
  await expect(title).toHaveText('Step 3 of 5: Mask');
  await expect(teach.getByTestId('teach-mask')).toBeVisible();

  await teach.getByRole('button', { name: 'Next →' }).click();
  await expect(title).toHaveText('Step 4 of 5: Structure kept');
  const kept = Number(await teach.getByTestId('teach-kept-heads').textContent());
  expect(kept).toBeGreaterThanOrEqual(0);
  expect(kept).toBeLessThanOrEqual(8);
  await expect(teach.locator('.head-grid li')).toHaveCount(8);
  await teach.screenshot({ path: 'e2e/screenshots/teaching-flap-heads.png' });

  await teach.getByRole('button', { name: 'Next →' }).click();
  await expect(title).toHaveText('Step 5 of 5: Output change');
  await expect(teach.getByTestId('teach-rel-error')).toHaveText(/^\d+\.\d\d%$/);
  await expect(teach.getByRole('button', { name: 'Next →' })).toBeDisabled();
  await teach.getByRole('button', { name: '← Back' }).click();
  await expect(title).toHaveText('Step 4 of 5: Structure kept');

  // Wanda 50% on gate_proj: exactly half of every row is pruned.
  await teach.getByLabel('Teaching method').selectOption('wanda');
  await teach.getByLabel('Teaching sparsity (%)').fill('50');
  await teach.getByLabel('Teaching matrix').selectOption('gate');
  await teach.getByRole('button', { name: 'Inspect layer' }).click();
  await expect(teach).toContainText('Wanda 50% unstructured', { timeout: INSPECT_TIMEOUT });
  await expect(title).toHaveText('Step 1 of 5: Input statistics');
  await teach.getByRole('button', { name: 'Next →' }).click();
  await teach.getByRole('button', { name: 'Next →' }).click();
  await expect(teach.getByTestId('teach-pruned')).toHaveText('5,504');
  await teach.screenshot({ path: 'e2e/screenshots/teaching-wanda-mask.png' });
  expect(pageErrors).toEqual([]);
});

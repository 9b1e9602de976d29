import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { EVAL_TIMEOUT, LOAD_TIMEOUT, evaluateWindows, openStudio, parsePpl } from './helpers';

const MODEL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../public/models/stories260K');
const files = (...names: string[]) => names.map((n) => path.join(MODEL_DIR, n));

test('a model chosen from the disk loads in the worker and gives the bundled perplexity', async ({ page }) => {
  const pageErrors = await openStudio(page);
  await evaluateWindows(page, '0:1');
  const ppl = page.getByTestId('ppl-value');
  await expect(ppl).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  const bundled = parsePpl(await ppl.first().textContent());

  await page.getByText('Load a model from your disk').click();
  // Without config.json the choice is refused with a message; the loaded model stays.
  await page.getByLabel('Or its files').setInputFiles(files('model.safetensors', 'tokenizer.json'));
  await expect(page.getByRole('alert').filter({ hasText: 'config.json' })).toBeVisible();
  await expect(page.getByTestId('model-status')).toHaveText('loaded');

  await page.getByLabel('Or its files').setInputFiles(files('config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'));
  const panel = page.getByTestId('model-panel');
  await expect(panel.getByTestId('model-local-ref')).toContainText('4 files from your disk', { timeout: LOAD_TIMEOUT });
  await expect(page.getByTestId('model-status')).toHaveText('loaded');
  await expect(panel.getByTestId('model-layers')).toHaveText('5');

  await evaluateWindows(page, '0:1');
  await expect(ppl).toHaveCount(2, { timeout: EVAL_TIMEOUT });
  expect(parsePpl(await ppl.first().textContent())).toBe(bundled);
  await expect(page.getByTestId('result-card').first()).toContainText('local files');
  expect(pageErrors).toEqual([]);
});

/**
 * The export panel in Chromium: the dense model as an ONNX zip (built in the worker,
 * saved as a download) that onnxruntime-web then loads; before any run the compressed
 * model is refused with a message; after an evaluation the run's JSON report downloads;
 * and the model generates in onnxruntime-web inside the page's worker.
 */
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { unzipSync } from 'fflate';
import * as ort from 'onnxruntime-web';
import { EVAL_TIMEOUT, evaluateWindows, openStudio } from './helpers';

test('downloads the model as an ONNX zip and a run as a JSON report', async ({ page }) => {
  const pageErrors = await openStudio(page);
  const panel = page.getByTestId('export-panel');

  // No compressed model yet: a clear message, and the page keeps working.
  await panel.getByLabel('Model', { exact: true }).selectOption('compressed');
  await panel.getByTestId('export-zip').click();
  await expect(panel.getByRole('alert')).toContainText('no compressed model yet');

  await panel.getByLabel('Model', { exact: true }).selectOption('dense');
  await panel.getByLabel('Format').selectOption('onnx');
  const [zipDownload] = await Promise.all([page.waitForEvent('download'), panel.getByTestId('export-zip').click()]);
  expect(zipDownload.suggestedFilename()).toBe('stories260K-dense-onnx-f32.zip');
  await expect(panel.getByTestId('export-status')).toContainText('Saved stories260K-dense-onnx-f32.zip');
  const files = unzipSync(new Uint8Array(readFileSync((await zipDownload.path())!)));
  expect(Object.keys(files)).toEqual(expect.arrayContaining(['model.onnx', 'config.json', 'tokenizer.json', 'tokenizer_config.json']));
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(files['model.onnx']!, { executionProviders: ['wasm'] });
  expect(session.inputNames.slice(0, 3)).toEqual(['input_ids', 'attention_mask', 'position_ids']);
  expect(session.outputNames).toContain('logits');
  await session.release();

  await evaluateWindows(page, '0:1');
  await expect(page.getByTestId('ppl-value').first()).not.toBeEmpty({ timeout: EVAL_TIMEOUT });
  const [report] = await Promise.all([page.waitForEvent('download'), panel.getByTestId('export-report').click()]);
  const record = JSON.parse(readFileSync((await report.path())!, 'utf8'));
  expect(record.model.id).toBe('stories260K');
  expect(record.scoredTokens).toBe(511);

  // The export runs in onnxruntime-web inside the page's worker (WebGPU EP, or wasm).
  const ortRun = panel.getByTestId('ort-run');
  await ortRun.getByLabel('ONNX new tokens').fill('8');
  await ortRun.getByTestId('ort-run-button').click();
  const dense = ortRun.getByTestId('ort-result-dense');
  await expect(dense).toContainText('ms/token', { timeout: 120_000 });
  await expect(dense).toContainText('Once upon a time');
  await expect(ortRun.getByTestId('chart-ort')).toBeVisible();
  console.log(`onnxruntime-web in Chromium: ${await dense.textContent()}`);
  expect(pageErrors).toEqual([]);
});

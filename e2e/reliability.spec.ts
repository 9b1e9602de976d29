/**
 * Reliability in Chromium, through the page's test hooks (`?testhooks=1`: lose the GPU
 * device, crash the engine worker, read the worker's GPU buffer pool):
 * - repeated start/cancel cycles (evaluation and calibration) leave 0 GPU bytes in use;
 *   reloads in the middle of a run keep the saved history, and the next run still works;
 * - a GPU device lost mid-evaluation ends that job with a clear message, keeps the earlier
 *   results, and the next job runs (on a fresh device) with the same numbers;
 * - a crashed worker is restarted with a message, the model reloads, results are kept;
 * - NaN weights stop the evaluation with a message and no result or chart.
 * Every interrupted job is held by the worker's test hold (holdAt) until the test acts on it:
 * it is certainly running, however fast or loaded the machine. The GPU tests choose WebGPU
 * in the Backend menu (Auto runs on the CPU on SwiftShader).
 */
import { expect, test, type Page, type Route } from '@playwright/test';
import { EVAL_TIMEOUT, LOAD_TIMEOUT, chooseBackend, evaluateWindows, holdAt, releaseHold, savedRecordIds, waitForHold } from './helpers';

interface Hooks {
  loseDevice(): Promise<unknown>;
  crashWorker(): Promise<unknown>;
  gpuMemory(): Promise<{ bytesInUse: number; liveBuffers: number; pooledBytes: number } | null>;
}

async function openWithHooks(page: Page): Promise<string[]> {
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto('/?testhooks=1');
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
  return pageErrors;
}

const hook = <K extends keyof Hooks>(page: Page, name: K) => page.evaluate((n) => (window as unknown as { __studioTestHooks: Hooks }).__studioTestHooks[n](), name) as ReturnType<Hooks[K]>;

/**
 * Waits until the running job is in `phase` (its progress label). Checked every frame: a
 * short phase (calibrating 8 × 64 tokens) can fall between expect's polls, which slow to
 * one a second.
 */
async function waitForPhase(page: Page, label: RegExp) {
  await page.waitForFunction(
    ([source, flags]) => new RegExp(source!, flags).test(document.querySelector('[data-testid="job-phase"]')?.textContent ?? ''),
    [label.source, label.flags],
    { polling: 'raf', timeout: EVAL_TIMEOUT },
  );
}

/** A first evaluation (window 0 at 256 tokens) for later jobs to match; its perplexity as shown. */
async function firstEvaluation(page: Page): Promise<string | undefined> {
  await page.getByLabel('Sequence length').fill('256');
  await evaluateWindows(page, '0:1');
  const ppl = page.getByTestId('ppl-value');
  await expect(ppl).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  return (await ppl.textContent())?.trim();
}

/** Starts an evaluation and holds it after its first of 6 windows: certainly running, mid-evaluation. */
async function startLongEvaluation(page: Page) {
  await holdAt(page, 'evaluate', 1);
  await evaluateWindows(page, '0:6');
  await waitForHold(page);
  await waitForPhase(page, /Evaluating windows/);
}

/** The first evaluation again, as the second result, with the same perplexity. */
async function sameAgain(page: Page, ppl: string | undefined) {
  await evaluateWindows(page, '0:1');
  await expect(page.getByTestId('result-card')).toHaveCount(2, { timeout: EVAL_TIMEOUT });
  await expect(page.getByTestId('ppl-value').first()).toHaveText(ppl!);
}

async function jobOver(page: Page) {
  await expect(page.getByTestId('job-progress')).toHaveCount(0, { timeout: EVAL_TIMEOUT });
}

async function dismissAlerts(page: Page) {
  const close = page.getByRole('alert').getByRole('button', { name: /Dismiss/ });
  while ((await close.count()) > 0) await close.first().click();
}

test('start/cancel cycles free the GPU memory; reloads mid-run keep the history', async ({ page }) => {
  const pageErrors = await openWithHooks(page);
  await chooseBackend(page, 'webgpu');
  const first = await firstEvaluation(page);
  const idle = await hook(page, 'gpuMemory');
  expect(idle, 'the page runs on WebGPU').not.toBeNull();
  expect(idle!.bytesInUse).toBe(0);

  const method = page.getByTestId('method-panel');
  await method.getByLabel('Pruning method').selectOption('wanda');
  await page.getByLabel('Samples', { exact: true }).fill('8');
  await page.getByLabel('Tokens per sample', { exact: true }).fill('64');
  const cycles = 6;
  for (let i = 0; i < cycles; i++) {
    const prune = i % 2 === 1;
    // Held mid-phase (after its first window or calibration step) until the cancel.
    await holdAt(page, prune ? 'calibrate' : 'evaluate', 1);
    if (prune) await page.getByRole('button', { name: 'Prune & evaluate' }).click();
    else await evaluateWindows(page, '0:6');
    await waitForHold(page);
    await waitForPhase(page, prune ? /Calibrating/ : /Evaluating windows/);
    await page.getByRole('button', { name: 'Cancel' }).first().click();
    await expect(page.getByRole('alert').filter({ hasText: /cancelled/ })).toBeVisible({ timeout: EVAL_TIMEOUT });
    await jobOver(page);
    const m = await hook(page, 'gpuMemory');
    expect(m!.bytesInUse, `cycle ${i}: GPU bytes in use after cancelling`).toBe(0);
    expect(m!.liveBuffers).toBe(0);
    await dismissAlerts(page);
  }
  await expect(page.getByTestId('result-card')).toHaveCount(1);

  // Reload (as a killed tab would) in the middle of a run, twice: the saved result stays.
  await expect.poll(() => savedRecordIds(page), { timeout: EVAL_TIMEOUT }).toHaveLength(1);
  for (let i = 0; i < 2; i++) {
    await startLongEvaluation(page);
    await page.reload();
    await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
    await expect(page.getByTestId('result-card')).toHaveCount(1);
    await expect(page.getByTestId('ppl-value')).toHaveText(first!);
    await page.getByLabel('Sequence length').fill('256');
    // A fresh page starts on Auto again.
    await chooseBackend(page, 'webgpu');
  }
  await sameAgain(page, first);
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(pageErrors).toEqual([]);
});

test('a GPU device lost mid-run ends that job with a message; earlier results stay; the next job works', async ({ page }) => {
  const pageErrors = await openWithHooks(page);
  await chooseBackend(page, 'webgpu');
  const earlier = await firstEvaluation(page);

  await startLongEvaluation(page);
  await hook(page, 'loseDevice');
  await releaseHold(page);
  const alert = page.getByRole('alert').filter({ hasText: 'Evaluation failed' });
  await expect(alert).toBeVisible({ timeout: EVAL_TIMEOUT });
  await expect(alert).toContainText('the GPU stopped during the job');
  await expect(alert).toContainText('WebGPU device lost');
  await expect(alert).toContainText('the next job starts on a fresh WebGPU device');
  await jobOver(page);
  await expect(page.getByTestId('result-card')).toHaveCount(1);
  await expect(page.getByTestId('ppl-value')).toHaveText(earlier!);
  await dismissAlerts(page);

  await sameAgain(page, earlier);
  await expect(page.getByTestId('result-card').first()).toContainText(/webgpu — .*swiftshader/i);
  expect((await hook(page, 'gpuMemory'))!.bytesInUse).toBe(0);
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(pageErrors).toEqual([]);
});

test('a crashed engine worker is restarted with a message; the model reloads and results are kept', async ({ page }) => {
  const pageErrors = await openWithHooks(page);
  const earlier = await firstEvaluation(page);

  await startLongEvaluation(page);
  await hook(page, 'crashWorker').catch(() => null);
  await expect(page.getByRole('alert').filter({ hasText: 'The engine stopped and was restarted' })).toBeVisible({ timeout: EVAL_TIMEOUT });
  await expect(page.getByRole('alert').filter({ hasText: 'Evaluation failed' })).toContainText('the engine worker stopped');
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
  await expect(page.getByTestId('result-card')).toHaveCount(1);
  await dismissAlerts(page);

  await sameAgain(page, earlier);
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(pageErrors).toEqual([]);
});

test('test hooks are inert without the flag', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
  expect(await page.evaluate(() => 'studioTestHooks' in window || '__studioTestHooks' in window)).toBe(false);
});

/** The safetensors file with NaN written into the first values of one tensor. */
function poisonSafetensors(bytes: Buffer, tensor: string, count: number): Buffer {
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf-8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const entry = header[tensor];
  if (!entry || entry.dtype !== 'F32') throw new Error(`no F32 tensor ${tensor}`);
  const out = Buffer.from(bytes);
  for (let i = 0; i < count; i++) out.writeFloatLE(Number.NaN, 8 + n + entry.data_offsets[0] + 4 * i);
  return out;
}

test('NaN weights stop the evaluation with a message and no result or chart', async ({ page }) => {
  await page.route('**/models/stories260K/model.safetensors', async (route: Route) => {
    const res = await route.fetch();
    await route.fulfill({ response: res, body: poisonSafetensors(await res.body(), 'model.layers.2.mlp.down_proj.weight', 4) });
  });
  const pageErrors = await openWithHooks(page);
  await page.getByLabel('Sequence length').fill('128');
  await evaluateWindows(page, '0:2');
  const alert = page.getByRole('alert').filter({ hasText: 'Evaluation failed' });
  await expect(alert).toBeVisible({ timeout: EVAL_TIMEOUT });
  await expect(alert).toContainText('loss of window 0 (tokens 0…127) is not finite');
  await expect(alert).toContainText('no result was recorded');
  await expect(alert).toContainText('Weights holding NaN/Inf: model.layers.2.mlp.down_proj.weight (4 NaN)');
  await expect(page.getByTestId('result-card')).toHaveCount(0);
  await expect(page.getByTestId('ppl-value')).toHaveCount(0);
  await expect(page.getByTestId('ppl-chart')).toHaveCount(0);
  await expect(page.locator('.recharts-wrapper')).toHaveCount(0);
  expect(pageErrors).toEqual([]);
});

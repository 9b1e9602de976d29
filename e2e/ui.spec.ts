/**
 * The studio's main flows in Chromium, on Auto (which, with only the SwiftShader adapter,
 * runs on the CPU (WebAssembly SIMD) backend: backend-auto.spec.ts): charts of a Wanda and a
 * FLAP run, a sweep's line chart, share links (round trip into a fresh page, re-run, a
 * corrupt link), the run queue's cancel, presenter view and themes. Shapes are tiny
 * (seqlen 128, one window, 4 × 64 calibration tokens) to keep it quick.
 * Screenshots of each main screen go to e2e/screenshots/ (kept in the repository).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test, type Page } from '@playwright/test';
import { LOAD_TIMEOUT, holdAt, openStudio, releaseHold, waitForHold } from './helpers';

const RUN_TIMEOUT = 240_000;
const SHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'screenshots');

async function shot(page: Page, name: string, fullPage = true) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

/** Small protocol: seqlen 128, window 0:1, 4 × 64 calibration tokens. */
async function smallProtocol(page: Page) {
  await page.getByLabel('Sequence length').fill('128');
  await page.getByLabel('Windows', { exact: true }).fill('0:1');
}

async function chooseMethod(page: Page, name: 'magnitude' | 'wanda' | 'flap') {
  const method = page.getByTestId('method-panel');
  await method.getByLabel('Pruning method').selectOption(name);
  if (name !== 'magnitude') {
    await method.getByLabel('Samples', { exact: true }).fill('4');
    await method.getByLabel('Tokens per sample', { exact: true }).fill('64');
  }
}

/** The JSON a chart's "JSON" button saves. */
async function chartJson(page: Page, chart: ReturnType<Page['getByTestId']>): Promise<unknown> {
  const [download] = await Promise.all([page.waitForEvent('download'), chart.getByRole('button', { name: /as JSON$/ }).click()]);
  return JSON.parse(readFileSync((await download.path())!, 'utf8'));
}

test('Wanda 50% and FLAP 20%: before/after chart, per-matrix sparsity, FLAP per-layer structure, presenter view', async ({ page }) => {
  const consoleErrors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  const pageErrors = await openStudio(page, { testHooks: true });
  await expect(page.getByTestId('webgpu-banner')).toContainText(/WebGPU/);
  await smallProtocol(page);

  await chooseMethod(page, 'wanda');
  await page.getByTestId('method-panel').getByLabel('Sparsity', { exact: true }).fill('0.5');
  // Wanda is held at the start of its calibration until FLAP is queued behind it.
  await holdAt(page, 'calibrate', 0);
  await page.getByRole('button', { name: 'Prune & evaluate' }).click();
  await waitForHold(page);
  // Queue the FLAP run behind it: the form stays usable while Wanda runs.
  await expect(page.getByTestId('run-active')).toBeVisible();
  await expect(page.getByTestId('run-label')).toContainText('Wanda 50%');
  await chooseMethod(page, 'flap');
  await page.getByRole('button', { name: 'Prune & evaluate' }).click();
  await expect(page.getByTestId('run-queued')).toHaveCount(1);
  await expect(page.getByTestId('run-queued')).toContainText('FLAP 20%');
  await shot(page, 'runs-queue');
  await releaseHold(page);

  await expect(page.getByTestId('result-card')).toHaveCount(2, { timeout: 2 * RUN_TIMEOUT });
  await expect(page.getByTestId('run-active')).toHaveCount(0);

  const beforeAfter = page.getByTestId('chart-before-after');
  await expect(beforeAfter).toBeVisible();
  await expect(beforeAfter.getByTestId('chart-caption')).toContainText('seqlen 128 · windows 0:1');
  await expect(beforeAfter.getByTestId('chart-caption')).toContainText('calibration tinystories · 4 × 64 tokens');
  const rows = (await chartJson(page, beforeAfter)) as { run: string; before: number; after: number }[];
  expect(rows.map((r) => r.run)).toEqual(['1. Wanda 50% unstructured', '2. FLAP 20% removed']);
  for (const r of rows) expect(r.after).toBeGreaterThan(r.before);

  // Newest run first: FLAP's kept heads and channels per layer.
  const heads = page.getByTestId('chart-flap-heads');
  await expect(heads).toBeVisible();
  const headRows = (await chartJson(page, heads)) as { layer: string; headsKept: number; headsRemoved: number }[];
  expect(headRows).toHaveLength(5);
  for (const r of headRows) expect(r.headsKept + r.headsRemoved).toBe(8);
  await expect(page.getByTestId('chart-flap-channels').locator('svg.recharts-surface')).toBeVisible();
  await shot(page, 'flap-structure');
  await page.getByTestId('flap-structure').screenshot({ path: path.join(SHOTS, 'chart-flap-structure.png') });
  await beforeAfter.screenshot({ path: path.join(SHOTS, 'chart-before-after.png') });

  // Wanda's per-matrix sparsity: every matrix 50 % (exactly ⌊0.5·in⌋ per row).
  await page.getByLabel('Structure of run').first().selectOption({ index: 1 });
  const matrices = page.getByTestId('chart-matrix-sparsity');
  await expect(matrices).toBeVisible();
  const mRows = (await chartJson(page, matrices)) as Record<string, number | string>[];
  expect(mRows).toHaveLength(5);
  for (const r of mRows) for (const k of ['q', 'k', 'v', 'o', 'gate', 'up', 'down']) expect(r[k]).toBeCloseTo(0.5, 2);
  await matrices.screenshot({ path: path.join(SHOTS, 'chart-matrix-sparsity.png') });

  // PNG export and presenter view.
  const [png] = await Promise.all([page.waitForEvent('download'), beforeAfter.getByRole('button', { name: /as PNG$/ }).click()]);
  expect(png.suggestedFilename()).toBe('perplexity-before-after.png');
  const bytes = readFileSync((await png.path())!);
  expect(bytes.subarray(1, 4).toString()).toBe('PNG');
  expect(bytes.length).toBeGreaterThan(5000);
  await png.saveAs(path.join(SHOTS, 'export-before-after.png'));
  await beforeAfter.getByRole('button', { name: /full screen$/ }).click();
  const presenter = page.getByTestId('presenter');
  await expect(presenter).toBeVisible();
  await expect(presenter.locator('svg.recharts-surface')).toBeVisible();
  await shot(page, 'presenter', false);
  await page.keyboard.press('Escape');
  await expect(presenter).toHaveCount(0);
  await expect(beforeAfter.getByRole('button', { name: /full screen$/ })).toBeFocused();

  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(pageErrors).toEqual([]);
  expect(consoleErrors).toEqual([]);
});

test('a 3-point sweep draws perplexity vs sparsity; its share link shows the same results in a fresh page and re-runs them', async ({ page, browser }) => {
  const pageErrors = await openStudio(page);
  await smallProtocol(page);
  await chooseMethod(page, 'magnitude');
  await page.getByLabel('Sparsities to sweep').fill('0.2, 0.4, 0.6');
  await page.getByRole('button', { name: 'Run sweep' }).click();
  await expect(page.getByTestId('result-card')).toHaveCount(3, { timeout: RUN_TIMEOUT });

  const sweep = page.getByTestId('results-charts').getByTestId('chart-sweep');
  await expect(sweep).toBeVisible();
  await expect(sweep).toContainText('Magnitude (per matrix)');
  await expect(sweep.getByTestId('chart-caption')).toContainText('log scale');
  const points = (await chartJson(page, sweep)) as { series: string; sparsity: number; ppl: number }[];
  expect(points.map((p) => p.sparsity)).toEqual([0, 0.2, 0.4, 0.6]);
  for (let i = 1; i < points.length; i++) expect(points[i]!.ppl).toBeGreaterThan(points[i - 1]!.ppl);
  await expect(sweep.locator('.recharts-line-dots circle')).toHaveCount(4);
  await expect(page.getByTestId('chart-size')).toBeVisible();
  await shot(page, 'sweep');
  await sweep.screenshot({ path: path.join(SHOTS, 'chart-sweep.png') });
  await page.getByTestId('chart-size').screenshot({ path: path.join(SHOTS, 'chart-size.png') });

  // Make the link (all runs of the newest protocol) and open it in a fresh browser context.
  await page.getByRole('button', { name: 'Make share link' }).click();
  const url = await page.getByTestId('share-url').inputValue();
  expect(url).toMatch(/#pq1=[A-Za-z0-9_-]+$/);
  console.log(`[share] 3-point magnitude sweep, 1 window: link of ${url.length} characters`);
  expect(new URL(url).origin).toBe(new URL(page.url()).origin);

  const fresh = await (await browser.newContext({ acceptDownloads: true })).newPage();
  const freshErrors: string[] = [];
  fresh.on('pageerror', (e) => freshErrors.push(e.message));
  await fresh.goto(url);
  const shared = fresh.getByTestId('shared-panel');
  await expect(shared).toBeVisible();
  await expect(shared.getByTestId('shared-model')).toContainText('stories260K');
  const sharedSweep = shared.getByTestId('chart-sweep');
  await expect(sharedSweep).toBeVisible();
  await shot(fresh, 'shared-link', false);
  expect(await chartJson(fresh, sharedSweep)).toEqual(points);
  // The fresh page has no history of its own: the results came with the link.
  await expect(fresh.getByTestId('result-card')).toHaveCount(0);
  await expect(fresh.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });

  await fresh.getByTestId('rerun').click();
  await expect(fresh.getByTestId('result-card')).toHaveCount(3, { timeout: RUN_TIMEOUT });
  const rerun = (await chartJson(fresh, fresh.getByTestId('results-charts').getByTestId('chart-sweep'))) as typeof points;
  // Same backend, same settings: the same perplexities.
  expect(rerun.map((p) => p.sparsity)).toEqual(points.map((p) => p.sparsity));
  rerun.forEach((p, i) => expect(p.ppl).toBeCloseTo(points[i]!.ppl, 4));
  expect(freshErrors).toEqual([]);
  await fresh.context().close();
  expect(pageErrors).toEqual([]);
});

test('cancel stops the running job and the next queued one runs', async ({ page }) => {
  const pageErrors = await openStudio(page, { testHooks: true });
  await smallProtocol(page);
  // A first run held in its calibration (running until cancelled) and a quick second one.
  await chooseMethod(page, 'wanda');
  await holdAt(page, 'calibrate', 1);
  await page.getByRole('button', { name: 'Prune & evaluate' }).click();
  await chooseMethod(page, 'magnitude');
  await page.getByRole('button', { name: 'Prune & evaluate' }).click();
  await expect(page.getByTestId('run-queued')).toHaveCount(1);
  await waitForHold(page);
  await expect(page.getByTestId('job-phase')).toContainText('Calibrating');
  await page.getByTestId('runs-panel').getByRole('button', { name: 'Cancel' }).click();

  await expect(page.getByRole('alert').filter({ hasText: 'Pruning cancelled' })).toBeVisible({ timeout: RUN_TIMEOUT });
  await expect(page.getByTestId('result-card')).toHaveCount(1, { timeout: RUN_TIMEOUT });
  await expect(page.getByTestId('method-text')).toContainText('Magnitude');
  await expect(page.getByTestId('run-queued')).toHaveCount(0);
  await expect(page.getByTestId('run-active')).toHaveCount(0);
  expect(pageErrors).toEqual([]);
});

test('a corrupt or cut share link shows its error and an empty studio', async ({ page }) => {
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto('/#pq1=this-is-not-a-link!');
  const error = page.getByTestId('share-error');
  await expect(error).toBeVisible();
  await expect(error.getByTestId('share-error-message')).toContainText('Share link:');
  await expect(page.getByTestId('shared-panel')).toHaveCount(0);
  await expect(page.getByTestId('result-card')).toHaveCount(0);
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
  await shot(page, 'corrupt-link');

  // A link from a newer studio, and a cut one.
  await page.goto('/#pq7=AAAA');
  await page.reload();
  await expect(page.getByTestId('share-error-message')).toContainText('format version 7');
  await page.goto('/#pq1=q1YqSs0rSSxJVbJSKkotLs0pUTJUqgUA');
  await page.reload();
  await expect(page.getByTestId('share-error-message')).toContainText('Share link:');
  await error.getByRole('button', { name: 'Dismiss' }).click();
  await expect(page.getByTestId('share-error')).toHaveCount(0);
  expect(new URL(page.url()).hash).toBe('');
  expect(pageErrors).toEqual([]);
});

test('dark theme and projector size', async ({ page }) => {
  await page.setViewportSize({ width: 1920, height: 1080 });
  await openStudio(page);
  const toggle = page.getByTestId('theme-toggle');
  await toggle.click(); // system → light
  await toggle.click(); // light → dark
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  expect(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor)).toBe('rgb(15, 18, 22)');
  await shot(page, 'dark-1920');
  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  // Keyboard: Tab reaches the controls with a visible focus ring.
  await page.keyboard.press('Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
  expect(outline).not.toBe('none');
  await page.setViewportSize({ width: 1280, height: 720 });
  await toggle.click(); // dark → system
  await shot(page, 'light-1280');
});

test('without WebGPU the banner says why and what to do, and the studio still loads', async ({ page }) => {
  // Hide WebGPU from the page (the engine worker keeps its own; the CPU run is in studio.spec.ts).
  await page.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true });
  });
  const pageErrors = await openStudio(page);
  const banner = page.getByTestId('webgpu-banner');
  await expect(banner).toContainText('WebGPU is not available');
  await expect(banner).toContainText('navigator.gpu is missing');
  await expect(banner).toContainText('--enable-unsafe-webgpu');
  await expect(banner).toContainText('The CPU backend still runs everything');
  expect(pageErrors).toEqual([]);
});

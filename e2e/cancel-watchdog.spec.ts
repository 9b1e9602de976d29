/**
 * Cancel always works (issue 17, item 4): a job stuck where it cannot see Cancel (the
 * `hang` test hook busy-loops the engine worker, as a catastrophic tokenizer regex would)
 * is ended after the watchdog's grace (3 s for a job showing no progress; twice its longest
 * gap between progress events for a slow one, cancel-watchdog.ts): its worker is terminated and replaced, the studio
 * says so, the run ends as cancelled, the model is reloaded, the queued run proceeds and
 * the earlier result is kept. Every step waits on a state of the page, not on time.
 */
import { expect, test } from '@playwright/test';
import { EVAL_TIMEOUT, LOAD_TIMEOUT, evaluateWindows, holdAt, waitForHold } from './helpers';

test('a job that ignores Cancel is ended after the watchdog\'s grace; the engine restarts, the model reloads, the queue goes on', async ({ page }) => {
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto('/?testhooks=1');
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });

  // An earlier result, for the queued run to match.
  await page.getByLabel('Sequence length').fill('256');
  await evaluateWindows(page, '0:1');
  const ppl = page.getByTestId('ppl-value');
  await expect(ppl).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  const earlier = (await ppl.textContent())?.trim();

  // A run held after its first window (certainly running, however fast the backend), and one queued behind it.
  await holdAt(page, 'evaluate', 1);
  await evaluateWindows(page, '0:6');
  await waitForHold(page);
  await expect(page.getByTestId('job-phase')).toHaveText(/Evaluating windows/, { timeout: EVAL_TIMEOUT });
  await evaluateWindows(page, '0:1');
  await expect(page.getByTestId('run-queued')).toHaveCount(1);

  // The worker's thread is now busy in one synchronous call: it reads no cancel message.
  await page.evaluate(() => (window as unknown as { __studioTestHooks: { hangWorker(): Promise<unknown> } }).__studioTestHooks.hangWorker());
  const t0 = Date.now();
  await page.getByTestId('run-active').getByRole('button', { name: 'Cancel' }).click();
  const restarted = page.getByRole('alert').filter({ hasText: 'The engine was restarted' });
  await expect(restarted).toBeVisible({ timeout: 20_000 });
  const elapsed = Date.now() - t0;
  // At least the 3 s base; a loaded machine's slow first events can lengthen the grace a little.
  expect(elapsed, 'the watchdog acts no sooner than 3 s after Cancel').toBeGreaterThanOrEqual(2500);
  expect(elapsed).toBeLessThan(30_000);
  await expect(restarted).toContainText(/did not stop within \d+(\.\d)? s/);
  await expect(restarted).toContainText('stories260K is being reloaded');
  await expect(page.getByRole('alert').filter({ hasText: 'Evaluation cancelled' })).toContainText(/did not stop within \d+(\.\d)? s of Cancel/);

  // The model reloads in the new worker; then the queued run runs and gives the same number.
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
  await expect(page.getByTestId('result-card')).toHaveCount(2, { timeout: EVAL_TIMEOUT });
  await expect(page.getByTestId('ppl-value').first()).toHaveText(earlier!);
  await expect(page.getByTestId('run-queued')).toHaveCount(0);
  expect(pageErrors).toEqual([]);
});

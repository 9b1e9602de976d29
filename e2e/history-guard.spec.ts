/**
 * History and share links that cannot kill the page, and nothing lost without a word
 * (issue 17, items 2 and 3), in Chromium: the crafted 1.2 KB history file is refused at
 * import and, already stored, skipped at load with a way to clear it (no crash loop); a
 * result card or chart that throws while rendering is contained with Remove / Try again;
 * leaving the page with a run in progress asks first; two tabs follow each other's
 * history, an import that reuses an id asks first, and a closed connection is reopened.
 */
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { LOAD_TIMEOUT, evaluateWindows, holdAt, openStudio, putRawEntry, waitForHold } from './helpers';

interface Rec {
  id: string;
  createdAt: string;
  layers?: unknown;
  windowMeanNll: number[];
  baseline?: { windowMeanNll: number[] };
  protocol: Record<string, unknown>;
  calibration?: Record<string, unknown>;
}
const records = JSON.parse(readFileSync(new URL('../test/fixtures/share-records.json', import.meta.url), 'utf8')) as Rec[];

const historyFile = (recs: unknown[], name = 'history.json') => ({ name, mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ schema: 'pq-studio/history', version: 1, records: recs }), 'utf-8') });

/** The crafted record: calibration of 10⁷ samples × 10⁶ tokens in a stream of 10¹⁵ (passed import before; its card then ran out of memory). */
function craftedRecord(): Rec {
  const { layers: _layers, ...r } = JSON.parse(JSON.stringify(records[0])) as Rec;
  return {
    ...r,
    id: 'crafted-1',
    windowMeanNll: [1],
    baseline: { ...r.baseline!, windowMeanNll: [1] },
    protocol: { ...r.protocol, seqlen: 2, windows: { start: 0, end: 1e12 }, streamTokens: 1e15 },
    calibration: { ...r.calibration!, samples: 1e7, seqlen: 1e6, offset: 0, sampling: 'contiguous', streamTokens: 1e15 },
  };
}

/** The page with its history read (the model may still be loading: history needs none). */
async function openHistory(page: Page, query = '?testhooks=1'): Promise<string[]> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`/${query}`);
  await expect(page.getByTestId('history-count')).toContainText('saved in this browser', { timeout: LOAD_TIMEOUT });
  return errors;
}

test('the crafted 1.2 KB history file is refused at import, and stored by an older studio it is skipped with a way to clear it', async ({ page }) => {
  const errors = await openHistory(page, '');
  const file = historyFile([craftedRecord()], 'crafted.json');
  expect(file.buffer.length).toBeLessThan(2048);
  await page.getByTestId('history-import-input').setInputFiles(file);
  await expect(page.getByRole('alert')).toContainText('Imported 0 records');
  await expect(page.getByRole('alert')).toContainText('1 invalid entry was skipped (the first: protocol.');
  await expect(page.getByTestId('history-count')).toContainText('0 runs');

  // Already in IndexedDB (as an older studio stored it): every reload used to crash. Now: skipped, with Clear.
  await putRawEntry(page, craftedRecord());
  await page.reload();
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('1 entry skipped');
  await expect(page.getByTestId('history-count')).toContainText('0 runs');
  await expect(page.getByRole('heading', { name: 'Results' })).toBeVisible();
  await alert.getByRole('button', { name: 'Clear saved history…' }).click();
  await alert.getByRole('button', { name: 'Yes, remove every saved run' }).click();
  await page.reload();
  await expect(page.getByTestId('history-count')).toContainText('0 runs, newest first · saved in this browser');
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('a result card or chart that fails to render is contained: Remove, Try again, the rest works', async ({ page }) => {
  const errors = await openHistory(page);
  const [good, broken] = [records[0]!, records[1]!];
  await page.evaluate(
    (id) => {
      const hooks = (window as unknown as { __studioTestHooks: { failRender(key: string, on?: boolean): void } }).__studioTestHooks;
      hooks.failRender(`result:${id}`);
      hooks.failRender('charts:results');
    },
    broken.id,
  );
  await page.getByTestId('history-import-input').setInputFiles(historyFile([good, broken]));
  await expect(page.getByTestId('history-count')).toContainText('2 runs');
  const failures = page.getByTestId('render-error');
  await expect(failures).toHaveCount(2);
  await expect(failures.filter({ hasText: `The result card "${broken.id}"` })).toContainText('could not be shown');
  await expect(page.getByTestId('result-card')).toHaveCount(1);
  await expect(page.getByTestId('result-card')).toHaveAttribute('data-record-id', good.id);

  // The chart block: fixed, "Try again" shows it.
  await page.evaluate(() => (window as unknown as { __studioTestHooks: { failRender(key: string, on?: boolean): void } }).__studioTestHooks.failRender('charts:results', false));
  await failures.filter({ hasText: 'The charts' }).getByRole('button', { name: 'Try again' }).click();
  await expect(page.getByTestId('results-charts')).toBeVisible();

  // The card: Remove takes the record out of the results and the history.
  await page.getByTestId('render-error-remove').click();
  await expect(page.getByTestId('render-error')).toHaveCount(0);
  await expect(page.getByTestId('history-count')).toContainText('1 run,');
  await page.reload();
  await expect(page.getByTestId('result-card')).toHaveCount(1);
  await expect(page.getByTestId('render-error')).toHaveCount(0);
  expect(errors).toEqual([]);
});

test('leaving the page while a run is in progress asks first', async ({ page }) => {
  await openStudio(page, { testHooks: true });
  // The run is held after its first window, so it is certainly still going when we leave.
  await holdAt(page, 'evaluate', 1);
  await evaluateWindows(page, '0:4');
  await waitForHold(page);
  const cancel = page.getByRole('button', { name: 'Cancel', exact: true });
  await expect(cancel).toBeVisible();
  const dialog = page.waitForEvent('dialog');
  await page.close({ runBeforeUnload: true });
  const d = await dialog;
  expect(d.type()).toBe('beforeunload');
  await d.dismiss();
  // Still open, still running; cancel it and leaving no longer asks.
  await expect(cancel).toBeVisible();
  await cancel.click();
  await expect(page.getByRole('alert').filter({ hasText: 'Evaluation cancelled' })).toBeVisible();
  const prompts: string[] = [];
  page.on('dialog', (x) => {
    prompts.push(x.type());
    void x.accept();
  });
  const closed = page.waitForEvent('close');
  await page.close({ runBeforeUnload: true });
  await closed;
  expect(prompts).toEqual([]);
});

test('two tabs: a clear or save in one updates the other; an import reusing an id asks first; a closed connection is reopened', async ({ context }) => {
  const a = await context.newPage();
  const b = await context.newPage();
  const errors = [...(await openHistory(a)), ...(await openHistory(b))];

  // A imports a run: B shows it without a reload.
  await a.getByTestId('history-import-input').setInputFiles(historyFile([records[0]]));
  await expect(b.getByTestId('history-count')).toContainText('1 run,');

  // B clears the history: A's page follows and says so.
  await b.getByRole('button', { name: 'Clear history' }).click();
  await b.getByRole('button', { name: 'Confirm clear' }).click();
  await expect(a.getByTestId('history-count')).toContainText('0 runs');
  await expect(a.getByRole('alert').filter({ hasText: 'History cleared in another tab' })).toContainText('its 1 run was removed from this page too');

  // A saves a run; B imports a file with the same id: B asks, and cancelling replaces nothing.
  await a.getByTestId('history-import-input').setInputFiles(historyFile([records[1]]));
  await expect(b.getByTestId('history-count')).toContainText('1 run,');
  const edited = { ...records[1]!, createdAt: '2020-01-01T00:00:00.000Z' };
  await b.getByTestId('history-import-input').setInputFiles(historyFile([edited, records[2]], 'other.json'));
  await expect(b.getByTestId('import-confirm-text')).toContainText('1 of the 2 records in other.json has the id of a run already in the history');
  await b.getByRole('button', { name: 'Import only the 1 new' }).click();
  await expect(a.getByTestId('history-count')).toContainText('2 runs');
  await expect(a.locator(`[data-record-id="${records[1]!.id}"] time`)).not.toHaveAttribute('datetime', edited.createdAt);

  // The browser closes A's database connection: A's next change reopens it and is saved.
  await a.evaluate(() => (window as unknown as { __studioTestHooks: { closeHistoryDb(): Promise<void> } }).__studioTestHooks.closeHistoryDb());
  await a.locator(`[data-record-id="${records[2]!.id}"]`).getByTestId('result-remove').click();
  await expect(b.getByTestId('history-count')).toContainText('1 run,');
  await a.reload();
  await expect(a.getByTestId('history-count')).toContainText('1 run,');
  await expect(a.getByRole('alert')).toHaveCount(0);
  expect(errors).toEqual([]);
});

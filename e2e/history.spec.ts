import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { EVAL_TIMEOUT, evaluateWindows, openStudio, putRawEntry, savedRecordIds } from './helpers';

test('results persist across reloads; corrupt entries are skipped; export, import, compare and clear', async ({ page }, testInfo) => {
  const pageErrors = await openStudio(page);
  await expect(page.getByTestId('history-count')).toContainText('0 runs');

  await evaluateWindows(page, '0:1');
  const ppl = page.getByTestId('ppl-value');
  await expect(ppl).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  const value = (await ppl.textContent())?.trim() ?? '';
  const recordId = await page.getByTestId('result-card').getAttribute('data-record-id');
  expect(recordId).toBeTruthy();

  // Reload once it is saved (the card shows first): the run comes back from IndexedDB.
  await expect.poll(() => savedRecordIds(page), { timeout: EVAL_TIMEOUT }).toEqual([recordId]);
  await page.reload();
  await expect(page.getByTestId('result-card')).toHaveCount(1);
  await expect(page.getByTestId('ppl-value')).toHaveText(value);
  await expect(page.getByTestId('protocol')).toContainText('windows 0:1');
  await expect(page.getByTestId('history-count')).toContainText('1 run,');
  await expect(page.getByRole('alert')).toHaveCount(0);

  // A corrupt entry is skipped with a notice; the good record still loads.
  await putRawEntry(page, { id: 'bad', schema: 'nope' });
  await page.reload();
  const alert = page.getByRole('alert');
  await expect(alert).toHaveCount(1);
  await expect(alert).toContainText('1 entry skipped');
  await expect(alert).toContainText('1 loaded');
  await expect(page.getByTestId('result-card')).toHaveCount(1);
  await expect(page.getByTestId('ppl-value')).toHaveText(value);
  await alert.getByRole('button', { name: /Dismiss/ }).click();

  // Export: one JSON document holding the record (the corrupt entry is not exported).
  const downloadPromise = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export history (JSON)' }).click();
  const download = await downloadPromise;
  expect(download.suggestedFilename()).toMatch(/^pq-studio-history-.*\.json$/);
  const exported = JSON.parse(readFileSync((await download.path())!, 'utf-8')) as { schema: string; version: number; records: { id: string; ppl: number; protocol: { seqlen: number } }[] };
  expect(exported.schema).toBe('pq-studio/history');
  expect(exported.version).toBe(1);
  expect(exported.records).toHaveLength(1);
  expect(exported.records[0].id).toBe(recordId);
  expect(exported.records[0].ppl.toFixed(3)).toBe(value);

  // Import: a second record on another seqlen plus an invalid entry (skipped and counted).
  const other = { ...exported.records[0], id: 'imported-1', createdAt: new Date(Date.now() - 60_000).toISOString(), protocol: { ...exported.records[0].protocol, seqlen: 256 } };
  const doc = { schema: 'pq-studio/history', version: 1, records: [other, { id: 'junk', schema: 'nope' }] };
  await page.getByTestId('history-import-input').setInputFiles({ name: 'history.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(doc), 'utf-8') });
  await expect(page.getByRole('alert')).toContainText('Imported 1 record');
  await expect(page.getByRole('alert')).toContainText('1 invalid entry was skipped');
  await page.getByRole('alert').getByRole('button', { name: /Dismiss/ }).click();
  await expect(page.getByTestId('result-card')).toHaveCount(2);
  await expect.poll(() => savedRecordIds(page)).toContain('imported-1');

  // Compare the two: different seqlen → a protocol warning.
  const toggles = page.getByTestId('compare-toggle');
  await toggles.nth(0).check();
  await toggles.nth(1).check();
  const compare = page.getByTestId('compare');
  await expect(compare.getByTestId('compare-table')).toContainText('stories260K');
  await expect(compare.getByTestId('compare-table')).toContainText('Dense');
  await expect(compare.getByTestId('compare-warning')).toContainText('not comparable');
  await expect(compare.getByTestId('compare-diffs')).toHaveText('seqlen');
  const shot = testInfo.outputPath('studio-compare.png');
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach('studio-compare', { path: shot, contentType: 'image/png' });

  // Remove one card (×): gone after a reload too.
  await page.getByTestId('result-card').filter({ hasText: 'seqlen 256' }).getByTestId('result-remove').click();
  await expect(page.getByTestId('result-card')).toHaveCount(1);
  await expect(page.getByTestId('compare')).toHaveCount(0);
  await expect.poll(() => savedRecordIds(page)).not.toContain('imported-1');
  await page.reload();
  await expect(page.getByTestId('result-card')).toHaveCount(1);
  await expect(page.getByRole('alert')).toContainText('1 entry skipped');

  // Clear needs a confirm step; afterwards the history is empty, also after a reload.
  await page.getByRole('button', { name: 'Clear history' }).click();
  await expect(page.getByTestId('result-card')).toHaveCount(1);
  await page.getByRole('button', { name: 'Confirm clear' }).click();
  await expect(page.getByTestId('result-card')).toHaveCount(0);
  await expect(page.getByTestId('history-count')).toContainText('0 runs');
  await expect.poll(() => savedRecordIds(page)).toEqual([]);
  await page.reload();
  await expect(page.getByTestId('history-count')).toContainText('0 runs, newest first · saved in this browser');
  await expect(page.getByTestId('result-card')).toHaveCount(0);
  await expect(page.getByRole('alert')).toHaveCount(0);
  expect(pageErrors).toEqual([]);
});

test('without IndexedDB the studio keeps results in memory with one notice', async ({ page }) => {
  await page.addInitScript(() => {
    Object.defineProperty(window, 'indexedDB', { value: undefined, configurable: true });
  });
  const pageErrors = await openStudio(page);
  const alert = page.getByRole('alert');
  await expect(alert).toHaveCount(1);
  await expect(alert).toContainText('History is not saved');
  await expect(page.getByTestId('history-count')).toContainText('kept on this page only');

  await evaluateWindows(page, '0:1');
  await expect(page.getByTestId('ppl-value')).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  await expect(page.getByRole('alert')).toHaveCount(1);
  expect(pageErrors).toEqual([]);
});

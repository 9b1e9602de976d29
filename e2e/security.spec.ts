/**
 * Security of the built site in Chromium: its Content-Security-Policy holds in the main
 * flows (load, evaluate, prune) without a single violation, blocks fetches to other hosts
 * from the page and from the engine worker, and hostile strings from a model's files
 * (config fields, tokenizer pieces, so also generated text), an uploaded file's name and
 * contents, and an imported history are shown as text only.
 */
import { readFileSync } from 'node:fs';
import { expect, test, type ConsoleMessage, type Page, type Route } from '@playwright/test';
import { EVAL_TIMEOUT, LOAD_TIMEOUT, evaluateWindows, openStudio, parsePpl, savedRecordIds } from './helpers';

/** Strings that would run script or add elements if they ever reached innerHTML. */
const HOSTILE = [
  '<img src=x onerror="window.__pwned=1;alert(1)">',
  '</script><script>window.__pwned=2</script>',
  '"><svg onload="window.__pwned=3">',
  "javascript:window.__pwned=4//'",
  '{{constructor.constructor("window.__pwned=5")()}}',
];
const HOSTILE_TEXT = HOSTILE.join(' ');

/** Records CSP violations (document) and console errors (page and worker) from the start. */
async function watch(page: Page) {
  await page.addInitScript(() => {
    const w = window as unknown as { __csp: string[] };
    w.__csp = [];
    document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const consoleErrors: string[] = [];
  const dialogs: string[] = [];
  const onConsole = (where: string) => (m: ConsoleMessage) => {
    if (m.type() === 'error') consoleErrors.push(`${where}: ${m.text()}`);
  };
  page.on('console', onConsole('page'));
  page.on('worker', (w) => w.on('console', onConsole('worker')));
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  return {
    consoleErrors,
    dialogs,
    violations: () => page.evaluate(() => (window as unknown as { __csp: string[] }).__csp),
    pwned: () => page.evaluate(() => (window as unknown as { __pwned?: unknown }).__pwned ?? null),
  };
}

/** No element or attribute that a hostile string would have created exists in the page. */
async function expectNoInjectedMarkup(page: Page) {
  expect(await page.locator('img[src="x"], svg[onload], script:not([src])').count()).toBe(0);
  const handlers = await page.evaluate(() => [...document.querySelectorAll('*')].filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))).length);
  expect(handlers).toBe(0);
}

test('the built site has a strict CSP and the main flows raise no violation', async ({ page }) => {
  const w = await watch(page);
  const pageErrors = await openStudio(page);

  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
  expect(csp).toMatch(/connect-src 'self' https:\/\/huggingface\.co/);
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toMatch(/'unsafe-eval'/);

  // Evaluate, then prune (magnitude: no calibration) and Wanda (calibration on the GPU).
  await page.getByLabel('Sequence length').fill('128');
  await evaluateWindows(page, '0:1');
  await expect(page.getByTestId('ppl-value')).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  const method = page.getByTestId('method-panel');
  await method.getByLabel('Pruning method').selectOption('wanda');
  await method.getByLabel('Sparsity', { exact: true }).fill('0.5');
  await page.getByLabel('Samples', { exact: true }).fill('2');
  await page.getByLabel('Tokens per sample', { exact: true }).fill('32');
  await page.getByRole('button', { name: 'Prune & evaluate' }).click();
  await expect(page.getByTestId('ppl-before')).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  expect(parsePpl(await page.getByTestId('ppl-before').first().textContent())).toBeGreaterThan(1);
  await expect(page.getByTestId('job-progress')).toHaveCount(0, { timeout: EVAL_TIMEOUT });
  await expect(page.getByRole('alert')).toHaveCount(0);

  expect(await w.violations()).toEqual([]);
  expect(w.consoleErrors).toEqual([]);
  expect(pageErrors).toEqual([]);

  // The policy is live: a fetch to another origin (the same server under another name, so it
  // would succeed without the policy) is refused, in the page and in the engine worker.
  const other = new URL('/models/stories260K/config.json', page.url().replace('127.0.0.1', 'localhost')).href;
  const pageFetch = await page.evaluate((u) => fetch(u).then(() => 'fetched', (e: Error) => `refused: ${e.message}`), other);
  expect(pageFetch).toMatch(/^refused/);
  // The violation event may come after the refused fetch has settled.
  await expect.poll(async () => (await w.violations()).join('\n')).toContain(`connect-src ${other}`);
  const worker = page.workers()[0]!;
  const inWorker = await worker.evaluate(async (u) => {
    const seen: string[] = [];
    // The violation event may come after the refused fetch has settled: wait for it (a
    // generous bound, so that a missing report fails the check below instead of hanging).
    const reported = new Promise<void>((resolve) =>
      self.addEventListener('securitypolicyviolation', (e) => {
        seen.push(`${e.violatedDirective} ${e.blockedURI}`);
        resolve();
      }),
    );
    const result = await fetch(u).then(() => 'fetched', (e: Error) => `refused: ${e.message}`);
    await Promise.race([reported, new Promise((r) => setTimeout(r, 30_000))]);
    return { result, seen };
  }, other);
  expect(inWorker.result).toMatch(/^refused/);
  expect(inWorker.seen).toEqual([`connect-src ${other}`]);
  // The same-origin fetch still works from the worker (the policy is not simply blocking all).
  expect(await worker.evaluate((u) => fetch(u).then((r) => r.status), new URL('/models/stories260K/config.json', page.url()).href)).toBe(200);
});

test('hostile strings in model files, uploads and an imported history stay text', async ({ page }) => {
  const w = await watch(page);

  // 1. A model whose config names a hostile architecture: refused, the message shown as text.
  await page.route('**/models/stories260K/config.json', async (route: Route) => {
    const res = await route.fetch();
    const cfg = (await res.json()) as Record<string, unknown>;
    await route.fulfill({ response: res, json: { ...cfg, architectures: [HOSTILE[0]], model_type: HOSTILE[1] } });
  });
  await page.goto('/');
  const alert = page.getByRole('alert').filter({ hasText: 'unsupported architecture' });
  await expect(alert).toBeVisible({ timeout: LOAD_TIMEOUT });
  await expect(alert).toContainText(HOSTILE[0]!);
  await expectNoInjectedMarkup(page);
  await page.unrouteAll({ behavior: 'wait' });

  // 2. A model whose tokenizer pieces are hostile strings — among them pieces the model
  // generates right after "Once upon a time" — loads, evaluates and generates.
  const PIECES = ['▁was', '▁there', '▁little', ',', '▁a'];
  await page.route('**/models/stories260K/tokenizer.json', async (route: Route) => {
    const res = await route.fetch();
    const tok = (await res.json()) as { model: { vocab: Record<string, number> } };
    const vocab = tok.model.vocab;
    PIECES.forEach((piece, i) => {
      const id = vocab[piece]!;
      delete vocab[piece];
      vocab[HOSTILE[i]!] = id;
    });
    await route.fulfill({ response: res, json: tok });
  });
  await page.reload();
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
  await page.getByLabel('Sequence length').fill('64');
  await page.getByLabel('Dataset').selectOption('file');
  await page.getByLabel('Text file (.txt, UTF-8)').setInputFiles({ name: `${HOSTILE[0]}.txt`, mimeType: 'text/plain', buffer: Buffer.from(`${HOSTILE_TEXT}\n`.repeat(40), 'utf-8') });
  await evaluateWindows(page, '0:1');
  await expect(page.getByTestId('ppl-value')).toHaveCount(1, { timeout: EVAL_TIMEOUT });
  await expect(page.getByTestId('protocol').first()).toContainText(`${HOSTILE[0]}.txt`);
  await expectNoInjectedMarkup(page);

  const gen = page.locator('section', { has: page.getByRole('heading', { name: 'Generate: dense vs compressed' }) });
  await gen.getByLabel('Generation prompt').fill('Once upon a time');
  await gen.getByLabel('New tokens').fill('16');
  await gen.getByRole('button', { name: 'Generate both' }).click();
  const generated = gen.getByTestId('gen-text-dense');
  await expect(generated).toContainText(HOSTILE[0]!, { timeout: EVAL_TIMEOUT });
  await expectNoInjectedMarkup(page);

  // 3. An imported history whose records carry hostile names and devices (exported from the saved one).
  await expect.poll(() => savedRecordIds(page), { timeout: EVAL_TIMEOUT }).toHaveLength(1);
  const downloadPromise = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export history (JSON)' }).click();
  const exported = JSON.parse(readFileSync((await (await downloadPromise).path())!, 'utf-8')) as { records: Record<string, unknown>[] };
  const rec = exported.records[0] as { model: Record<string, unknown>; protocol: { dataset: Record<string, unknown> }; backend: Record<string, unknown> };
  const hostileRecord = {
    ...rec,
    id: 'hostile-1',
    model: { ...rec.model, id: HOSTILE[1], architecture: HOSTILE[2] },
    protocol: { ...rec.protocol, dataset: { ...rec.protocol.dataset, name: HOSTILE[3] } },
    backend: { ...rec.backend, device: HOSTILE[4] },
  };
  const doc = { schema: 'pq-studio/history', version: 1, records: [hostileRecord] };
  await page.getByTestId('history-import-input').setInputFiles({ name: `${HOSTILE[2]}.json`, mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(doc), 'utf-8') });
  await expect(page.getByRole('alert').filter({ hasText: 'Imported 1 record' })).toBeVisible();
  const card = page.locator('[data-record-id="hostile-1"]');
  await expect(card).toContainText(HOSTILE[1]!);
  await expect(card).toContainText(HOSTILE[3]!);
  await expectNoInjectedMarkup(page);

  expect(await w.pwned()).toBeNull();
  expect(w.dialogs).toEqual([]);
  expect(await w.violations()).toEqual([]);
});

/**
 * The built site works from any sub-path (relative base), as demo links are shared: the
 * same build served under /demos/pq-studio/ loads the bundled model, runs, and makes share
 * links that keep the sub-path and open there.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { LOAD_TIMEOUT } from './helpers';

const DIST = path.resolve(process.env.STUDIO_OUT_DIR ?? 'dist');
const PREFIX = '/demos/pq-studio/';
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

let server: Server;
let origin: string;

test.beforeAll(async () => {
  // A plain static host: files under PREFIX only, nothing at the root.
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!url.pathname.startsWith(PREFIX)) {
      res.writeHead(404).end('not under the sub-path');
      return;
    }
    let rel = decodeURIComponent(url.pathname.slice(PREFIX.length));
    if (rel === '' || rel.endsWith('/')) rel += 'index.html';
    const file = path.join(DIST, rel);
    if (!file.startsWith(DIST + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end('missing'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

test('the static build works from a sub-path and its share links keep it', async ({ page }) => {
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(origin + PREFIX);
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });

  await page.getByLabel('Sequence length').fill('64');
  await page.getByLabel('Windows', { exact: true }).fill('0:1');
  await page.getByTestId('method-panel').getByLabel('Pruning method').selectOption('magnitude');
  await page.getByRole('button', { name: 'Prune & evaluate' }).click();
  await expect(page.getByTestId('result-card')).toHaveCount(1, { timeout: 240_000 });

  await page.getByRole('button', { name: 'Make share link' }).click();
  const url = await page.getByTestId('share-url').inputValue();
  expect(url.startsWith(`${origin}${PREFIX}#pq1=`)).toBe(true);
  await page.goto('about:blank');
  await page.goto(url);
  await expect(page.getByTestId('shared-panel')).toBeVisible();
  await expect(page.getByTestId('shared-panel').getByTestId('chart-before-after')).toBeVisible();
  expect(pageErrors).toEqual([]);
});

/**
 * Hub models in the studio, against a local server in the Hub's URL layout (the Hub URL
 * setting points the page at it): preview before download, a sharded bf16 model downloaded with progress,
 * loaded and evaluated, a second load from the cache with no request, the cache cleared;
 * a gated model with a token that stays out of URLs and storage; an unsupported
 * architecture refused before any weight request; an oversized model not offered as
 * fitting; a slow download cancelled with nothing cached.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { fixtureFiles, fixtureModel, GATED_TOKEN, oversizedRepo, standardRepos, TINY_CONFIG, bundledRepoFiles } from '../test/support/hub-fixtures';
import { startHubServer, type HubRepoSpec, type HubServer } from '../test/support/hub-server';
import { EVAL_TIMEOUT, LOAD_TIMEOUT, evaluateWindows } from './helpers';
import { BUILD_DIR, serveBuild, type StaticHost } from './static-host';

let server: HubServer;

/**
 * The built site's Content-Security-Policy lets the page and its worker fetch only from the
 * Hub hosts of the build (STUDIO_HUB_URL, default huggingface.co and its CDN hosts;
 * security.spec.ts checks it). These tests serve the same build from a second static
 * server whose policy's connect-src names the local Hub server and its "CDN" instead, as a
 * build for that host has it; every other directive is the build's own.
 */
let site = '';
let siteHost: StaticHost;

async function startSite(): Promise<void> {
  const html = readFileSync(path.join(BUILD_DIR, 'index.html'), 'utf8');
  const meta = /http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(html);
  if (!meta) throw new Error(`${BUILD_DIR}/index.html has no Content-Security-Policy (build it first)`);
  const policy = meta[1]!.replaceAll('&#39;', "'").replace(/connect-src [^;]*/, `connect-src 'self' ${server.url} ${server.cdnUrl}`);
  siteHost = await serveBuild({ headers: { 'content-security-policy': policy }, index: html.replace(meta[1]!, policy.replaceAll("'", '&#39;')) });
  site = siteHost.url;
}

test.beforeAll(async () => {
  const repos: Record<string, HubRepoSpec> = standardRepos();
  repos['bad/unsupported'] = { files: { ...fixtureFiles(fixtureModel()), 'config.json': JSON.stringify({ ...TINY_CONFIG, architectures: ['FalconForCausalLM'] }) } };
  repos['big/oversized'] = oversizedRepo();
  // Slow, then stalled at 256 KiB: the download is still running whenever the test cancels it.
  repos['studio-test/slow'] = { files: bundledRepoFiles(), throttleMs: 150, stallAfter: { 'model.safetensors': 256 * 1024 } };
  server = await startHubServer(repos);
  await startSite();
});

test.afterAll(async () => {
  siteHost?.close();
  await server?.close();
});

/** Opens the studio and waits for the bundled model; a failed load fails with the page's notices. */
async function openStudio(page: Page): Promise<string[]> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(site);
  await expect(page.getByTestId('model-status')).not.toHaveText(/loading|starting/, { timeout: LOAD_TIMEOUT });
  const status = await page.getByTestId('model-status').innerText();
  if (status !== 'loaded') throw new Error(`bundled model: ${status}: ${await page.locator('.notices').innerText().catch(() => '')}`);
  return errors;
}

/** Opens the Hub section and points it at the local server (a setting kept in localStorage). */
async function openHub(page: Page): Promise<void> {
  await page.getByText('Load a model from the Hugging Face Hub').click();
  if ((await page.getByTestId('hub-url').inputValue()) !== server.url) {
    await page.getByText('Access token and Hub URL').click();
    await page.getByTestId('hub-url').fill(server.url);
    await page.getByText('Access token and Hub URL').click();
  }
}

async function check(page: Page, id: string): Promise<void> {
  await page.getByTestId('hub-id').fill(id);
  await page.getByTestId('hub-check').click();
}

test('previews, downloads, loads and evaluates a sharded bf16 Hub model; reloads it from the cache; clears the cache', async ({ page }) => {
  const errors = await openStudio(page);
  await openHub(page);
  const id = 'studio-test/tiny-llama-sharded';
  await check(page, id);
  await expect(page.getByTestId('hub-preview')).toBeVisible();
  await expect(page.getByTestId('hub-parameters')).toHaveText('31.9K');
  await expect(page.getByTestId('hub-verdict')).toHaveAttribute('data-verdict', 'ok');
  await expect(page.getByTestId('hub-download')).toContainText('KiB');
  // Before the download: only Range requests for the weight files.
  const previewReqs = server.requestsFor(id, { weightsOnly: true });
  expect(previewReqs.length).toBe(6);
  expect(previewReqs.every((r) => r.range !== null)).toBe(true);

  await page.getByTestId('hub-load').click();
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
  await expect(page.locator('.model-name').first()).toHaveText(id);
  await expect(page.getByTestId('model-hub-ref')).toContainText('revision main');
  await expect(page.getByTestId('model-layers')).toHaveText('2');

  await evaluateWindows(page, '0:1');
  await expect(page.getByTestId('result-card').first()).toContainText(id, { timeout: EVAL_TIMEOUT });

  // A second load (after a reload of the page) comes from the Cache API: no request at all.
  await page.reload();
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
  await openHub(page);
  const before = server.requestsFor(id).length;
  await check(page, id);
  await expect(page.getByTestId('hub-download')).toContainText('cached');
  await page.getByTestId('hub-load').click();
  await expect(page.locator('.model-name').first()).toHaveText(id, { timeout: LOAD_TIMEOUT });
  expect(server.requestsFor(id).length).toBe(before);

  await page.getByTestId('hub-clear-cache').click();
  await expect(page.getByRole('alert').filter({ hasText: 'Hub cache cleared' })).toBeVisible();
  await check(page, id);
  await expect(page.getByTestId('hub-download')).not.toContainText('cached');
  expect(server.requestsFor(id).length).toBeGreaterThan(before);
  expect(errors).toEqual([]);
});

test('a gated model: 401 explained, loads with the token, which stays out of URLs and storage', async ({ page }) => {
  await openStudio(page);
  await openHub(page);
  const id = 'studio-test/gated';
  await check(page, id);
  await expect(page.getByTestId('hub-preview-error')).toContainText('access denied (HTTP 401); the repository is gated or private: give a Hub access token');

  await page.getByText('Access token and Hub URL').click();
  await page.getByTestId('hub-token').fill(GATED_TOKEN);
  const from = server.log.length;
  await page.getByTestId('hub-check').click();
  await expect(page.getByTestId('hub-verdict')).toHaveAttribute('data-verdict', 'ok');
  await page.getByTestId('hub-load').click();
  await expect(page.locator('.model-name').first()).toHaveText(id, { timeout: LOAD_TIMEOUT });

  // The weights redirect to another host (as the Hub's CDN): the token goes to the Hub only.
  const sent = server.log.slice(from).filter((r) => r.method === 'GET');
  const hub = sent.filter((r) => r.server === 'hub');
  const cdn = sent.filter((r) => r.server === 'cdn');
  expect(hub.length).toBeGreaterThan(0);
  expect(cdn.length).toBeGreaterThan(0);
  expect(hub.every((r) => r.authorization === `Bearer ${GATED_TOKEN}`)).toBe(true);
  expect(cdn.every((r) => r.authorization === null)).toBe(true);
  expect(server.log.every((r) => !r.url.includes(GATED_TOKEN))).toBe(true);
  expect(page.url()).not.toContain(GATED_TOKEN);
  const stored = await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } }));
  expect(stored).not.toContain(GATED_TOKEN);

  // "Remember for this tab": session storage only, so a reload keeps it and localStorage never has it.
  await page.getByTestId('hub-remember').check();
  await page.reload();
  await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
  await openHub(page);
  await page.getByText('Access token and Hub URL').click();
  await expect(page.getByTestId('hub-token')).toHaveValue(GATED_TOKEN);
  const after = await page.evaluate(() => ({ local: JSON.stringify({ ...localStorage }), session: JSON.stringify({ ...sessionStorage }) }));
  expect(after.local).not.toContain(GATED_TOKEN);
  expect(after.session).toContain(GATED_TOKEN);
});

test('refuses an unsupported architecture before any weight request, and does not offer an oversized model as fitting', async ({ page }) => {
  await openStudio(page);
  await openHub(page);
  await check(page, 'bad/unsupported');
  await expect(page.getByTestId('hub-preview-error')).toContainText('unsupported architecture "FalconForCausalLM"');
  expect(server.requestsFor('bad/unsupported', { weightsOnly: true })).toHaveLength(0);

  await check(page, 'big/oversized');
  await expect(page.getByTestId('hub-preview')).toBeVisible();
  await expect(page.getByTestId('hub-download')).toContainText('GiB');
  await expect(page.getByTestId('hub-verdict')).not.toHaveAttribute('data-verdict', 'ok');
  await expect(page.getByTestId('hub-load')).toHaveText(/Does not fit|Load anyway/);
  const ranges = server.requestsFor('big/oversized', { weightsOnly: true });
  expect(ranges.every((r) => r.range !== null)).toBe(true);
});

test('a slow download shows bytes and speed, and Cancel stops it with nothing cached', async ({ page }) => {
  await openStudio(page);
  await openHub(page);
  await check(page, 'studio-test/slow');
  await expect(page.getByTestId('hub-verdict')).toHaveAttribute('data-verdict', 'ok');
  await page.getByTestId('hub-load').click();
  await expect(page.getByTestId('download-speed')).toContainText('/s', { timeout: LOAD_TIMEOUT });
  await expect(page.locator('.job-count')).toContainText('/ 1020.6 KiB');
  await page.getByTestId('download-cancel').click();
  await expect(page.getByRole('alert').filter({ hasText: 'Download cancelled' })).toBeVisible();
  await expect(page.locator('.model-name').first()).toHaveText('stories260K');
  await check(page, 'studio-test/slow');
  await expect(page.getByTestId('hub-download')).not.toContainText('cached');
});

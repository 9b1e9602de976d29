/**
 * The studio on an ordinary static host. The engine worker (every fetch, every WebAssembly
 * compile) runs under its own script's response headers, not the page's <meta> policy, so:
 * - the build ships header files for common static hosts with the very policy `vite preview`
 *   sends (docs/hosting.md);
 * - on a host that sends none, the worker itself refuses a Hub URL outside the site's
 *   connect-src, before any request leaves the page.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from '@playwright/test';
import { policyInHeaderFile } from '../scripts/hosting-headers';
import { standardRepos } from '../test/support/hub-fixtures';
import { startHubServer, type HubServer } from '../test/support/hub-server';
import { LOAD_TIMEOUT } from './helpers';
import { BUILD_DIR as root, serveBuild, type StaticHost } from './static-host';

const HEADER_FILES = ['_headers', 'csp.nginx.conf', '.htaccess'];

test('the build ships header files for static hosts with the policy vite preview sends', async ({ request }) => {
  const sent = (await request.get('/')).headers()['content-security-policy'];
  expect(sent).toMatch(/connect-src 'self' https:\/\/huggingface\.co/);
  for (const name of HEADER_FILES) {
    const file = path.join(root, name);
    expect(existsSync(file), `${file} (build first)`).toBe(true);
    expect(policyInHeaderFile(name, readFileSync(file, 'utf8')), name).toBe(sent);
  }
  const meta = /http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(readFileSync(path.join(root, 'index.html'), 'utf8'));
  expect(meta?.[1]?.replaceAll('&#39;', "'")).toBe(sent);
});

let hub: HubServer;
let site = '';
let siteHost: StaticHost;

test.describe('on a static host that sends no CSP header', () => {
  test.beforeAll(async () => {
    hub = await startHubServer(standardRepos());
    // The build served as a plain static host would: files only, no Content-Security-Policy header.
    siteHost = await serveBuild();
    site = siteHost.url;
  });
  test.afterAll(async () => {
    siteHost?.close();
    await hub?.close();
  });

  test('the engine worker refuses a Hub URL outside the site’s connect-src, sending nothing', async ({ page }) => {
    await page.goto(site);
    await expect(page.getByTestId('model-status')).toHaveText('loaded', { timeout: LOAD_TIMEOUT });
    await page.getByText('Load a model from the Hugging Face Hub').click();
    await page.getByText('Access token and Hub URL').click();
    await page.getByTestId('hub-url').fill(hub.url);
    await page.getByTestId('hub-id').fill('studio-test/stories260K');
    await page.getByTestId('hub-check').click();
    const error = page.getByTestId('hub-preview-error');
    await expect(error).toContainText(`${hub.url}: ${hub.url} is not a host this site may fetch from`);
    await expect(error).toContainText("connect-src allows 'self' https://huggingface.co");
    expect(hub.log).toEqual([]);

    // The check is what stopped it: here the worker has no policy, and a fetch of its own goes out.
    const worker = page.workers()[0]!;
    const status = await worker.evaluate((u) => fetch(u).then((r) => r.status), `${hub.url}/studio-test/stories260K/resolve/main/config.json`);
    expect(status).toBe(200);
    expect(hub.log.length).toBe(1);
  });
});

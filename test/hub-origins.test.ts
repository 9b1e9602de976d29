/**
 * Where Hub requests may go:
 * - the engine worker holds every Hub URL (and every redirect) to the site's connect-src
 *   (src/engine/hub/origins.ts, the list vite.config.ts builds the policy from): on a static
 *   host that sends no CSP header the worker would otherwise fetch from anywhere;
 * - with a token, a plain-http Hub URL is refused unless it is loopback (the token would
 *   cross the network readable), in the engine and so in the CLI and the page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StudioError } from '../src/engine/errors';
import { hubFetch, isLoopbackHost } from '../src/engine/hub/http';
import { hubSource } from '../src/engine/hub/hub-source';
import { checkHubOrigin, connectSourcesOf, hubConnectSources, originAllowed, PUBLIC_HUB_SOURCES, type HubOriginPolicy } from '../src/engine/hub/origins';
import { parseHubRepo } from '../src/engine/hub/repo';
import { createEngineApi } from '../src/worker/engine-api';
import { contentSecurityPolicy } from '../vite.config';
import { runCli } from './support/cli';
import { GATED_TOKEN, standardRepos } from './support/hub-fixtures';
import { startHubServer, type HubServer } from './support/hub-server';

let server: HubServer;
beforeAll(async () => {
  server = await startHubServer(standardRepos());
});
afterAll(async () => {
  await server?.close();
});

const SITE = 'https://studio.example.org';
const built: HubOriginPolicy = { sources: hubConnectSources(), self: SITE };

async function rejection(p: Promise<unknown>): Promise<StudioError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(StudioError);
  return e as StudioError;
}

describe('the allowed origins', () => {
  it('are the connect-src of the built policy (one definition)', () => {
    expect(connectSourcesOf(contentSecurityPolicy())).toEqual(hubConnectSources());
    expect(connectSourcesOf(contentSecurityPolicy('https://hub.example.org/mirror/'))).toEqual(["'self'", 'https://hub.example.org']);
    expect(hubConnectSources()).toEqual(["'self'", ...PUBLIC_HUB_SOURCES]);
    expect(connectSourcesOf("default-src 'self'")).toEqual(["'self'"]);
    expect(connectSourcesOf('img-src data:')).toBeNull();
  });

  it('match as CSP source expressions do', () => {
    const ok = (u: string, p = built) => originAllowed(u, p);
    expect(ok('https://huggingface.co/a/b/resolve/main/config.json')).toBe(true);
    expect(ok('https://cdn-lfs-us-1.hf.co/repos/x')).toBe(true);
    expect(ok('https://cas-bridge.xethub.hf.co/x')).toBe(true);
    expect(ok(`${SITE}/models/x`)).toBe(true); // 'self'
    expect(ok('https://hf.co.evil.example/x')).toBe(false);
    expect(ok('https://evilhuggingface.co/x')).toBe(false);
    expect(ok('http://huggingface.co/x')).toBe(false); // scheme
    expect(ok('https://huggingface.co:8443/x')).toBe(false); // port
    expect(ok('https://studio.example.org:444/x')).toBe(false);
    const local: HubOriginPolicy = { sources: ["'self'", 'http://127.0.0.1:8080'], self: null };
    expect(ok('http://127.0.0.1:8080/a', local)).toBe(true);
    expect(ok('http://127.0.0.1:8081/a', local)).toBe(false);
    expect(ok('https://anything.example/', { sources: ['https:'], self: null })).toBe(true);
    expect(ok('https://anything.example/', { sources: ["'none'"], self: null })).toBe(false);
  });

  it('refuse with a StudioError naming the origin and the allowed list', () => {
    expect(() => checkHubOrigin('https://evil.example/x', built, 'Hub URL https://evil.example')).toThrow(
      /^Hub URL https:\/\/evil\.example: https:\/\/evil\.example is not a host this site may fetch from \(its Content-Security-Policy connect-src allows 'self' https:\/\/huggingface\.co/,
    );
    expect(() => checkHubOrigin('https://evil.example/x', null, 'x')).not.toThrow();
  });
});

describe('the engine holds Hub requests to the allowed origins', () => {
  it('refuses a Hub URL outside them before any request', async () => {
    const before = server.log.length;
    const endpoint = { baseUrl: server.url, allowedOrigins: built };
    const e = await rejection(hubFetch(endpoint, `${server.url}/studio-test/stories260K/resolve/main/config.json`, { what: 'config.json' }));
    expect(e.code).toBe('input');
    expect(e.message).toContain(`${new URL(server.url).origin} is not a host this site may fetch from`);
    expect((await rejection(hubSource({ endpoint, repo: parseHubRepo('studio-test/stories260K') }).readBytes('config.json'))).message).toMatch(/is not a host this site may fetch from/);
    expect(server.log.length).toBe(before);
  });

  it('refuses a redirect that leaves them (the weights host not in connect-src)', async () => {
    // The Hub server is allowed, its "CDN" (weight files redirect there) is not.
    const endpoint = { baseUrl: server.url, allowedOrigins: { sources: [server.url], self: null } };
    const src = hubSource({ endpoint, repo: parseHubRepo('studio-test/tiny-llama-bf16') });
    expect(new TextDecoder().decode(await src.readBytes('config.json'))).toContain('hidden_size');
    const e = await rejection(src.readBytes('model.safetensors'));
    expect(e.message).toMatch(/model\.safetensors \(redirected\): http:\/\/localhost:\d+ is not a host this site may fetch from/);
    expect(server.log.filter((r) => r.server === 'cdn').length).toBe(0);
  });

  it("the worker API refuses a Hub preview outside the site's connect-src, and follows the page's list", async () => {
    const api = createEngineApi(() => null, { hubCache: null, hubOrigins: built });
    const req = { baseUrl: server.url, id: 'studio-test/stories260K', jobId: 'p1', backend: 'cpu' as const, seqlen: 64 };
    const e = await rejection(api.hubPreview(req));
    expect(e.message).toMatch(/^Hub URL http:\/\/127\.0\.0\.1:\d+: http:\/\/127\.0\.0\.1:\d+ is not a host this site may fetch from/);
    const load = await rejection(api.loadModel({ jobId: 'l1', id: req.id, url: '', source: 'hub', backend: 'cpu', hub: req }, () => {}));
    expect(load.message).toMatch(/is not a host this site may fetch from/);
    // The page's <meta> names the local Hub and its CDN (as e2e/hub.spec.ts's site does).
    api.setHubConnectSources(["'self'", server.url, server.cdnUrl]);
    expect((await api.hubPreview({ ...req, jobId: 'p2' })).preview.parameters).toBeGreaterThan(0);
  });

  it('checks nothing where no policy applies (Node, the CLI)', async () => {
    const api = createEngineApi(() => null, { hubCache: null });
    api.setHubConnectSources(["'none'"]);
    const req = { baseUrl: server.url, id: 'studio-test/stories260K', jobId: 'p3', backend: 'cpu' as const, seqlen: 64 };
    expect((await api.hubPreview(req)).preview.parameters).toBeGreaterThan(0);
  });
});

describe('a token is never sent over plain http beyond this machine', () => {
  it('loopback is 127.0.0.0/8, localhost and [::1]', () => {
    const host = (u: string) => new URL(u).hostname;
    expect(['http://127.0.0.1:1/', 'http://127.4.5.6/', 'http://localhost:8080/', 'http://[::1]:9/', 'http://2130706433/', 'http://LOCALHOST/'].map((u) => isLoopbackHost(host(u)))).toEqual([true, true, true, true, true, true]);
    expect(['http://10.0.0.1/', 'http://localhost.evil.example/', 'http://127.0.0.1.nip.io/', 'http://[::ffff:7f00:1]/', 'http://hub.example.org/'].map((u) => isLoopbackHost(host(u)))).toEqual([false, false, false, false, false]);
  });

  it('the engine refuses a non-loopback http Hub URL with a token, before any request', async () => {
    let requests = 0;
    const fetchFn = (async () => {
      requests++;
      return new Response('{}');
    }) as typeof fetch;
    const endpoint = { baseUrl: 'http://hub.example.org/', token: GATED_TOKEN, fetchFn };
    const e = await rejection(hubFetch(endpoint, 'http://hub.example.org/a/b/resolve/main/config.json', { what: 'a/b/config.json' }));
    expect(e.code).toBe('input');
    expect(e.message).toMatch(/^Hub URL http:\/\/hub\.example\.org is plain http: a token would cross the network readable by anyone on the way; use https/);
    expect(e.message).not.toContain(GATED_TOKEN);
    expect((await rejection(hubSource({ endpoint, repo: parseHubRepo('a/b') }).readBytes('config.json'))).message).toMatch(/is plain http/);
    expect(requests).toBe(0);
    // Without the token, or over https, or on loopback: requests go out.
    await hubFetch({ ...endpoint, token: null }, 'http://hub.example.org/x', { what: 'x' });
    await hubFetch({ ...endpoint, baseUrl: 'https://hub.example.org/' }, 'https://hub.example.org/x', { what: 'x' });
    await hubFetch({ ...endpoint, baseUrl: 'http://localhost:9/' }, 'http://localhost:9/x', { what: 'x' });
    expect(requests).toBe(3);
  });

  it('the worker API refuses it too (the page sends its token the same way)', async () => {
    const api = createEngineApi(() => null, { hubCache: null });
    const e = await rejection(api.hubPreview({ baseUrl: 'http://hub.example.invalid:8080', id: 'a/b', token: GATED_TOKEN, jobId: 'p', backend: 'cpu', seqlen: 64 }));
    expect(e.message).toMatch(/is plain http/);
  });

  it('the CLI refuses HF_TOKEN with a non-loopback http --hub-url, exit status 1, token not printed', async () => {
    process.env.HF_TOKEN = GATED_TOKEN;
    try {
      const r = await runCli(['eval', '--model', 'studio-test/gated', '--dataset', 'tinystories', '--windows', '0:1', '--no-hub-cache', '--hub-url', 'http://hub.example.invalid:8080']);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/Hub URL http:\/\/hub\.example\.invalid:8080 is plain http: a token would cross the network/);
      expect(r.out + r.err).not.toContain(GATED_TOKEN);
      // Loopback stays usable with a token (a local mirror, the test server).
      const local = await runCli(['eval', '--model', 'studio-test/gated', '--dataset', 'tinystories', '--seqlen', '64', '--windows', '0:1', '--no-hub-cache', '--hub-url', server.url, '--json']);
      expect(local.code, local.err).toBe(0);
    } finally {
      delete process.env.HF_TOKEN;
    }
  });
});

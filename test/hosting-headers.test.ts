/**
 * The header files the build ships for static hosts (Netlify/Cloudflare `_headers`, an nginx
 * snippet, Apache `.htaccess`) set exactly the policy that `vite preview` sends and that the
 * <meta> in index.html has: the engine worker runs under its own response headers, so on a
 * static host only these files give it a policy. The built folder itself is checked in
 * e2e/hosting.spec.ts (the build runs before the end-to-end tests).
 */
import { describe, expect, it } from 'vitest';
import type { Plugin } from 'vite';
import { hostingHeaderFiles, policyInHeaderFile } from '../scripts/hosting-headers';
import config, { contentSecurityPolicy, cspFiles } from '../vite.config';

/** What the build plugin emits and injects, as the build would. */
function build(plugin: Plugin) {
  const files: Record<string, string> = {};
  (plugin.generateBundle as (this: unknown) => void).call({ emitFile: (f: { fileName: string; source: string }) => (files[f.fileName] = f.source) });
  const handler = (plugin.transformIndexHtml as unknown as { handler: () => { attrs: Record<string, string> }[] }).handler;
  return { files, meta: handler()[0]!.attrs };
}

describe('header files for static hosts', () => {
  const previewPolicy = (config as { preview: { headers: Record<string, string> } }).preview.headers['Content-Security-Policy']!;

  it('the build emits _headers, an nginx snippet and .htaccess, each with the policy vite preview sends', () => {
    const { files, meta } = build(cspFiles());
    expect(Object.keys(files).sort()).toEqual(['.htaccess', '_headers', 'csp.nginx.conf']);
    for (const [name, text] of Object.entries(files)) expect(policyInHeaderFile(name, text), name).toBe(previewPolicy);
    expect(meta).toEqual({ 'http-equiv': 'Content-Security-Policy', content: previewPolicy });
    expect(previewPolicy).toBe(contentSecurityPolicy());
  });

  it('in each host’s own syntax', () => {
    const p = contentSecurityPolicy('https://hub.example.org');
    const f = hostingHeaderFiles(p);
    expect(f._headers).toMatch(new RegExp(`^/\\*\\n  Content-Security-Policy: ${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'));
    expect(f['csp.nginx.conf']).toContain(`add_header Content-Security-Policy "${p}" always;`);
    expect(f['.htaccess']).toContain(`Header always set Content-Security-Policy "${p}"`);
    expect(p).toContain('connect-src \'self\' https://hub.example.org;');
  });

  it('refuses a policy that would break out of the quoting', () => {
    expect(() => hostingHeaderFiles('default-src "x"')).toThrow(/double quotes/);
    expect(() => hostingHeaderFiles("default-src 'self'\nX-Evil: 1")).toThrow(/line breaks/);
  });
});

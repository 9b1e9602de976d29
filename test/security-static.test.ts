/**
 * Static security checks on the source and the build policy:
 * - no code path writes HTML from strings (dangerouslySetInnerHTML, innerHTML, outerHTML,
 *   insertAdjacentHTML, document.write) or evaluates strings as code (eval, new Function,
 *   string timers): model names, config fields, tokenizer pieces and generated text can
 *   only ever reach the page as React text;
 * - the Content-Security-Policy of the built site (vite.config.ts) is strict: scripts from
 *   the site only, no inline or eval, fetches only to the site and the Hub.
 * The policy is exercised in Chromium by e2e/security.spec.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy } from '../vite.config';
import { REPO_ROOT } from './support/paths';

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.(ts|tsx|html)$/.test(name) ? [p] : [];
  });
}

/** Source text without comments, so that explanations may name what the code avoids. */
function code(file: string): string {
  return readFileSync(file, 'utf-8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

const FORBIDDEN: [string, RegExp][] = [
  ['dangerouslySetInnerHTML', /dangerouslySetInnerHTML/],
  ['innerHTML / outerHTML', /\.(inner|outer)HTML\b/],
  ['insertAdjacentHTML', /insertAdjacentHTML/],
  ['document.write', /document\.write(ln)?\s*\(/],
  ['eval', /(^|[^\w.])eval\s*\(/],
  ['new Function', /new\s+Function\s*\(/],
  ['string timers', /set(Timeout|Interval)\s*\(\s*['"`]/],
  ['srcdoc', /srcdoc/i],
];

describe('source', () => {
  const files = [...sourceFiles(path.join(REPO_ROOT, 'src')), path.join(REPO_ROOT, 'index.html')];

  it('has files to check', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it.each(FORBIDDEN)('never uses %s', (_name, pattern) => {
    const hits = files.filter((f) => pattern.test(code(f))).map((f) => path.relative(REPO_ROOT, f));
    expect(hits).toEqual([]);
  });

  it('the checks find what they look for', () => {
    // Guards against patterns that can never match (a test that cannot fail).
    const samples = ['<div dangerouslySetInnerHTML={{ __html: x }} />', 'el.innerHTML = x', 'el.insertAdjacentHTML("beforeend", x)', 'document.write(x)', 'eval(x)', 'new Function("x")', 'setTimeout("x()", 1)', '<iframe srcdoc="x">'];
    FORBIDDEN.forEach(([, pattern], i) => expect(pattern.test(samples[i]!)).toBe(true));
  });
});

describe('Content-Security-Policy', () => {
  const directives = (p: string) => new Map(p.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v]));

  it('allows only the site, WebAssembly and the Hub', () => {
    const d = directives(contentSecurityPolicy());
    expect(d.get('default-src')).toEqual(["'self'"]);
    expect(d.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(d.get('worker-src')).toEqual(["'self'"]);
    expect(d.get('style-src')).toEqual(["'self'"]);
    expect(d.get('object-src')).toEqual(["'none'"]);
    expect(d.get('base-uri')).toEqual(["'self'"]);
    expect(d.get('form-action')).toEqual(["'none'"]);
    expect(d.get('connect-src')).toEqual(["'self'", 'https://huggingface.co', 'https://*.huggingface.co', 'https://hf.co', 'https://*.hf.co']);
    const all = [...d.values()].flat();
    expect(all).not.toContain("'unsafe-inline'");
    expect(all).not.toContain("'unsafe-eval'");
    expect(all).not.toContain('*');
    expect(all.filter((s) => s.startsWith('http:'))).toEqual([]);
  });

  it('names a configured Hub mirror instead of the Hugging Face hosts', () => {
    const d = directives(contentSecurityPolicy('https://hub.example.org/some/path'));
    expect(d.get('connect-src')).toEqual(["'self'", 'https://hub.example.org']);
  });
});

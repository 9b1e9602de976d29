/**
 * The documentation holds together: the README stays short, every relative link in README.md
 * and docs/**\/*.md reaches a file (and, with a #fragment into a Markdown file, a heading of
 * it, by GitHub's slug rule), and every Markdown document a comment in src/ cites exists in
 * the repository, with the cited section when it names one.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const README_MAX_LINES = 220;

function walk(dir: string, keep: (path: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path, keep));
    else if (keep(path)) out.push(path);
  }
  return out;
}

/** The Markdown outside fenced code blocks (fence lines blanked, so line numbers stay). */
function outsideFences(md: string): string[] {
  let fence: string | null = null;
  return md.split('\n').map((line) => {
    const m = /^\s*(```+|~~~+)/.exec(line);
    if (m) {
      if (fence === null) fence = m[1]!.slice(0, 3);
      else if (m[1]!.startsWith(fence)) fence = null;
      return '';
    }
    return fence === null ? line : '';
  });
}

/** GitHub's heading anchor: lower case, punctuation and symbols dropped, spaces → '-'. */
function githubSlug(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

const anchorCache = new Map<string, Set<string>>();

/** The anchors of a Markdown file's headings, with GitHub's -1, -2 … for repeated ones. */
function anchorsOf(file: string): Set<string> {
  const cached = anchorCache.get(file);
  if (cached) return cached;
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of outsideFences(readFileSync(file, 'utf8'))) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = githubSlug(m[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  anchorCache.set(file, anchors);
  return anchors;
}

/** Relative link targets of a Markdown file: [text](target), ![alt](target), outside code. */
function linksOf(file: string): { line: number; target: string }[] {
  const out: { line: number; target: string }[] = [];
  outsideFences(readFileSync(file, 'utf8')).forEach((raw, i) => {
    const line = raw.replace(/`[^`]*`/g, '');
    for (const m of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, …
      out.push({ line: i + 1, target });
    }
  });
  return out;
}

/** Why a link from `from` to `target` is broken, or null. */
function brokenLink(from: string, target: string): string | null {
  const [pathPart, fragment] = target.split('#', 2) as [string, string | undefined];
  const file = pathPart === '' ? from : resolve(dirname(from), decodeURIComponent(pathPart));
  if (!existsSync(file)) return `${target}: no such file`;
  if (fragment === undefined || fragment === '') return null;
  if (!file.endsWith('.md')) return null;
  if (!anchorsOf(file).has(fragment.toLowerCase())) return `${target}: no heading with the anchor #${fragment} in ${relative(ROOT, file)}`;
  return null;
}

const readme = join(ROOT, 'README.md');
const docs = walk(join(ROOT, 'docs'), (p) => p.endsWith('.md'));

describe('documentation', () => {
  it(`README.md is at most ${README_MAX_LINES} lines`, () => {
    const lines = readFileSync(readme, 'utf8').replace(/\n$/, '').split('\n').length;
    expect(lines).toBeLessThanOrEqual(README_MAX_LINES);
  });

  it('every relative link in README.md and docs/ reaches a file and a heading', () => {
    expect(docs.length).toBeGreaterThan(0);
    const broken: string[] = [];
    let checked = 0;
    for (const file of [readme, ...docs]) {
      for (const { line, target } of linksOf(file)) {
        checked++;
        const why = brokenLink(file, target);
        if (why) broken.push(`${relative(ROOT, file)}:${line}: ${why}`);
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(broken).toEqual([]);
  });

  it('every Markdown document cited in a comment in src/ exists, with the cited section', () => {
    const sources = walk(join(ROOT, 'src'), (p) => /\.(ts|tsx|mts|mjs|js|css)$/.test(p));
    const broken: string[] = [];
    let cited = 0;
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      const comments = [...text.matchAll(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g)].map((m) => m[0]);
      for (const comment of comments) {
        for (const m of comment.matchAll(/([A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md)(#[A-Za-z0-9_-]+)?/g)) {
          cited++;
          const doc = m[1]!;
          const candidates = [resolve(ROOT, doc), resolve(dirname(file), doc)];
          const found = candidates.find((c) => existsSync(c));
          const where = `${relative(ROOT, file)}: ${m[0]}`;
          if (!found) broken.push(`${where}: no such document in the repository`);
          else if (m[2] && !anchorsOf(found).has(m[2].slice(1).toLowerCase())) broken.push(`${where}: no heading with that anchor`);
        }
      }
    }
    expect(cited).toBeGreaterThan(10);
    expect(broken).toEqual([]);
  });

  it('slugs headings as GitHub does', () => {
    expect(githubSlug('Pruning on WebGPU (`bench/prune.ts --backend webgpu`)')).toBe('pruning-on-webgpu-benchprunets---backend-webgpu');
    expect(githubSlug('N:M semi-structured sparsity')).toBe('nm-semi-structured-sparsity');
    expect(githubSlug("The trainer's two paths")).toBe('the-trainers-two-paths');
    expect(githubSlug('Bundled: stories260K')).toBe('bundled-stories260k');
  });
});

/**
 * The engine's layers (docs/architecture.md#layers), checked on the import statements of
 * src/engine/** (type-only imports included: they are arrows a reader follows too):
 *
 *   base < backend < model < data/eval/calibrate < methods < experiments < export
 *
 * A file may import its own layer or a lower one, never a higher one; there is no cycle
 * between files; nothing in src/engine imports src/worker, src/app or src/cli. Every file
 * of src/engine belongs to exactly one layer below, so a new file has to be placed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const ENGINE = join(ROOT, 'src/engine');

/**
 * The layers, lowest first; a file's layer is the first whose pattern matches its path
 * (relative to src/engine, without the extension).
 */
const LAYERS: { name: string; files: RegExp }[] = [
  // Leaves every layer uses: errors, number formats, seeded generators (py-random: the
  // official calibration sampling), zod without eval, file caps, the record schema and
  // the methods' rules (rules.ts: ratio bounds, group widths), the phase vocabulary.
  { name: 'base', files: /^(errors|half|random|py-random|no-eval|regex-safety|json-limits|record|rules|experiment-phases|bytes)$/ },
  { name: 'backend', files: /^backend\// },
  // The tokenizer is part of a loaded model (model/load.ts builds it).
  { name: 'model', files: /^(model\/|tokenizer$)/ },
  // Streams, evaluation, calibration, generation, the run limits; hub/ downloads into model/load.ts.
  { name: 'data/eval/calibrate', files: /^(data|eval\/.*|calibrate|calibration-overlap|generate|run-limits|hub\/.*)$/ },
  // quant/start.ts runs the prune experiment before a quantizer (prune then quantize).
  { name: 'experiments', files: /^(experiment|share-link|prune\/experiment|quant\/experiment|quant\/l4q-experiment|quant\/start)$/ },
  { name: 'methods', files: /^(prune|quant|inspect)\// },
  { name: 'export', files: /^export\// },
];
/** The order of the layers (LAYERS lists experiments before methods only so that their files match first). */
const ORDER = ['base', 'backend', 'model', 'data/eval/calibrate', 'methods', 'experiments', 'export'];

/** Imports allowed against the order, with the reason. None today. */
const EXCEPTIONS: { from: string; to: string; why: string }[] = [];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.tsx?$/.test(name) ? [p] : [];
  });
}

/** Module specifiers of a file's static imports and re-exports, side-effect imports and dynamic imports. */
function specifiers(src: string): string[] {
  const out: string[] = [];
  const patterns = [/^\s*(?:import|export)\b[^;'"]*?\sfrom\s*['"]([^'"]+)['"]/gm, /^\s*import\s*['"]([^'"]+)['"]/gm, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of src.matchAll(re)) out.push(m[1]!);
  return out;
}

function resolveFile(from: string, spec: string): string | null {
  if (!spec.startsWith('.')) return null;
  const base = resolve(dirname(from), spec.replace(/\.js$/, ''));
  for (const p of [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')]) {
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not this one
    }
  }
  throw new Error(`${relative(ROOT, from)}: cannot resolve import '${spec}'`);
}

const id = (p: string) => relative(ENGINE, p).replace(/\.tsx?$/, '').split('\\').join('/');
const layerOf = (file: string) => LAYERS.find((l) => l.files.test(file))?.name ?? null;

const files = sourceFiles(ENGINE);
const edges = new Map<string, { to: string; outside: string | null }[]>();
for (const f of files) {
  const list: { to: string; outside: string | null }[] = [];
  for (const spec of specifiers(readFileSync(f, 'utf8'))) {
    const target = resolveFile(f, spec);
    if (!target) continue;
    const inEngine = !relative(ENGINE, target).startsWith('..');
    list.push({ to: inEngine ? id(target) : relative(ROOT, target), outside: inEngine ? null : relative(ROOT, target) });
  }
  edges.set(id(f), list);
}

describe('the engine import graph', () => {
  it('reads the tree (sanity)', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(edges.get('model/llama')!.map((e) => e.to)).toContain('backend/backend');
  });

  it('places every file of src/engine in one layer', () => {
    expect([...edges.keys()].filter((f) => layerOf(f) === null)).toEqual([]);
  });

  it('imports nothing from src/worker, src/app or src/cli', () => {
    const bad = [...edges].flatMap(([f, es]) => es.filter((e) => e.outside && /^src\/(worker|app|cli)\//.test(e.outside)).map((e) => `${f} → ${e.outside}`));
    expect(bad).toEqual([]);
  });

  it('has no import from a lower layer to a higher one', () => {
    const bad: string[] = [];
    for (const [f, es] of edges) {
      for (const e of es) {
        if (e.outside) continue;
        const [a, b] = [ORDER.indexOf(layerOf(f)!), ORDER.indexOf(layerOf(e.to)!)];
        if (b > a && !EXCEPTIONS.some((x) => x.from === f && x.to === e.to)) bad.push(`${f} (${layerOf(f)}) → ${e.to} (${layerOf(e.to)})`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('has no cycle', () => {
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const e of edges.get(f) ?? []) if (!e.outside) visit(e.to, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of edges.keys()) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('lists each exception with a reason, and only ones still needed', () => {
    for (const x of EXCEPTIONS) {
      expect(x.why.length).toBeGreaterThan(10);
      expect(edges.get(x.from)?.some((e) => e.to === x.to)).toBe(true);
    }
  });
});

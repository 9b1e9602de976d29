/**
 * A small, deterministic mutation fuzzer for the parsers (no dependencies).
 *
 * The default test run uses a fixed seed and a case count that keeps the suite fast;
 * `FUZZ_CASES=100000 FUZZ_SEED=7 npx vitest run test/fuzz-` runs a larger (or different) campaign.
 */
import { expect } from 'vitest';
import { StudioError } from '../../src/engine/errors';

/** Case count: FUZZ_CASES overrides the default of each fuzz test. */
export function fuzzCases(defaultCases: number): number {
  const n = Number(process.env.FUZZ_CASES);
  return Number.isSafeInteger(n) && n > 0 ? n : defaultCases;
}

export function fuzzSeed(defaultSeed: number): number {
  const n = Number(process.env.FUZZ_SEED);
  return Number.isSafeInteger(n) ? n : defaultSeed;
}

/** mulberry32: tiny, fast, good enough for choosing mutations. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

export function deepNest(depth: number, leaf: unknown = 1, asArray = true): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { a: v };
  return v;
}

/** Values that tend to break parsers: huge, negative, fractional, wrong types. */
export function interestingValue(r: Rng): unknown {
  switch (r.int(9)) {
    case 0:
      return r.pick([0, -0, 1, -1, 2, 3, 7, 8, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 64, 1e21, 1e300, Number.MAX_VALUE, Number.MIN_VALUE, -(2 ** 53), -1e300]);
    case 1:
      return r.pick([0.5, 1.5, -0.5, 1e-7, 3.0000001, 63.999999, 2.5e-324]);
    case 2:
      return r.pick(['NaN', 'Infinity', '-Infinity', '1e999', '0x10', '', ' ', '8', '-1', 'null', 'true', '\u0000', '\ud800', '\u2581', '<s>', 'a'.repeat(r.int(3000))]);
    case 3:
      return r.pick([null, true, false]);
    case 4:
      return r.pick([[], {}, [1], [1, 2], [-1, 1], [0, 0], ['1', '2'], [null], [[1]], { '0': 1 }]);
    case 5:
      return deepNest(r.pick([2, 10, 100, 500]), 1, r.chance(0.5));
    case 6:
      return Array.from({ length: r.int(20) }, () => r.int(100) - 10);
    case 7:
      return r.pick([NaN, Infinity, -Infinity]); // not JSON: dropped to null when serialized
    default:
      return String.fromCharCode(...Array.from({ length: r.int(12) }, () => r.int(0x3000)));
  }
}

type Json = unknown;

/** All (container, key) slots of a JSON value, up to a limit. */
function slots(root: Json, limit = 2000): { parent: Record<string, unknown> | unknown[]; key: string | number }[] {
  const out: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const stack: Json[] = [root];
  while (stack.length > 0 && out.length < limit) {
    const v = stack.pop();
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push({ parent: v, key: i });
        stack.push(x);
      });
    } else if (typeof v === 'object' && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        out.push({ parent: v as Record<string, unknown>, key: k });
        stack.push(x);
      }
    }
  }
  return out;
}

/** Deep copy; a value nested too deeply to copy is shared instead. */
export function clone<T>(x: T): T {
  try {
    return structuredClone(x);
  } catch {
    return x;
  }
}

/**
 * One generic mutation of a JSON value, in place where possible; returns the new root.
 * `extraValues` are domain values (dtypes, type names) mixed in with the generic ones.
 */
export function mutateJson(root: Json, r: Rng, extraValues: readonly unknown[] = [], keyNames: readonly string[] = []): Json {
  const all = slots(root);
  if (all.length === 0 || r.chance(0.02)) return r.chance(0.5) ? interestingValue(r) : r.pick(extraValues.length ? extraValues : [null]);
  const { parent, key } = r.pick(all);
  const cur = (parent as Record<string | number, unknown>)[key];
  const value = () => (extraValues.length > 0 && r.chance(0.3) ? clone(r.pick(extraValues)) : interestingValue(r));
  switch (r.int(10)) {
    case 0:
    case 1:
    case 2:
      (parent as Record<string | number, unknown>)[key] = value();
      break;
    case 3: // delete
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
      break;
    case 4: // add a key / element
      if (Array.isArray(parent)) parent.splice(r.int(parent.length + 1), 0, value());
      else parent[keyNames.length > 0 && r.chance(0.6) ? r.pick(keyNames) : r.pick(['__proto__', 'constructor', '', 'x', '\u2581', 'a'.repeat(100)])] = value();
      break;
    case 5: // change the type while keeping the content
      (parent as Record<string | number, unknown>)[key] =
        typeof cur === 'number' ? r.pick([String(cur), [cur], { v: cur }, cur > 0 ? -cur : cur + 0.5])
        : typeof cur === 'string' ? r.pick([Number(cur), [cur], cur.split(''), cur + cur, cur.slice(1)])
        : Array.isArray(cur) ? r.pick([cur.length, cur.reverse(), Object.fromEntries(cur.map((x, i) => [i, x])), JSON.stringify(cur)])
        : cur === null ? r.pick([0, '', [], {}])
        : typeof cur === 'object' ? r.pick([Object.values(cur as object), Object.keys(cur as object), null, 'object'])
        : String(cur);
      break;
    case 6: // numeric nudge
      (parent as Record<string | number, unknown>)[key] =
        typeof cur === 'number' ? r.pick([cur + 1, cur - 1, cur * 2, cur * 1e6, -cur, cur / 3, 0]) : value();
      break;
    case 7: {
      // copy a value from elsewhere in the document (own properties only)
      const from = r.pick(all);
      const src = Object.prototype.hasOwnProperty.call(from.parent, from.key) ? (from.parent as Record<string | number, unknown>)[from.key] : cur;
      let copy: unknown = cur;
      try {
        copy = clone(src);
      } catch {
        // not cloneable (too deep): keep the current value
      }
      (parent as Record<string | number, unknown>)[key] = copy;
      break;
    }
    case 8: // wrap deeply
      (parent as Record<string | number, unknown>)[key] = deepNest(r.pick([1, 3, 50, 500]), cur, r.chance(0.5));
      break;
    default: // swap two array elements or rename a key
      if (Array.isArray(parent) && parent.length > 1) {
        const j = r.int(parent.length);
        [parent[key as number], parent[j]] = [parent[j], parent[key as number]];
      } else if (!Array.isArray(parent)) {
        delete parent[key as string];
        parent[keyNames.length > 0 && r.chance(0.5) ? r.pick(keyNames) : `${key as string}_`] = cur;
      }
  }
  return root;
}

/**
 * Serializes, then optionally applies a text-level mutation: duplicate keys, cut, byte noise.
 * Returns JSON text (possibly invalid).
 */
export function mutateJsonText(text: string, r: Rng): string {
  switch (r.int(7)) {
    case 6: {
      // very deep nesting (beyond what JSON.stringify can produce): replace one member's value
      const hits = [...text.matchAll(/"([^"\\]{1,40})":/g)];
      if (hits.length === 0) return text;
      const h = r.pick(hits);
      const depth = r.pick([5000, 50_000, 200_000]);
      const [open, close] = r.chance(0.5) ? ['[', ']'] : ['{"a":', '}'];
      const at = h.index! + h[0].length;
      return `${text.slice(0, at)}${open.repeat(depth)}1${close.repeat(depth)},"${h[1]}_":${text.slice(at)}`;
    }
    case 0: {
      // duplicate a `"key": value` member right after the opening brace of its object
      const m = /"([^"\\]{1,40})":/g;
      const hits = [...text.matchAll(m)];
      if (hits.length === 0) return text;
      const h = r.pick(hits);
      return `{"${h[1]}":${JSON.stringify(interestingValue(r)) ?? 'null'},${text.slice(1)}`;
    }
    case 1:
      return text.slice(0, r.int(text.length + 1));
    case 2: {
      const i = r.int(text.length + 1);
      return text.slice(0, i) + r.pick(['{', '}', '[', ']', ',', ':', '"', '\\', '\u0000', 'e999', '-']) + text.slice(i);
    }
    default:
      return text;
  }
}

/** Outcome bookkeeping for a campaign. */
export class Campaign {
  cases = 0;
  loaded = 0;
  refused = 0;
  maxMs = 0;
  maxCase = -1;
  readonly failures: string[] = [];
  readonly reasons = new Map<string, number>();
  private readonly t0 = performance.now();
  constructor(readonly name: string, readonly seed: number) {}

  /** Runs one case: it must return, or throw a StudioError with a message. */
  run(index: number, f: () => void): 'loaded' | 'refused' | 'failed' {
    this.cases++;
    const t = performance.now();
    let outcome: 'loaded' | 'refused' | 'failed';
    try {
      f();
      this.loaded++;
      outcome = 'loaded';
    } catch (e) {
      if (e instanceof StudioError && typeof e.message === 'string' && e.message.trim().length > 0) {
        this.refused++;
        outcome = 'refused';
        const reason = e.message.replace(/^[^:]*: /, '').replace(/"[^"]*"/g, '"…"').replace(/(?<![A-Za-z-])-?\d[\d.e+]*/g, 'N').slice(0, 60);
        this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
      } else {
        outcome = 'failed';
        if (this.failures.length < 20) {
          const msg = e instanceof Error ? `${e.name}: ${e.message.slice(0, 300)}\n${(e.stack ?? '').split('\n').slice(1, 4).join('\n')}` : String(e);
          this.failures.push(`case ${index} (seed ${this.seed}): ${msg}`);
        }
      }
    }
    const ms = performance.now() - t;
    if (ms > this.maxMs) {
      this.maxMs = ms;
      this.maxCase = index;
    }
    return outcome;
  }

  /** A failed invariant inside a case that did not throw. */
  fail(index: number, what: string): void {
    if (this.failures.length < 20) this.failures.push(`case ${index} (seed ${this.seed}): ${what}`);
  }

  report(): void {
    const total = ((performance.now() - this.t0) / 1000).toFixed(1);
    const top = [...this.reasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${v}× ${k}`).join('; ');
    console.log(
      `[fuzz] ${this.name}: ${this.cases} cases (seed ${this.seed}), ${this.loaded} loaded, ${this.refused} refused with StudioError, ` +
        `${this.failures.length} failures; max ${this.maxMs.toFixed(1)} ms per case (case ${this.maxCase}), ${total} s total. Top refusals: ${top}`,
    );
  }

  assertClean(maxCaseMs: number): void {
    this.report();
    expect(this.failures).toEqual([]);
    expect(this.maxMs).toBeLessThan(maxCaseMs);
  }
}

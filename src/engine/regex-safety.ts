/**
 * A static check of a tokenizer's regular expressions for catastrophic backtracking.
 *
 * JavaScript's regex engine backtracks: `(a+)+$` on 28 "a"s and a "b" takes seconds, and
 * each two more characters four times as long, and the tokenizer runs its patterns on the
 * whole text inside one synchronous call that nothing can interrupt. So the patterns a
 * tokenizer.json brings are checked when it is loaded, and refused when a repetition can
 * split the same text in many ways:
 *
 *  - nested repetition: a repeated part (`+`, `*`, `{2,}`, `{n,m}` with m ≥ 2) that holds a
 *    repetition of variable count — `(a+)+`, `(a*)*`, `(\w+\s?)+`, `(?:x{1,3})+`. A fixed
 *    count inside is fine: `(\d{3})+` (digit grouping) has one way to split.
 *  - ambiguous alternatives under repetition: `(a|a)*`, `(\w|\d)+`, `(a|ab)*`, `(a|)*`,
 *    where two alternatives can start with the same character (or one matches nothing).
 *
 * This is a heuristic in the safe direction: it refuses some patterns that would run fast,
 * e.g. `(a+b)+` (never seen in a real tokenizer), and accepts adjacent overlapping runs such
 * as `\s*[\r\n]+` (Llama 3), which are at most polynomial and which the real byte-level
 * split patterns need. Character sets are compared exactly only for literals and plain
 * ranges; classes such as \p{L}, \w or [^…] are taken to overlap with everything.
 */

/** Longer patterns are refused unread: real split patterns are a few hundred characters. */
export const MAX_PATTERN_LENGTH = 8192;

/** Code point ranges [lo, hi], or null for "unknown" (overlaps everything). */
type CharSet = [number, number][] | null;

type Node =
  | { t: 'alt'; alts: Node[] }
  | { t: 'seq'; items: Node[] }
  | { t: 'group'; body: Node }
  /** A lookaround: matches no characters, but its body backtracks on its own. */
  | { t: 'look'; body: Node }
  | { t: 'rep'; body: Node; min: number; max: number; src: string }
  | { t: 'char'; set: CharSet }
  | { t: 'empty' };

export class RegexSyntaxError extends Error {}

const ANY: CharSet = null;

function parse(src: string): Node {
  let i = 0;
  let ignoreCase = false;
  const peek = () => src[i];
  const fail = (m: string): never => {
    throw new RegexSyntaxError(`${m} at index ${i}`);
  };
  const literal = (cp: number): Node => {
    if (ignoreCase && /[a-z]/i.test(String.fromCodePoint(cp))) return { t: 'char', set: ANY };
    return { t: 'char', set: [[cp, cp]] };
  };

  function alternation(): Node {
    const alts = [sequence()];
    while (peek() === '|') {
      i++;
      alts.push(sequence());
    }
    return alts.length === 1 ? alts[0]! : { t: 'alt', alts };
  }

  function sequence(): Node {
    const items: Node[] = [];
    while (i < src.length && peek() !== '|' && peek() !== ')') {
      const start = i;
      let atom = term();
      atom = quantified(atom, start);
      items.push(atom);
    }
    return items.length === 1 ? items[0]! : { t: 'seq', items };
  }

  function quantified(atom: Node, start: number): Node {
    for (;;) {
      const c = peek();
      let min: number;
      let max: number;
      if (c === '*') [min, max] = [0, Infinity];
      else if (c === '+') [min, max] = [1, Infinity];
      else if (c === '?') [min, max] = [0, 1];
      else if (c === '{') {
        const m = /^\{(\d*)(,(\d*))?\}/.exec(src.slice(i));
        if (!m || (m[1] === '' && (m[3] ?? '') === '')) return atom; // a literal "{"
        min = m[1] === '' ? 0 : Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
        i += m[0].length - 1;
      } else return atom;
      i++;
      // Lazy (?) and possessive (+) forms backtrack no less in JavaScript's rewrite.
      if (peek() === '?' || peek() === '+') i++;
      atom = { t: 'rep', body: atom, min, max, src: src.slice(start, i) };
    }
  }

  function term(): Node {
    const c = peek()!;
    if (c === '(') return group();
    if (c === '[') return charClass();
    if (c === '\\') return escape(false);
    i++;
    if (c === '.') return { t: 'char', set: ANY };
    if (c === '^' || c === '$') return { t: 'empty' };
    if (c === '*' || c === '+' || c === '?') fail('nothing to repeat');
    return literal(c.codePointAt(0)!);
  }

  function group(): Node {
    i++; // (
    const saved = ignoreCase;
    let lookaround = false;
    if (peek() === '?') {
      const rest = src.slice(i);
      const m = /^\?(?::|=|!|<=|<!|>|P?<[A-Za-z_][A-Za-z0-9_]*>|#[^)]*|[imsx-]+:|[imsx-]+(?=\)))/.exec(rest);
      if (!m) fail('unknown group');
      const head = m![0];
      i += head.length;
      if (head.startsWith('?#')) {
        if (peek() !== ')') fail('unterminated comment');
        i++;
        return { t: 'empty' };
      }
      lookaround = /^\?(=|!|<=|<!)$/.test(head);
      const flags = /^\?([imsx-]+):?$/.exec(head)?.[1];
      if (flags !== undefined) {
        const on = flags.split('-')[0]!;
        ignoreCase = on.includes('i') ? true : flags.split('-')[1]?.includes('i') ? false : ignoreCase;
        if (!head.endsWith(':')) {
          // "(?i)" applies to the rest of the enclosing group.
          if (peek() !== ')') fail('unterminated group');
          i++;
          return { t: 'empty' };
        }
      }
    }
    const body = alternation();
    if (peek() !== ')') fail('unterminated group');
    i++;
    ignoreCase = saved;
    // A lookaround matches no characters itself, but its body still backtracks.
    return lookaround ? { t: 'look', body } : { t: 'group', body };
  }

  function charClass(): Node {
    const start = i;
    i++; // [
    let depth = 1;
    let simple = true;
    const ranges: [number, number][] = [];
    if (peek() === '^') {
      simple = false; // a negated class: taken as unknown
      i++;
    }
    let first = true;
    /** The last single character, which a following "-" makes the start of a range. */
    let single: number | null = null;
    /** One character of the class as a code point, or null for a set (\p{L}, \w, …). */
    const classChar = (): number | null => {
      if (peek() === '\\') {
        const n = escape(true);
        return n.t === 'char' && n.set && n.set.length === 1 && n.set[0]![0] === n.set[0]![1] ? n.set[0]![0] : null;
      }
      const cp = src.codePointAt(i)!;
      i += cp > 0xffff ? 2 : 1;
      return cp;
    };
    while (depth > 0) {
      if (i >= src.length) fail(`unterminated character class from index ${start}`);
      const c = peek()!;
      if (c === ']' && !first) {
        depth--;
        i++;
        single = null;
        continue;
      }
      first = false;
      if (c === '[') {
        // Oniguruma's nested classes and POSIX brackets: a set we do not enumerate.
        simple = false;
        depth++;
        i++;
        if (peek() === '^') i++;
        first = true;
        single = null;
        continue;
      }
      if (c === '&' && src[i + 1] === '&') simple = false; // intersection
      if (c === '-' && single !== null && src[i + 1] !== ']') {
        i++;
        const hi = classChar();
        ranges.pop();
        if (hi === null) simple = false;
        else ranges.push([Math.min(single, hi), Math.max(single, hi)]);
        single = null;
        continue;
      }
      const cp = classChar();
      if (cp === null) simple = false;
      else ranges.push([cp, cp]);
      single = cp;
    }
    if (!simple || ignoreCase) return { t: 'char', set: ANY };
    return { t: 'char', set: ranges };
  }

  /** After a backslash: one character class, a literal, or a zero-width assertion. */
  function escape(inClass: boolean): Node {
    i++; // backslash
    if (i >= src.length) fail('trailing backslash');
    const c = peek()!;
    const braced = /^[pPxu]\{[^}]*\}/.exec(src.slice(i));
    if (braced) {
      i += braced[0].length;
      if (c === 'x' || c === 'u') return literal(parseInt(braced[0].slice(2, -1), 16) || 0);
      return { t: 'char', set: ANY };
    }
    const hex = /^(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4})/.exec(src.slice(i));
    if (hex) {
      i += hex[0].length;
      return literal(parseInt(hex[0].slice(1), 16));
    }
    i++;
    if ('dDwWsShHpP'.includes(c)) return { t: 'char', set: ANY };
    if (!inClass && 'bBAzZG'.includes(c)) return { t: 'empty' };
    if (!inClass && /[1-9]/.test(c)) return { t: 'char', set: ANY }; // a backreference: treated as one unknown character
    if (!inClass && c === 'k' && peek() === '<') {
      const end = src.indexOf('>', i);
      if (end < 0) fail('unterminated \\k<name>');
      i = end + 1;
      return { t: 'char', set: ANY };
    }
    const controls: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11, a: 7, e: 27, '0': 0 };
    if (c in controls) return literal(controls[c]!);
    if (c === 'c' && /[A-Za-z]/.test(peek() ?? '')) return literal(src.charCodeAt(i++) % 32);
    return literal(c.codePointAt(0)!);
  }

  const node = alternation();
  if (i < src.length) fail('unmatched ")"');
  return node;
}

function nullable(n: Node): boolean {
  switch (n.t) {
    case 'alt':
      return n.alts.some(nullable);
    case 'seq':
      return n.items.every(nullable);
    case 'group':
      return nullable(n.body);
    case 'rep':
      return n.min === 0 || nullable(n.body);
    case 'char':
      return false;
    case 'empty':
    case 'look':
      return true;
  }
}

/** Whether the node can match at least one character. */
function consumes(n: Node): boolean {
  switch (n.t) {
    case 'alt':
      return n.alts.some(consumes);
    case 'seq':
      return n.items.some(consumes);
    case 'group':
      return consumes(n.body);
    case 'rep':
      return n.max > 0 && consumes(n.body);
    case 'char':
      return true;
    case 'empty':
    case 'look':
      return false;
  }
}

/** Characters a match of the node can start with (null: unknown). */
function first(n: Node): CharSet {
  switch (n.t) {
    case 'alt':
      return union(n.alts.map(first));
    case 'seq': {
      const sets: CharSet[] = [];
      for (const it of n.items) {
        sets.push(first(it));
        if (!nullable(it)) break;
      }
      return union(sets);
    }
    case 'group':
      return first(n.body);
    case 'rep':
      return n.max > 0 ? first(n.body) : [];
    case 'char':
      return n.set;
    case 'empty':
    case 'look':
      return [];
  }
}

function union(sets: CharSet[]): CharSet {
  const out: [number, number][] = [];
  for (const s of sets) {
    if (s === null) return null;
    out.push(...s);
  }
  return out;
}

function overlap(a: CharSet, b: CharSet): boolean {
  if (a === null || b === null) return (a === null || a.length > 0) && (b === null || b.length > 0);
  return a.some(([lo, hi]) => b.some(([lo2, hi2]) => lo <= hi2 && lo2 <= hi));
}

/** The alternatives directly under a repetition (through groups). */
function alternatives(n: Node): Node[] | null {
  if (n.t === 'group') return alternatives(n.body);
  return n.t === 'alt' ? n.alts : null;
}

/** Why the pattern can backtrack catastrophically, or null when the heuristic finds no reason. */
function findProblem(n: Node, outer: (Node & { t: 'rep' }) | null): string | null {
  switch (n.t) {
    case 'alt':
      for (const a of n.alts) {
        const p = findProblem(a, outer);
        if (p) return p;
      }
      return null;
    case 'seq':
      for (const a of n.items) {
        const p = findProblem(a, outer);
        if (p) return p;
      }
      return null;
    case 'group':
      return findProblem(n.body, outer);
    case 'look':
      // JavaScript does not backtrack into a lookaround once it matched: its body is
      // checked on its own, not as part of the repetition around it.
      return findProblem(n.body, null);
    case 'rep': {
      const repeats = n.max >= 2 && consumes(n.body);
      if (outer && repeats && n.min !== n.max) return `the repetition "${outer.src}" contains the repetition "${n.src}", so a text can be split between them in exponentially many ways`;
      if (repeats) {
        const alts = alternatives(n.body);
        if (alts) {
          for (let x = 0; x < alts.length; x++) {
            if (!consumes(alts[x]!) || nullable(alts[x]!)) return `the repetition "${n.src}" has an alternative that can match nothing`;
            for (let y = x + 1; y < alts.length; y++) {
              if (overlap(first(alts[x]!), first(alts[y]!))) return `the repetition "${n.src}" has alternatives that can start with the same character, so a text can be matched in exponentially many ways`;
            }
          }
        }
      }
      return findProblem(n.body, repeats ? n : outer);
    }
    default:
      return null;
  }
}

/**
 * Why `pattern` (Oniguruma/JavaScript syntax, as tokenizer.json holds it) may take
 * exponential time, or null when it is accepted.
 */
export function regexProblem(pattern: string): string | null {
  if (pattern.length > MAX_PATTERN_LENGTH) return `it is ${pattern.length} characters long, more than the ${MAX_PATTERN_LENGTH} the studio checks`;
  let tree: Node;
  try {
    tree = parse(pattern);
  } catch (e) {
    if (e instanceof RegexSyntaxError) return `it cannot be read as a regular expression (${e.message})`;
    throw e;
  }
  return findProblem(tree, null);
}

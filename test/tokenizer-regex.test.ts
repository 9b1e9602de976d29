/**
 * Tokenizer patterns that can backtrack catastrophically are refused when the tokenizer is
 * loaded, naming the pattern: a pre-tokenizer Split with `(a+)+$` took 6 s on 28 repeated
 * characters (×4 per 2 more) inside one synchronous call that Cancel cannot reach. The
 * patterns real tokenizers use (GPT-2, Llama 3, Qwen2, o200k, DeepSeek, BLOOM, Metaspace,
 * the bundled stories260K) are accepted.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StudioError } from '../src/engine/errors';
import { loadModel } from '../src/engine/model/load';
import { regexProblem } from '../src/engine/regex-safety';
import { createTokenizer } from '../src/engine/tokenizer';
import { runCli } from './support/cli';
import { bundledFiles, memorySource } from './support/memory-source';

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const O200K =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** tiktoken's cl100k with possessive quantifiers. */
const CL100K_POSSESSIVE = "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+";
const DEEPSEEK = [
  '\\p{N}{1,3}',
  '[一-龥぀-ゟ゠-ヿ]+',
  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];
const BLOOM = ' ?[^(\\s|[.,!?…。，、।۔،])]+';

const SAFE = [GPT2, LLAMA3, QWEN2, O200K, CL100K_POSSESSIVE, ...DEEPSEEK, BLOOM, ' {2,}', '\\s+', '(?=(\\d{3})+(?!\\d))', '\\d{1,3}(?=(?:\\d{3})*\\b)', '(a|b)+', '[a-c]+|[d-f]+', '(?:ab)+', '(?:(?=a+)b)+', '\\p{L}+|\\p{N}+'];
const UNSAFE: [string, RegExp][] = [
  ['(a+)+$', /"\(a\+\)\+" contains the repetition "a\+"/],
  ['(a*)*', /"\(a\*\)\*" contains the repetition "a\*"/],
  ['(a|a)*', /"\(a\|a\)\*" has alternatives that can start with the same character/],
  ['(\\w+\\s?)+', /contains the repetition "\\w\+"/],
  ['(?:x{1,3})+', /contains the repetition "x\{1,3\}"/],
  ['(a+){2,}', /contains the repetition "a\+"/],
  ['((ab)*c)+', /contains the repetition "\(ab\)\*"/],
  ['(a|ab)*', /alternatives that can start with the same character/],
  ['(\\d|[0-9])+', /alternatives that can start with the same character/],
  ['(\\p{L}|x)+', /alternatives that can start with the same character/],
  ['(?i:(A|a)+)', /alternatives that can start with the same character/],
  ['(a|)*', /an alternative that can match nothing/],
  ['^(([a-z])+.)+[A-Z]([a-z])+$', /contains the repetition/],
  ['x(?:\\s*,?\\s*\\w+)*$', /contains the repetition/],
  ['(', /cannot be read as a regular expression/],
  ['a'.repeat(9000), /9000 characters long/],
];

const S = '\u2581';
const bundledTokenizer = () => JSON.parse(bundledFiles()['tokenizer.json'] as string) as Record<string, unknown>;
const bundledTokenizerConfig = () => JSON.parse(bundledFiles()['tokenizer_config.json'] as string) as Record<string, unknown>;

function refused(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StudioError);
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
}

const split = (regex: string) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('the regex analyser', () => {
  it.each(SAFE)('accepts %s', (p) => {
    expect(regexProblem(p)).toBeNull();
  });

  it.each(UNSAFE)('refuses %s', (p, why) => {
    expect(regexProblem(p)).toMatch(why);
  });
});

describe('tokenizers with catastrophic patterns', () => {
  it('accepts the bundled tokenizer and real byte-level / Metaspace pipelines', () => {
    expect(createTokenizer(bundledTokenizer(), bundledTokenizerConfig()).encode('Once upon a time').length).toBeGreaterThan(0);
    for (const pre of [
      { type: 'Sequence', pretokenizers: [split(LLAMA3), { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] },
      { type: 'Sequence', pretokenizers: [split(QWEN2), { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }] },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      { type: 'Metaspace', replacement: S, prepend_scheme: 'first', split: false },
      { type: 'Sequence', pretokenizers: DEEPSEEK.map(split) },
    ]) {
      expect(() => createTokenizer({ ...bundledTokenizer(), pre_tokenizer: pre }, {}), JSON.stringify(pre).slice(0, 60)).not.toThrow();
    }
  });

  it('refuses a pre-tokenizer Split with (a+)+$ at load, naming the pattern and where it is', () => {
    const t0 = performance.now();
    const msg = refused(() => createTokenizer({ ...bundledTokenizer(), pre_tokenizer: split('(a+)+$') }, {}, 'm/tokenizer.json'));
    expect(msg).toBe(
      'm/tokenizer.json: pre_tokenizer (Split) has the pattern "(a+)+$", which the studio refuses: the repetition "(a+)+" contains the repetition "a+", so a text can be split between them in exponentially many ways; encoding a text could take hours',
    );
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('finds patterns nested in Sequences, in normalizer Replace and decoder Replace', () => {
    const nested = { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, { type: 'Sequence', pretokenizers: [split(GPT2), split('(\\w+\\s?)+')] }] };
    expect(refused(() => createTokenizer({ ...bundledTokenizer(), pre_tokenizer: nested }, {}))).toMatch(/^tokenizer\.json: pre_tokenizer\.pretokenizers\[1\]\.pretokenizers\[1\] \(Split\) has the pattern "\(\\\\w\+\\\\s\?\)\+"/);
    const normalizer = { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: S }, { type: 'Replace', pattern: { Regex: '(a|a)*b' }, content: S }] };
    expect(refused(() => createTokenizer({ ...bundledTokenizer(), normalizer }, {}))).toMatch(/normalizer\.normalizers\[1\] \(Replace\) has the pattern "\(a\|a\)\*b"/);
    const decoder = { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { Regex: '(x*)*y' }, content: ' ' }, { type: 'Fuse' }] };
    expect(refused(() => createTokenizer({ ...bundledTokenizer(), decoder }, {}))).toMatch(/decoder\.decoders\[0\] \(Replace\) has the pattern "\(x\*\)\*y"/);
  });

  it('the engine and the CLI refuse such a model at load, within seconds', async () => {
    const files = { ...bundledFiles(), 'tokenizer.json': JSON.stringify({ ...bundledTokenizer(), pre_tokenizer: split('(a+)+$') }) };
    const e = await loadModel('m', memorySource(files)).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(StudioError);
    expect((e as Error).message).toMatch(/^mem\/tokenizer\.json: pre_tokenizer \(Split\) has the pattern "\(a\+\)\+\$"/);

    const dir = mkdtempSync(path.join(tmpdir(), 'pq-regex-'));
    dirs.push(dir);
    for (const [name, data] of Object.entries(files)) writeFileSync(path.join(dir, name), data);
    const t0 = performance.now();
    const r = await runCli(['eval', '--model', dir, '--dataset', 'tinystories', '--seqlen', '32', '--windows', '0:1']);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('tokenizer.json: pre_tokenizer (Split) has the pattern "(a+)+$", which the studio refuses');
    expect(performance.now() - t0).toBeLessThan(10_000);
  }, 30_000);
});

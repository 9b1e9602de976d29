/**
 * Mutation fuzzing of tokenizer.json / tokenizer_config.json: createTokenizer and the
 * tokenizer's encode/decode either work or throw a StudioError (library errors wrapped).
 * Larger run: FUZZ_CASES=100000 npx vitest run test/fuzz-tokenizer
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createTokenizer } from '../src/engine/tokenizer';
import { StudioError } from '../src/engine/errors';
import { Campaign, Rng, clone, fuzzCases, fuzzSeed, interestingValue, mutateJson, mutateJsonText } from './support/fuzz';
import { BUNDLED_MODEL_DIR } from './support/paths';

const S = '\u2581';

/** A tiny valid SentencePiece-style BPE tokenizer.json (the layout of the bundled one). */
function tinyTokenizer(): Record<string, unknown> {
  const pieces = ['<unk>', '<s>', '</s>', S, 'a', 'b', 'c', 'e', 'h', 'n', 'o', 't', `${S}t`, 'he', `${S}the`, `${S}a`, 'on', `${S}on`, 'ce', `${S}once`, '.', ','];
  const vocab = Object.fromEntries(pieces.map((p, i) => [p, i]));
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: S }, { type: 'Replace', pattern: { String: ' ' }, content: S }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: S }, content: ' ' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: false, ignore_merges: false, vocab,
      merges: [[S, 't'], ['h', 'e'], [`${S}t`, 'he'], [S, 'a'], ['o', 'n'], [S, 'on'], ['c', 'e'], [`${S}on`, 'ce']],
    },
  };
}

const TYPES = ['BPE', 'WordPiece', 'Unigram', 'WordLevel', 'bpe', '', 'Sequence', 'ByteLevel', 'Metaspace', 'Whitespace', 'Split', 'Replace', 'Prepend', 'Strip', 'Fuse', 'ByteFallback', 'NFC', 'NFKC', 'Lowercase', 'BertPreTokenizer', 'TemplateProcessing', 'RobertaProcessing', 'Digits', 'Punctuation'];
const COMPONENTS: unknown[] = [
  null, {}, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }, { type: 'Metaspace', replacement: S, prepend_scheme: 'first', split: false },
  { type: 'Whitespace' }, { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Isolated', invert: false }, { type: 'Split', pattern: { Regex: '(' }, behavior: 'Removed' },
  { type: 'Split', pattern: { String: '' }, behavior: 'Isolated' }, { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }] }, { type: 'NFC' }, { type: 'Lowercase' },
  { type: 'Replace', pattern: { Regex: '[' }, content: 'x' }, { type: 'Replace', pattern: {}, content: null }, { type: 'Sequence', normalizers: 'x' }, { type: 'Sequence', decoders: [null] },
  { type: 'ByteFallback' }, { type: 'Strip', content: ' ', start: -1, stop: 1e9 }, { type: 'WordPiece', prefix: '##' }, { type: 'Nope' }, 'ByteLevel', [1, 2],
];

function mutateTokenizerJson(base: Record<string, unknown>, r: Rng): unknown {
  let t: unknown = clone(base);
  const n = r.range(1, 3);
  for (let i = 0; i < n; i++) {
    const o = typeof t === 'object' && t !== null && !Array.isArray(t) ? (t as Record<string, unknown>) : null;
    const m = o && typeof o.model === 'object' && o.model !== null && !Array.isArray(o.model) ? (o.model as Record<string, unknown>) : null;
    const vocab = m && typeof m.vocab === 'object' && m.vocab !== null ? (m.vocab as Record<string, unknown>) : null;
    switch (r.int(10)) {
      case 0:
        if (m) m.type = r.pick(TYPES);
        break;
      case 1: // vocab ids: huge, negative, fractional, wrong types, duplicates
        if (vocab && !Array.isArray(vocab)) {
          const keys = Object.keys(vocab);
          const k = r.chance(0.8) && keys.length > 0 ? r.pick(keys) : r.pick(['new', S + S, '\n', '<0x0A>', '']);
          vocab[k] = r.pick([-1, 0.5, 1e9, 2 ** 32, 2 ** 53, keys.length, keys.length + 100, '3', null, [1], 3, 0, NaN]);
        } else if (m) m.vocab = r.pick([[], [['a', 0]], [['a', -1.5]], 'vocab', null, {}, [[1, 2]]]);
        break;
      case 2: // malformed merges
        if (m && Array.isArray(m.merges)) {
          const ms = m.merges as unknown[];
          const bad = r.pick<unknown>(['a b', 'ab', 'a  b', '', ' ', ['a'], ['a', 'b', 'c'], [1, 2], [null, 'a'], ['zz', 'qq'], [S, S], ['he', 'he'], {}, 5, `${S}t he`]);
          if (r.chance(0.5) && ms.length > 0) ms[r.int(ms.length)] = bad;
          else ms.splice(r.int(ms.length + 1), 0, bad);
          if (r.chance(0.1)) m.merges = ms.map((x) => (Array.isArray(x) ? x.join(' ') : x));
        } else if (m) m.merges = r.pick([null, 'a b', {}, [[]]]);
        break;
      case 3: // pipeline components
        if (o) o[r.pick(['normalizer', 'pre_tokenizer', 'decoder', 'post_processor'])] = clone(r.pick(COMPONENTS));
        break;
      case 4: // added tokens
        if (o && Array.isArray(o.added_tokens)) {
          const at = o.added_tokens as unknown[];
          const tok = { id: r.pick([0, 1, 2, 3, 21, 22, 100, -1, 1e9, 0.5, '1', null]), content: r.pick(['<s>', '<pad>', '', ' ', 'a', S, 'the', 1, null, '<unk>']), special: r.pick([true, false, 'yes']), normalized: r.pick([true, false]), lstrip: r.chance(0.2), rstrip: r.chance(0.2), single_word: r.chance(0.2) };
          if (r.chance(0.5) && at.length > 0) at[r.int(at.length)] = tok;
          else at.push(tok);
        } else if (o) o.added_tokens = r.pick([null, {}, 'x', [null], [1]]);
        break;
      case 5: // model options
        if (m) m[r.pick(['unk_token', 'byte_fallback', 'fuse_unk', 'dropout', 'continuing_subword_prefix', 'end_of_word_suffix', 'ignore_merges', 'max_input_chars_per_word'])] = r.pick([null, true, false, '<nope>', 0, 1, 1.5, -1, 1e9, '', S, {}]);
        break;
      default:
        t = mutateJson(t, r, [...TYPES, ...COMPONENTS], ['model', 'vocab', 'merges', 'type', 'added_tokens', 'normalizer', 'pre_tokenizer', 'decoder', 'post_processor', 'unk_token', 'content', 'id']);
    }
  }
  if (r.chance(0.3)) {
    let text = 'null';
    try {
      text = JSON.stringify(t) ?? 'null';
    } catch {
      return t; // too deep to serialize: use the object as is
    }
    try {
      t = JSON.parse(r.chance(0.3) ? mutateJsonText(text, r) : text);
    } catch {
      t = JSON.parse(text);
    }
  }
  return t;
}

function mutateTokenizerConfig(base: Record<string, unknown>, r: Rng): unknown {
  if (r.chance(0.6)) return base;
  let c: unknown = clone(base);
  const o = c as Record<string, unknown>;
  switch (r.int(4)) {
    case 0:
      o[r.pick(['bos_token', 'eos_token', 'unk_token', 'pad_token'])] = r.pick([null, '<s>', '<nope>', '', 1, { content: '<s>', lstrip: false }, { content: 5 }, { __type: 'AddedToken', content: '</s>' }, ['<s>']]);
      break;
    case 1:
      o[r.pick(['add_bos_token', 'add_eos_token', 'legacy', 'clean_up_tokenization_spaces', 'model_max_length', 'padding_side', 'tokenizer_class', 'chat_template', 'added_tokens_decoder'])] = interestingValue(r);
      break;
    case 2:
      return r.pick([null, [], 'config', 7, {}]);
    default:
      c = mutateJson(c, r, ['<s>', '</s>', true, false], ['bos_token', 'eos_token', 'add_bos_token', 'tokenizer_class', 'added_tokens_decoder']);
  }
  return c;
}

const TEXTS = ['Once upon a time', ' the ', 'a', '', '<s>hello</s>', 'café ☕ \u0000\ud800 tab\tnew\nline', `${S}${S}`, '<unk> <pad>'];

function exercise(tokJson: unknown, tokConfig: unknown, r: Rng): void {
  const tok = createTokenizer(tokJson, tokConfig, 'fuzz/tokenizer.json');
  if (!Number.isSafeInteger(tok.vocabSize) || tok.vocabSize < 0) throw new Error(`invariant: vocabSize ${tok.vocabSize}`);
  const text = r.chance(0.05) ? 'once upon a time, the cat sat.\n'.repeat(40) : r.pick(TEXTS);
  const ids = tok.encode(text);
  if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id))) throw new Error(`invariant: encode gave ${String(ids).slice(0, 100)}`);
  const decoded = tok.decode(ids);
  if (typeof decoded !== 'string') throw new Error('invariant: decode did not return a string');
  const some = Array.from({ length: r.int(6) }, () => (r.chance(0.9) ? r.int(Math.max(tok.vocabSize, 1)) : r.pick([tok.vocabSize, tok.vocabSize + 7, 1e6])));
  const d2 = tok.decode(some, { skipSpecialTokens: r.chance(0.5) });
  if (typeof d2 !== 'string') throw new Error('invariant: decode did not return a string');
  if (typeof tok.piece(r.int(tok.vocabSize + 2)) !== 'string') throw new Error('invariant: piece');
}

describe('tokenizer fuzzing', () => {
  it('the tiny base tokenizer works', () => {
    const tok = createTokenizer(tinyTokenizer(), { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' });
    expect(tok.vocabSize).toBe(22);
    const ids = tok.encode('once the');
    expect(ids.length).toBeGreaterThan(0);
    expect(tok.decode(ids)).toBe('once the');
  });

  it('out-of-range ids and library failures in encode/decode surface as StudioError', () => {
    const tok = createTokenizer(tinyTokenizer(), {});
    for (const ids of [[1e6], [-1], [0.5], [NaN]]) {
      try {
        expect(typeof tok.decode(ids)).toBe('string');
      } catch (e) {
        expect(e).toBeInstanceOf(StudioError);
      }
    }
  });

  it('every mutated tokenizer builds and encodes/decodes, or is refused with a StudioError', () => {
    const seed = fuzzSeed(0x70c);
    const cases = fuzzCases(10_000);
    const r = new Rng(seed);
    const tiny = tinyTokenizer();
    const tinyConfig = { tokenizer_class: 'LlamaTokenizer', bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true, legacy: true };
    const stories = JSON.parse(readFileSync(path.join(BUNDLED_MODEL_DIR, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
    const storiesConfig = JSON.parse(readFileSync(path.join(BUNDLED_MODEL_DIR, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    const c = new Campaign('tokenizer.json', seed);
    // The library warns on the console about unknown component types; keep the output readable.
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    for (let i = 0; i < cases; i++) {
      const fromStories = r.chance(0.1);
      const [baseJson, baseConfig] = fromStories ? [stories, storiesConfig] : [tiny, tinyConfig];
      const unchanged = r.chance(0.02);
      const tokJson = unchanged ? clone(baseJson) : mutateTokenizerJson(baseJson, r);
      const tokConfig = unchanged ? baseConfig : mutateTokenizerConfig(baseConfig, r);
      if (process.env.FUZZ_TRACE) { let t = ''; try { t = `${JSON.stringify(tokJson)?.slice(0, 20000)}\n${JSON.stringify(tokConfig)}`; } catch { t = 'deep'; } writeFileSync(process.env.FUZZ_TRACE, `${i}\n${t}`); }
      c.run(i, () => exercise(tokJson, tokConfig, r));
    }
    console.log(`[fuzz] tokenizer.json: the library printed ${warn.mock.calls.length} warnings (silenced)`);
    warn.mockRestore();
    c.assertClean(1000);
    expect(c.cases).toBe(cases);
    expect(c.loaded).toBeGreaterThan(0);
    expect(c.refused).toBeGreaterThan(0);
  });
});

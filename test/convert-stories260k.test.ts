/**
 * Checks the Hugging Face conversion of llama2.c's stories260K (scripts/convert-stories260k.ts)
 * against the original files in shared/data/stories260K:
 *  (a) the converted tokenizer.json, loaded by @huggingface/transformers, gives the golden
 *      ids of reference.json;
 *  (b) encode → decode round trips;
 *  (c) the HF tokenizer's ids equal llama2.c run.c's encoder (scripts/llama2c-tokenizer.ts)
 *      on whole corpora;
 *  (d) model.safetensors has the expected tensors and the q/k RoPE permutation is right.
 *
 * The converted folder public/models/stories260K must exist: `npm run convert:stories260k`.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll } from 'vitest';
import { AutoTokenizer, LlamaTokenizer, env, type PreTrainedTokenizer } from '@huggingface/transformers';
import { SafetensorsFile } from '../src/engine/model/safetensors';
import {
  buildTokenizerJson,
  convertStories260k,
  expectedLegacySize,
  hfConfig,
  hfTensors,
  parseLlama2cCheckpoint,
  permuteRope,
  readTokenizerBin,
  serializeTokenizerJson,
  type Llama2cCheckpoint,
} from '../scripts/convert-stories260k';
import {
  decode as refDecode,
  encode as refEncode,
  encodeNaive as refEncodeNaive,
  parseLlama2cTokenizer,
  type Llama2cTokenizer,
} from '../scripts/llama2c-tokenizer';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Copies of shared/data/stories260K (MIT), so the tests need nothing outside the repository.
const srcDir = path.join(repoRoot, 'test/fixtures/stories260K');
const modelsDir = path.join(repoRoot, 'public/models');
const outDir = path.join(modelsDir, 'stories260K');

interface EncodeExample {
  text: string;
  ids_with_bos: number[];
  predicted_tokens: number;
  sum_nll_nats: number;
}
interface Reference {
  logits_after_BOS_at_pos0: { first8: number[]; top5: { id: number; logit: number }[] };
  encode_examples: EncodeExample[];
  greedy_from_empty_prompt_200_steps: string;
}

const reference = JSON.parse(readFileSync(path.join(srcDir, 'reference.json'), 'utf8')) as Reference;
const modelBin = new Uint8Array(readFileSync(path.join(srcDir, 'stories260K.bin')));
const tokBin = new Uint8Array(readFileSync(path.join(srcDir, 'tok512.bin')));
// The bundled texts are byte-for-byte copies of shared/data (see public/datasets/NOTICE.md).
const DATASET_FILES: Record<string, string> = {
  'tinystories/tinystories_val.txt': 'tinystories_val.txt',
  'wikitext-2/test.txt': 'wikitext2_test.txt',
  'tinyshakespeare/input.txt': 'tinyshakespeare.txt',
};
const readText = (rel: string): string => readFileSync(path.join(repoRoot, 'public/datasets', DATASET_FILES[rel]!), 'utf8');

const SPECIAL_STRINGS = /(<unk>|<s>|<\/s>)/;
const SPECIAL_IDS: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };

let hf: PreTrainedTokenizer; // via AutoTokenizer.from_pretrained
let hfDirect: LlamaTokenizer; // via the constructor
let ref: Llama2cTokenizer;
let original: Llama2cCheckpoint;

beforeAll(async () => {
  if (!existsSync(path.join(outDir, 'tokenizer.json'))) {
    throw new Error(`${outDir} is missing: run \`npm run convert:stories260k\` first`);
  }
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.useFSCache = false;
  env.localModelPath = modelsDir + path.sep;
  hf = await AutoTokenizer.from_pretrained('stories260K');
  const tokenizerJson = JSON.parse(readFileSync(path.join(outDir, 'tokenizer.json'), 'utf8')) as unknown;
  const tokenizerConfig = JSON.parse(readFileSync(path.join(outDir, 'tokenizer_config.json'), 'utf8')) as unknown;
  hfDirect = new LlamaTokenizer(tokenizerJson, tokenizerConfig);
  original = parseLlama2cCheckpoint(modelBin, 'stories260K.bin');
  ref = parseLlama2cTokenizer(tokBin, original.config.vocabSize, 'tok512.bin');
});

/** First index where two id arrays differ, or -1. */
function firstDiff(a: number[], b: number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** Asserts equality with a short, readable message instead of a 400k-element diff. */
function expectSameIds(actual: number[], expected: number[], what: string): void {
  const i = firstDiff(actual, expected);
  const msg = i < 0 ? '' : `${what}: first difference at token ${i}: hf ${JSON.stringify(actual.slice(Math.max(0, i - 3), i + 5))} vs run.c ${JSON.stringify(expected.slice(Math.max(0, i - 3), i + 5))} (lengths ${actual.length} / ${expected.length})`;
  expect(msg).toBe('');
}

/**
 * run.c's encoding of `text` the way the tokenizers library handles literal special-token
 * strings: they are split out first and become their ids, and every other section is
 * encoded on its own (with its own dummy prefix, the "legacy" Llama behaviour).
 */
function refEncodeWithSpecials(text: string): number[] {
  const out = [1];
  for (const section of text.split(SPECIAL_STRINGS)) {
    if (section === '') continue;
    if (section in SPECIAL_IDS) out.push(SPECIAL_IDS[section]!);
    else out.push(...refEncode(ref, section, false));
  }
  return out;
}

const EXTRA_SENTENCES = [
  '',
  ' ',
  'a',
  '  two  spaces  ',
  'Hello\nworld\n\nNew paragraph.\n',
  '“Hello,” said Zoë — the café’s crème brûlée… was 3.5€!',
  'Mixed scripts: 中文, русский, Ελληνικά, emoji 🙂👍🏽 and a tab\there.',
  'Tim’s dog said “woof”. She smiled – and ran.',
  'â€™ mojibake from the TinyStories file',
];

describe('converted tokenizer (a): golden ids', () => {
  it('loads through AutoTokenizer and by direct construction', () => {
    expect(hf).toBeInstanceOf(LlamaTokenizer);
    for (const t of [hf, hfDirect]) {
      expect(t.bos_token_id).toBe(1);
      expect(t.eos_token_id).toBe(2);
      expect(t.unk_token_id).toBe(0);
      expect(t.get_vocab().size).toBe(512);
    }
  });

  it('writes tokenizer.json as the built object, vocabulary in id order, with the expected layout', () => {
    const built = buildTokenizerJson(readTokenizerBin(tokBin, 512));
    const text = readFileSync(path.join(outDir, 'tokenizer.json'), 'utf8');
    expect(text).toBe(serializeTokenizerJson(built));
    const parsed = JSON.parse(text) as { model: { vocab: Record<string, number>; merges: [string, string][] } } & Record<string, unknown>;
    expect(parsed).toEqual(built);
    // in the file text (JSON.parse would reorder integer-like keys such as "0")
    const vocabText = text.slice(text.indexOf('"vocab": {'), text.indexOf('"merges": ['));
    const fileIds = [...vocabText.matchAll(/^ {6}(".*"): (\d+),?$/gm)].map((m) => [JSON.parse(m[1]!) as string, Number(m[2])] as const);
    expect(fileIds.map(([, id]) => id)).toEqual(Array.from({ length: 512 }, (_, i) => i));
    expect(fileIds.slice(0, 4).map(([k]) => k)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(parsed.model.vocab['<0xFF>']).toBe(258);
    expect(parsed.model.vocab['\u2581the']).toBe(265);
    expect(parsed.model.vocab['\u2581']).toBe(410);
    // every merge joins two learned pieces into a learned piece, ranked by the result's id
    const ranks = parsed.model.merges.map(([a, b]) => {
      const [ia, ib, ir] = [parsed.model.vocab[a]!, parsed.model.vocab[b]!, parsed.model.vocab[a + b]!];
      expect(Math.min(ia, ib, ir)).toBeGreaterThanOrEqual(259);
      return ir;
    });
    expect(ranks).toEqual([...ranks].sort((x, y) => x - y));
    expect(parsed.model.merges.slice(0, 2)).toEqual([['\u2581', 't'], ['h', 'e']]);
    expect(parsed.model.merges.filter(([a, b]) => a + b === '\u2581her')).toEqual([['\u2581', 'her'], ['\u2581h', 'er'], ['\u2581he', 'r']]);
    expect(() => buildTokenizerJson([...readTokenizerBin(tokBin, 512).slice(0, 300), { bytes: Uint8Array.of(0xe2, 0x80), score: -300 }])).toThrow(/not well-formed UTF-8/);
  });

  it('encodes every reference.json example to ids_with_bos', () => {
    for (const ex of reference.encode_examples) {
      expect(hf.encode(ex.text)).toEqual(ex.ids_with_bos);
      expect(hfDirect.encode(ex.text)).toEqual(ex.ids_with_bos);
      expect(refEncode(ref, ex.text)).toEqual(ex.ids_with_bos);
      expect(refEncodeNaive(ref, ex.text)).toEqual(ex.ids_with_bos);
    }
  });

  it('agrees with run.c on short and awkward strings, and the two reference encoders agree', () => {
    const texts = [...EXTRA_SENTENCES, reference.greedy_from_empty_prompt_200_steps];
    for (const text of texts) {
      const want = refEncodeNaive(ref, text);
      expect(refEncode(ref, text)).toEqual(want);
      expect(hf.encode(text)).toEqual(want);
    }
    expect(hf.encode('')).toEqual([1]);
    expect(hf.encode('Once', { add_special_tokens: false })).toEqual(refEncode(ref, 'Once', false));
  });

  it('agrees with run.c on 20,000 random concatenations of vocabulary pieces', () => {
    const pieces = ref.pieces.slice(259).map((p) => new TextDecoder().decode(p));
    let seed = 20240607;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let k = 0; k < 20000; k++) {
      let s = '';
      const len = 1 + rnd(8);
      for (let i = 0; i < len; i++) s += pieces[rnd(pieces.length)];
      const a = hf.encode(s);
      const b = refEncode(ref, s);
      if (firstDiff(a, b) >= 0) expect({ text: s, ids: a }).toEqual({ text: s, ids: b });
    }
  });

  it('treats literal special-token strings like the tokenizers library does (a known difference from run.c)', () => {
    const text = 'Robert <unk> is an actor. <s>x</s>';
    expect(hf.encode(text)).toEqual(refEncodeWithSpecials(text));
    expect(hf.encode(text)).not.toEqual(refEncode(ref, text));
  });
});

describe('converted tokenizer (b): round trips', () => {
  const tiny = readText('tinystories/tinystories_val.txt');
  const lines = tiny.split('\n');
  const firstLines = lines.filter((l) => l.trim() !== '').slice(0, 300);
  const nonAscii = [
    ...lines.filter((l) => /[^\x00-\x7f]/.test(l)),
    ...readText('wikitext-2/test.txt').split('\n').filter((l) => /[^\x00-\x7f]/.test(l) && !SPECIAL_STRINGS.test(l)).slice(0, 100),
  ];

  it('has non-ASCII lines to test (curly quotes, é, mojibake)', () => {
    const all = nonAscii.join('');
    expect(nonAscii.length).toBeGreaterThan(20);
    for (const ch of ['“', '’', 'é', '–']) expect(all).toContain(ch);
  });

  it('decode(encode(text)) === text, for HF and for the run.c port', () => {
    const texts = [
      ...reference.encode_examples.map((e) => e.text),
      ...EXTRA_SENTENCES.filter((t) => t !== ''),
      ...firstLines,
      ...nonAscii,
      tiny.slice(0, 20000),
    ];
    for (const text of texts) {
      const ids = hf.encode(text);
      expect(hf.decode(ids, { skip_special_tokens: true })).toBe(text);
      expect(refDecode(ref, ids)).toBe(text);
    }
  }, 60_000);

  it('decodes the golden ids with BOS shown as <s>', () => {
    const ex = reference.encode_examples[0]!;
    expect(hf.decode(ex.ids_with_bos)).toBe(`<s> ${ex.text}`);
    expect(hf.decode(ex.ids_with_bos, { skip_special_tokens: true })).toBe(ex.text);
  });
});

describe('converted tokenizer (c): whole corpora against run.c', () => {
  it('TinyStories validation text, whole file as one string', () => {
    const text = readText('tinystories/tinystories_val.txt');
    const t0 = performance.now();
    const a = hf.encode(text);
    const t1 = performance.now();
    const b = refEncode(ref, text);
    const t2 = performance.now();
    console.log(`tinystories_val.txt: ${text.length} chars → ${a.length} tokens; HF ${((t1 - t0) / 1000).toFixed(1)} s, run.c port ${((t2 - t1) / 1000).toFixed(1)} s`);
    expectSameIds(a, b, 'tinystories_val.txt');
  }, 120_000);

  it('Tiny Shakespeare, first 100k chars', () => {
    const text = readText('tinyshakespeare/input.txt').slice(0, 100_000);
    expectSameIds(hf.encode(text), refEncode(ref, text), 'tinyshakespeare');
  }, 60_000);

  it('WikiText-2 test, first 100k chars (literal "<unk>" split out as id 0, as the tokenizers library does)', () => {
    const text = readText('wikitext-2/test.txt').slice(0, 100_000);
    expect(text).toContain('<unk>');
    expectSameIds(hf.encode(text), refEncodeWithSpecials(text), 'wikitext-2 with <unk>');
    const noSpecial = text.replaceAll('<unk>', 'UNK');
    expectSameIds(hf.encode(noSpecial), refEncode(ref, noSpecial), 'wikitext-2 with <unk> → UNK');
  }, 60_000);
});

// ---------------------------------------------------------------------------------------
// (d) weights

describe('converted weights (d)', () => {
  let st: SafetensorsFile;
  beforeAll(() => {
    st = new SafetensorsFile(new Uint8Array(readFileSync(path.join(outDir, 'model.safetensors'))));
  });

  it('the files on disk are what the script produces now', () => {
    const files = convertStories260k(modelBin, tokBin);
    expect([...files.keys()].sort()).toEqual([
      'LICENSE', 'README.md', 'config.json', 'generation_config.json', 'model.safetensors',
      'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json',
    ]);
    for (const [name, data] of files) {
      const onDisk = new Uint8Array(readFileSync(path.join(outDir, name)));
      const fresh = typeof data === 'string' ? new TextEncoder().encode(data) : data;
      expect(Buffer.from(onDisk).equals(Buffer.from(fresh)), `${name} is stale: rerun npm run convert:stories260k`).toBe(true);
    }
  });

  it('config.json matches the header', () => {
    const cfg = JSON.parse(readFileSync(path.join(outDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toEqual({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 64, intermediate_size: 172,
      num_hidden_layers: 5, num_attention_heads: 8, num_key_value_heads: 4, vocab_size: 512,
      max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true,
      bos_token_id: 1, eos_token_id: 2, torch_dtype: 'float32', hidden_act: 'silu', attention_bias: false,
      mlp_bias: false, head_dim: 8, initializer_range: 0.02, pretraining_tp: 1, use_cache: true, rope_scaling: null,
    });
  });

  it('has exactly the expected tensor names, shapes and dtype', () => {
    const expected: [string, number[]][] = [['model.embed_tokens.weight', [512, 64]]];
    for (let l = 0; l < 5; l++) {
      const p = `model.layers.${l}.`;
      expected.push(
        [`${p}input_layernorm.weight`, [64]],
        [`${p}self_attn.q_proj.weight`, [64, 64]],
        [`${p}self_attn.k_proj.weight`, [32, 64]],
        [`${p}self_attn.v_proj.weight`, [32, 64]],
        [`${p}self_attn.o_proj.weight`, [64, 64]],
        [`${p}post_attention_layernorm.weight`, [64]],
        [`${p}mlp.gate_proj.weight`, [172, 64]],
        [`${p}mlp.up_proj.weight`, [172, 64]],
        [`${p}mlp.down_proj.weight`, [64, 172]],
      );
    }
    expected.push(['model.norm.weight', [64]]);
    expect(st.names.sort()).toEqual(expected.map(([n]) => n).sort());
    for (const [name, shape] of expected) {
      expect(st.entry(name).shape, name).toEqual(shape);
      expect(st.entry(name).dtype, name).toBe('F32');
    }
    expect(st.header.metadata).toEqual({ format: 'pt', source: 'llama2.c stories260K.bin converted by scripts/convert-stories260k.ts' });
    const params = expected.reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);
    expect(params).toBe(260_032);
  });

  it('copies unpermuted tensors bit for bit and permutes q/k rows within heads', () => {
    const c = original.config;
    expect(st.float32('model.embed_tokens.weight')).toEqual(original.tokenEmbedding);
    expect(st.float32('model.norm.weight')).toEqual(original.rmsFinal);
    const l = 3;
    const dim = c.dim;
    const q = st.float32(`model.layers.${l}.self_attn.q_proj.weight`);
    const k = st.float32(`model.layers.${l}.self_attn.k_proj.weight`);
    const wq = original.wq.subarray(l * dim * dim, (l + 1) * dim * dim);
    const wk = original.wk.subarray(l * 32 * dim, (l + 1) * 32 * dim);
    const row = (w: Float32Array, r: number): Float32Array => w.subarray(r * dim, (r + 1) * dim);
    // head 5 of q, head 2 of k: new row j = old 2j, new row j + 4 = old 2j + 1
    for (let j = 0; j < 4; j++) {
      expect(row(q, 5 * 8 + j)).toEqual(row(wq, 5 * 8 + 2 * j));
      expect(row(q, 5 * 8 + 4 + j)).toEqual(row(wq, 5 * 8 + 2 * j + 1));
      expect(row(k, 2 * 8 + j)).toEqual(row(wk, 2 * 8 + 2 * j));
      expect(row(k, 2 * 8 + 4 + j)).toEqual(row(wk, 2 * 8 + 2 * j + 1));
    }
    expect(st.float32(`model.layers.${l}.mlp.gate_proj.weight`)).toEqual(original.w1.subarray(l * 172 * 64, (l + 1) * 172 * 64));
    expect(st.float32(`model.layers.${l}.mlp.up_proj.weight`)).toEqual(original.w3.subarray(l * 172 * 64, (l + 1) * 172 * 64));
    expect(st.float32(`model.layers.${l}.mlp.down_proj.weight`)).toEqual(original.w2.subarray(l * 172 * 64, (l + 1) * 172 * 64));
  });

  it('HF rotate_half RoPE on the converted q/k equals llama2.c adjacent-pair RoPE on the original', () => {
    const c = original.config;
    const hs = c.headSize;
    const half = hs / 2;
    const kvDim = c.nKvHeads * hs;
    let seed = 1;
    const rnd = (): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed / 2 ** 32 - 0.5;
    };
    for (let l = 0; l < c.nLayers; l++) {
      const wq = original.wq.subarray(l * c.dim * c.dim, (l + 1) * c.dim * c.dim);
      const wk = original.wk.subarray(l * kvDim * c.dim, (l + 1) * kvDim * c.dim);
      const hq = st.float32(`model.layers.${l}.self_attn.q_proj.weight`);
      const hk = st.float32(`model.layers.${l}.self_attn.k_proj.weight`);
      for (const [posQ, posK] of [[0, 0], [5, 2], [37, 36], [511, 100]] as const) {
        const x = Float64Array.from({ length: c.dim }, rnd);
        const y = Float64Array.from({ length: c.dim }, rnd);
        // llama2.c
        const qc = ropeLlama2c(matvec(wq, x, c.dim, c.dim), posQ, hs);
        const kc = ropeLlama2c(matvec(wk, y, kvDim, c.dim), posK, hs);
        // Hugging Face
        const qh = ropeRotateHalf(matvec(hq, x, c.dim, c.dim), posQ, hs);
        const kh = ropeRotateHalf(matvec(hk, y, kvDim, c.dim), posK, hs);
        for (let h = 0; h < c.nHeads; h++) {
          for (let j = 0; j < half; j++) {
            expect(qh[h * hs + j]).toBeCloseTo(qc[h * hs + 2 * j]!, 12);
            expect(qh[h * hs + half + j]).toBeCloseTo(qc[h * hs + 2 * j + 1]!, 12);
          }
          // attention score of query head h against its kv head (GQA: h / (n_heads / n_kv_heads))
          const kvh = Math.floor(h / (c.nHeads / c.nKvHeads));
          let sc = 0;
          let sh = 0;
          for (let i = 0; i < hs; i++) {
            sc += qc[h * hs + i]! * kc[kvh * hs + i]!;
            sh += qh[h * hs + i]! * kh[kvh * hs + i]!;
          }
          expect(sh).toBeCloseTo(sc, 10);
        }
      }
    }
  });

  it('an HF-semantics forward pass of the converted weights reproduces reference.json', () => {
    const model = loadHf(st);
    // logits after BOS at position 0
    const logits0 = forward(model, [1])[0]!;
    reference.logits_after_BOS_at_pos0.first8.forEach((v, i) => expect(Math.abs(logits0[i]! - v)).toBeLessThan(2e-3));
    const top5 = [...logits0.keys()].sort((a, b) => logits0[b]! - logits0[a]!).slice(0, 5);
    expect(top5).toEqual(reference.logits_after_BOS_at_pos0.top5.map((t) => t.id));
    // sentence NLLs: positions > 0, so RoPE (and the permutation) matters
    for (const ex of reference.encode_examples) {
      const nll = sumNll(model, ex.ids_with_bos);
      expect(Math.abs(nll - ex.sum_nll_nats)).toBeLessThan(1e-3);
    }
    // negative control: without the permutation the same forward pass is clearly off
    const unpermuted = { ...model, layers: model.layers.map((ly, l) => ({ ...ly, q: original.wq.subarray(l * 64 * 64, (l + 1) * 64 * 64), k: original.wk.subarray(l * 32 * 64, (l + 1) * 32 * 64) })) };
    const ex = reference.encode_examples[1]!;
    expect(Math.abs(sumNll(unpermuted, ex.ids_with_bos) - ex.sum_nll_nats)).toBeGreaterThan(0.1);
  }, 30_000);
});

describe('checkpoint parsing', () => {
  it('refuses a file whose size does not match its header', () => {
    expect(() => parseLlama2cCheckpoint(modelBin.subarray(0, modelBin.length - 4), 'short.bin')).toThrow(/implies 1056540 bytes/);
    const longer = new Uint8Array(modelBin.length + 4);
    longer.set(modelBin);
    expect(() => parseLlama2cCheckpoint(longer, 'long.bin')).toThrow(/refusing/);
    expect(() => parseLlama2cCheckpoint(modelBin.subarray(0, 10), 'tiny.bin')).toThrow(/too short/);
  });

  it('refuses the version-1 export with a clear message', () => {
    // The v1 header: magic 0x616b3432, version 1, the seven sizes, shared flag, padding to 256.
    const v1 = new Uint8Array(256 + 4 * 260032);
    const dv = new DataView(v1.buffer);
    dv.setUint32(0, 0x616b3432, true);
    dv.setInt32(4, 1, true);
    [64, 172, 5, 8, 4, 512, 512].forEach((v, i) => dv.setInt32(8 + 4 * i, v, true));
    v1[36] = 1;
    expect(() => parseLlama2cCheckpoint(v1, 'stories260K.v1.bin')).toThrow(/version-1 export/);
  });

  it('handles the negative-vocab (unshared classifier) flag: lm_head.weight and untied embeddings', () => {
    const c = { dim: 4, hiddenDim: 6, nLayers: 2, nHeads: 2, nKvHeads: 1, vocabSize: 5, seqLen: 3, sharedClassifier: false, headSize: 2 };
    const size = expectedLegacySize(c);
    const buf = new Uint8Array(size);
    const view = new DataView(buf.buffer);
    [4, 6, 2, 2, 1, -5, 3].forEach((v, i) => view.setInt32(4 * i, v, true));
    const nFloats = (size - 28) / 4;
    for (let i = 0; i < nFloats; i++) view.setFloat32(28 + 4 * i, i, true);
    const ck = parseLlama2cCheckpoint(buf, 'unshared.bin');
    expect(ck.config.vocabSize).toBe(5);
    expect(ck.config.sharedClassifier).toBe(false);
    // wcls is the last 5×4 floats
    expect(Array.from(ck.wcls!)).toEqual(Array.from({ length: 20 }, (_, i) => nFloats - 20 + i));
    expect(hfConfig(ck.config).tie_word_embeddings).toBe(false);
    const names = hfTensors(ck).map((t) => t.name);
    expect(names).toContain('lm_head.weight');
    expect(names.at(-1)).toBe('lm_head.weight');
    // and the shared file has no lm_head
    expect(hfTensors(original).map((t) => t.name)).not.toContain('lm_head.weight');
    expect(() => parseLlama2cCheckpoint(buf.subarray(0, size - 80), 'unshared.bin')).toThrow(/implies/);
  });

  it('permuteRope is the HF permute for several heads', () => {
    const w = Float32Array.from({ length: 2 * 4 * 1 }, (_, i) => i); // 2 heads × head 4 × 1 col
    expect(Array.from(permuteRope(w, 2, 4, 1))).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
  });
});

// ---------------------------------------------------------------------------------------
// Small float64 helpers for (d)

function matvec(w: ArrayLike<number>, x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += w[r * cols + c]! * x[c]!;
    out[r] = s;
  }
  return out;
}

/** run.c: for each even i, rotate (v[i], v[i+1]) by pos × 10000^(−(i mod head_size)/head_size). */
function ropeLlama2c(v: Float64Array, pos: number, headSize: number): Float64Array {
  const out = Float64Array.from(v);
  for (let i = 0; i < v.length; i += 2) {
    const freq = 1 / 10000 ** ((i % headSize) / headSize);
    const a = pos * freq;
    const [c, s] = [Math.cos(a), Math.sin(a)];
    out[i] = v[i]! * c - v[i + 1]! * s;
    out[i + 1] = v[i]! * s + v[i + 1]! * c;
  }
  return out;
}

/** HF Llama: q·cos + rotate_half(q)·sin with inv_freq[j] = 10000^(−2j/head_dim), duplicated. */
function ropeRotateHalf(v: Float64Array, pos: number, headSize: number): Float64Array {
  const out = new Float64Array(v.length);
  const half = headSize / 2;
  for (let h = 0; h < v.length / headSize; h++) {
    const o = h * headSize;
    for (let j = 0; j < half; j++) {
      const a = pos * (1 / 10000 ** ((2 * j) / headSize));
      const [c, s] = [Math.cos(a), Math.sin(a)];
      out[o + j] = v[o + j]! * c - v[o + j + half]! * s;
      out[o + j + half] = v[o + j + half]! * c + v[o + j]! * s;
    }
  }
  return out;
}

interface HfLayer {
  inNorm: Float32Array; q: Float32Array; k: Float32Array; v: Float32Array; o: Float32Array;
  postNorm: Float32Array; gate: Float32Array; up: Float32Array; down: Float32Array;
}
interface HfModel {
  dim: number; hidden: number; nHeads: number; nKv: number; headDim: number; vocab: number;
  embed: Float32Array; norm: Float32Array; layers: HfLayer[];
}

function loadHf(st: SafetensorsFile): HfModel {
  const cfg = JSON.parse(readFileSync(path.join(outDir, 'config.json'), 'utf8')) as Record<string, number>;
  const layers: HfLayer[] = [];
  for (let l = 0; l < cfg.num_hidden_layers!; l++) {
    const g = (n: string): Float32Array => st.float32(`model.layers.${l}.${n}.weight`);
    layers.push({
      inNorm: g('input_layernorm'), q: g('self_attn.q_proj'), k: g('self_attn.k_proj'), v: g('self_attn.v_proj'),
      o: g('self_attn.o_proj'), postNorm: g('post_attention_layernorm'), gate: g('mlp.gate_proj'), up: g('mlp.up_proj'),
      down: g('mlp.down_proj'),
    });
  }
  return {
    dim: cfg.hidden_size!, hidden: cfg.intermediate_size!, nHeads: cfg.num_attention_heads!, nKv: cfg.num_key_value_heads!,
    headDim: cfg.head_dim!, vocab: cfg.vocab_size!, embed: st.float32('model.embed_tokens.weight'), norm: st.float32('model.norm.weight'), layers,
  };
}

function rmsnorm(x: Float64Array, w: Float32Array): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + 1e-5);
  return x.map((v, i) => w[i]! * v * inv);
}

/** Logits at every position of `ids`, Hugging Face Llama semantics (rotate_half, repeat_kv). */
function forward(m: HfModel, ids: number[]): Float64Array[] {
  const { dim, headDim: hd, nHeads, nKv } = m;
  const kvDim = nKv * hd;
  const keys: Float64Array[][] = m.layers.map(() => []);
  const vals: Float64Array[][] = m.layers.map(() => []);
  const out: Float64Array[] = [];
  ids.forEach((id, pos) => {
    let x = Float64Array.from(m.embed.subarray(id * dim, (id + 1) * dim));
    m.layers.forEach((ly, l) => {
      const xn = rmsnorm(x, ly.inNorm);
      const q = ropeRotateHalf(matvec(ly.q, xn, nHeads * hd, dim), pos, hd);
      keys[l]!.push(ropeRotateHalf(matvec(ly.k, xn, kvDim, dim), pos, hd));
      vals[l]!.push(matvec(ly.v, xn, kvDim, dim));
      const att = new Float64Array(nHeads * hd);
      for (let h = 0; h < nHeads; h++) {
        const kvh = Math.floor(h / (nHeads / nKv));
        const scores = keys[l]!.map((k) => {
          let s = 0;
          for (let i = 0; i < hd; i++) s += q[h * hd + i]! * k[kvh * hd + i]!;
          return s / Math.sqrt(hd);
        });
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const z = e.reduce((a, b) => a + b, 0);
        e.forEach((w, t) => {
          for (let i = 0; i < hd; i++) att[h * hd + i] += (w / z) * vals[l]![t]![kvh * hd + i]!;
        });
      }
      const o = matvec(ly.o, att, dim, nHeads * hd);
      x = x.map((v, i) => v + o[i]!);
      const xn2 = rmsnorm(x, ly.postNorm);
      const gate = matvec(ly.gate, xn2, m.hidden, dim);
      const up = matvec(ly.up, xn2, m.hidden, dim);
      const act = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]!);
      const down = matvec(ly.down, act, dim, m.hidden);
      x = x.map((v, i) => v + down[i]!);
    });
    out.push(matvec(m.embed, rmsnorm(x, m.norm), m.vocab, dim));
  });
  return out;
}

function sumNll(m: HfModel, ids: number[]): number {
  const logits = forward(m, ids);
  let nll = 0;
  for (let p = 1; p < ids.length; p++) {
    const lg = logits[p - 1]!;
    const mx = Math.max(...lg);
    const lse = mx + Math.log(lg.reduce((a, v) => a + Math.exp(v - mx), 0));
    nll += lse - lg[ids[p]!]!;
  }
  return nll;
}

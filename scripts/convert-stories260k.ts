/**
 * Converts Karpathy's llama2.c model stories260K (legacy/version-0 `stories260K.bin` plus
 * its tokenizer `tok512.bin`) into a Hugging Face Hub folder for LlamaForCausalLM:
 * config.json, generation_config.json, model.safetensors (F32, HF tensor names, tied
 * embeddings), tokenizer.json, tokenizer_config.json, special_tokens_map.json, README.md,
 * LICENSE.
 *
 *   npx tsx scripts/convert-stories260k.ts [srcDir] [outDir]
 *
 * Defaults: srcDir = ../shared/data/stories260K and outDir = public/models/stories260K,
 * both relative to the repository root. The formats are described in
 * shared/data/stories260K/SOURCE.md.
 *
 * Weights: llama2.c applies RoPE to adjacent pairs (2i, 2i+1) of each head, Hugging Face's
 * Llama uses `rotate_half` (pairs i, i + head_dim/2). As in transformers'
 * convert_llama_weights_to_hf.py, the rows of wq and wk are permuted within each head
 * (new row j = old row 2j, new row j + head_dim/2 = old row 2j + 1), which makes the two
 * formulations compute identical attention scores.
 *
 * Tokenizer: the SentencePiece BPE vocabulary is written as a tokenizers BPE model whose
 * merge list reproduces run.c's rule "merge the adjacent pair whose concatenation is the
 * highest-scoring piece": every learned piece, in score order, contributes every split
 * into two learned pieces.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain } from './is-main';
import { writeSafetensors, type TensorToWrite } from '../src/engine/model/safetensors';

// ---------------------------------------------------------------------------------------
// llama2.c checkpoint

export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Absolute vocab size (the header stores it negated when the classifier is not shared). */
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
  headSize: number;
}

/** Weights of a llama2.c checkpoint in its own layout (all layers of a tensor back to back). */
export interface Llama2cCheckpoint {
  config: Llama2cConfig;
  tokenEmbedding: Float32Array; // [vocab][dim]
  rmsAtt: Float32Array; // [layers][dim]
  wq: Float32Array; // [layers][nHeads*headSize][dim]
  wk: Float32Array; // [layers][nKvHeads*headSize][dim]
  wv: Float32Array; // [layers][nKvHeads*headSize][dim]
  wo: Float32Array; // [layers][dim][nHeads*headSize]
  rmsFfn: Float32Array; // [layers][dim]
  w1: Float32Array; // [layers][hidden][dim]
  w2: Float32Array; // [layers][dim][hidden]
  w3: Float32Array; // [layers][hidden][dim]
  rmsFinal: Float32Array; // [dim]
  /** Separate classifier [vocab][dim]; null when it shares the token embedding. */
  wcls: Float32Array | null;
}

const LEGACY_HEADER_BYTES = 7 * 4;
const V1_MAGIC = 0x616b3432;

function checkDims(c: Llama2cConfig, file: string): void {
  const fields: [string, number][] = [
    ['dim', c.dim], ['hidden_dim', c.hiddenDim], ['n_layers', c.nLayers], ['n_heads', c.nHeads],
    ['n_kv_heads', c.nKvHeads], ['vocab_size', c.vocabSize], ['seq_len', c.seqLen],
  ];
  for (const [k, v] of fields) {
    if (!Number.isInteger(v) || v <= 0 || v > 1 << 24) throw new Error(`${file}: header field ${k} = ${v} is not a plausible positive size`);
  }
  if (c.dim % c.nHeads !== 0) throw new Error(`${file}: dim ${c.dim} is not a multiple of n_heads ${c.nHeads}`);
  if (c.nHeads % c.nKvHeads !== 0) throw new Error(`${file}: n_heads ${c.nHeads} is not a multiple of n_kv_heads ${c.nKvHeads}`);
  if (c.headSize % 2 !== 0) throw new Error(`${file}: head size ${c.headSize} is odd; RoPE needs pairs`);
}

type LegacyTensor = keyof Omit<Llama2cCheckpoint, 'config'> | 'freqCisReal' | 'freqCisImag';

/** Number of float32 values of each tensor, in the legacy file order. */
function legacyLayout(c: Llama2cConfig): [LegacyTensor, number][] {
  const kvDim = c.nKvHeads * c.headSize;
  const qDim = c.nHeads * c.headSize;
  const L = c.nLayers;
  const layout: [LegacyTensor, number][] = [
    ['tokenEmbedding', c.vocabSize * c.dim],
    ['rmsAtt', L * c.dim],
    ['wq', L * qDim * c.dim],
    ['wk', L * kvDim * c.dim],
    ['wv', L * kvDim * c.dim],
    ['wo', L * c.dim * qDim],
    ['rmsFfn', L * c.dim],
    ['w1', L * c.hiddenDim * c.dim],
    ['w2', L * c.dim * c.hiddenDim],
    ['w3', L * c.hiddenDim * c.dim],
    ['rmsFinal', c.dim],
    ['freqCisReal', c.seqLen * (c.headSize / 2)],
    ['freqCisImag', c.seqLen * (c.headSize / 2)],
  ];
  if (!c.sharedClassifier) layout.push(['wcls', c.vocabSize * c.dim]);
  return layout;
}

/** Size in bytes that a legacy (version-0) checkpoint with this header must have. */
export function expectedLegacySize(c: Llama2cConfig): number {
  return LEGACY_HEADER_BYTES + 4 * legacyLayout(c).reduce((a, [, n]) => a + n, 0);
}

function readF32(view: DataView, offset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(offset + 4 * i, true);
  return out;
}

/**
 * Parses a llama2.c legacy (version-0) checkpoint: seven int32 (dim, hidden_dim, n_layers,
 * n_heads, n_kv_heads, vocab_size, seq_len; negative vocab_size = separate classifier at
 * the end), then float32 tensors. Refuses a file whose size differs from the header's.
 */
export function parseLlama2cCheckpoint(buf: Uint8Array, file = 'checkpoint.bin'): Llama2cCheckpoint {
  if (buf.byteLength < LEGACY_HEADER_BYTES) throw new Error(`${file}: ${buf.byteLength} bytes, too short for the 28-byte llama2.c header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(0, true) === V1_MAGIC) {
    throw new Error(`${file}: this is a llama2.c version-${view.getInt32(4, true)} export (magic "ak42"); convert the legacy version-0 .bin (e.g. stories260K.bin) instead`);
  }
  const h = Array.from({ length: 7 }, (_, i) => view.getInt32(4 * i, true));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = h as [number, number, number, number, number, number, number];
  const config: Llama2cConfig = {
    dim, hiddenDim, nLayers, nHeads, nKvHeads,
    vocabSize: Math.abs(rawVocab),
    seqLen,
    sharedClassifier: rawVocab > 0,
    headSize: nHeads > 0 ? dim / nHeads : NaN,
  };
  checkDims(config, file);
  const expected = expectedLegacySize(config);
  if (buf.byteLength !== expected) {
    throw new Error(
      `${file}: file is ${buf.byteLength} bytes but its header (dim ${dim}, hidden_dim ${hiddenDim}, n_layers ${nLayers}, ` +
      `n_heads ${nHeads}, n_kv_heads ${nKvHeads}, vocab_size ${rawVocab}, seq_len ${seqLen}) implies ${expected} bytes; ` +
      'refusing a truncated, padded or non-legacy checkpoint',
    );
  }
  const out: Partial<Llama2cCheckpoint> = { config, wcls: null };
  let offset = LEGACY_HEADER_BYTES;
  for (const [name, count] of legacyLayout(config)) {
    if (name !== 'freqCisReal' && name !== 'freqCisImag') out[name] = readF32(view, offset, count);
    offset += 4 * count;
  }
  return out as Llama2cCheckpoint;
}

// ---------------------------------------------------------------------------------------
// Weights → Hugging Face

/**
 * HF's `permute(w, n_heads, dim1, dim2)`: `w.view(n_heads, dim1/n_heads/2, 2, dim2)
 * .transpose(1, 2).reshape(dim1, dim2)`. Within each head, new row j = old row 2j and new
 * row j + headSize/2 = old row 2j + 1.
 */
export function permuteRope(w: Float32Array, nHeads: number, headSize: number, cols: number): Float32Array {
  if (w.length !== nHeads * headSize * cols) throw new Error(`permuteRope: ${w.length} values, expected ${nHeads}×${headSize}×${cols}`);
  const out = new Float32Array(w.length);
  const half = headSize / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < half; j++) {
      for (let r = 0; r < 2; r++) {
        const src = (h * headSize + 2 * j + r) * cols;
        const dst = (h * headSize + r * half + j) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

export type HfConfig = Record<string, unknown>;

export function hfConfig(c: Llama2cConfig): HfConfig {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    vocab_size: c.vocabSize,
    max_position_embeddings: c.seqLen,
    rms_norm_eps: 1e-5, // run.c's rmsnorm
    rope_theta: 10000, // run.c's RoPE base
    tie_word_embeddings: c.sharedClassifier,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
    hidden_act: 'silu',
    attention_bias: false,
    mlp_bias: false,
    head_dim: c.headSize,
    initializer_range: 0.02,
    pretraining_tp: 1,
    use_cache: true,
    rope_scaling: null,
  };
}

export const SAFETENSORS_METADATA = {
  format: 'pt',
  source: 'llama2.c stories260K.bin converted by scripts/convert-stories260k.ts',
};

/** The checkpoint as HF-named F32 tensors, in the order they are written. */
export function hfTensors(ck: Llama2cCheckpoint): TensorToWrite[] {
  const c = ck.config;
  const qDim = c.nHeads * c.headSize;
  const kvDim = c.nKvHeads * c.headSize;
  const t: TensorToWrite[] = [];
  const add = (name: string, shape: number[], data: Float32Array): void => {
    t.push({ name, dtype: 'F32', shape, data });
  };
  const slice = (a: Float32Array, layer: number, size: number): Float32Array => a.slice(layer * size, (layer + 1) * size);
  add('model.embed_tokens.weight', [c.vocabSize, c.dim], ck.tokenEmbedding);
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    add(`${p}input_layernorm.weight`, [c.dim], slice(ck.rmsAtt, l, c.dim));
    add(`${p}self_attn.q_proj.weight`, [qDim, c.dim], permuteRope(slice(ck.wq, l, qDim * c.dim), c.nHeads, c.headSize, c.dim));
    add(`${p}self_attn.k_proj.weight`, [kvDim, c.dim], permuteRope(slice(ck.wk, l, kvDim * c.dim), c.nKvHeads, c.headSize, c.dim));
    add(`${p}self_attn.v_proj.weight`, [kvDim, c.dim], slice(ck.wv, l, kvDim * c.dim));
    add(`${p}self_attn.o_proj.weight`, [c.dim, qDim], slice(ck.wo, l, c.dim * qDim));
    add(`${p}post_attention_layernorm.weight`, [c.dim], slice(ck.rmsFfn, l, c.dim));
    add(`${p}mlp.gate_proj.weight`, [c.hiddenDim, c.dim], slice(ck.w1, l, c.hiddenDim * c.dim));
    add(`${p}mlp.up_proj.weight`, [c.hiddenDim, c.dim], slice(ck.w3, l, c.hiddenDim * c.dim));
    add(`${p}mlp.down_proj.weight`, [c.dim, c.hiddenDim], slice(ck.w2, l, c.dim * c.hiddenDim));
  }
  add('model.norm.weight', [c.dim], ck.rmsFinal);
  if (ck.wcls) add('lm_head.weight', [c.vocabSize, c.dim], ck.wcls);
  return t;
}

// ---------------------------------------------------------------------------------------
// Tokenizer → Hugging Face tokenizers

export const SPM_SPACE = '\u2581'; // "▁"

export interface TokPiece {
  /** Piece as stored in tok512.bin (raw bytes). */
  bytes: Uint8Array;
  score: number;
}

/** Reads tok512.bin: u32 max_token_length, then per id f32 score, i32 len, len bytes. */
export function readTokenizerBin(buf: Uint8Array, vocabSize: number, file = 'tokenizer.bin'): TokPiece[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.byteLength < 4) throw new Error(`${file}: truncated (${buf.byteLength} bytes)`);
  let o = 4;
  const out: TokPiece[] = [];
  for (let i = 0; i < vocabSize; i++) {
    if (o + 8 > buf.byteLength) throw new Error(`${file}: truncated at token ${i} of ${vocabSize}`);
    const score = view.getFloat32(o, true);
    const len = view.getInt32(o + 4, true);
    o += 8;
    if (len < 0 || o + len > buf.byteLength) throw new Error(`${file}: token ${i} has length ${len}, beyond the end of the file`);
    out.push({ bytes: buf.slice(o, o + len), score });
    o += len;
  }
  if (o !== buf.byteLength) throw new Error(`${file}: ${buf.byteLength - o} trailing bytes after ${vocabSize} tokens (vocab size mismatch?)`);
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a piece, refusing bytes that are not well-formed UTF-8. */
function pieceText(p: TokPiece, id: number): string {
  try {
    return strictUtf8.decode(p.bytes);
  } catch {
    const hex = Array.from(p.bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`tokenizer piece ${id} (bytes ${hex}) is not well-formed UTF-8; it cannot be written to tokenizer.json`);
  }
}

/** Number of leading special (0..2) and byte-fallback (3..258) ids in a llama2.c tokenizer. */
export const FIRST_LEARNED_ID = 3 + 256;

/**
 * Builds the tokenizers-library tokenizer.json object (Llama-2 style: BPE with byte
 * fallback, "▁" prefix/space normalizer, <s> template, SentencePiece-like decoder).
 */
export function buildTokenizerJson(pieces: TokPiece[]): Record<string, unknown> {
  if (pieces.length < FIRST_LEARNED_ID) throw new Error(`tokenizer has ${pieces.length} pieces; need at least ${FIRST_LEARNED_ID} (3 specials + 256 bytes)`);
  const text = pieces.map((p, i) => pieceText(p, i));
  const expectSpecial: [number, string[]][] = [[0, ['<unk>']], [1, ['\n<s>\n', '<s>']], [2, ['\n</s>\n', '</s>']]];
  for (const [id, allowed] of expectSpecial) {
    if (!allowed.includes(text[id]!)) throw new Error(`tokenizer id ${id} is ${JSON.stringify(text[id])}, expected one of ${JSON.stringify(allowed)}`);
  }
  const vocab: Record<string, number> = {};
  const names = ['<unk>', '<s>', '</s>'];
  for (let i = 0; i < 3; i++) vocab[names[i]!] = i;
  for (let b = 0; b < 256; b++) {
    const want = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    if (text[b + 3] !== want) throw new Error(`tokenizer id ${b + 3} is ${JSON.stringify(text[b + 3])}, expected byte piece ${want}`);
    vocab[want] = b + 3;
  }
  // Learned pieces: SentencePiece's "▁" was turned into ASCII space by llama2.c's export.
  const learned: { id: number; piece: string; score: number }[] = [];
  for (let id = FIRST_LEARNED_ID; id < pieces.length; id++) {
    const t = text[id]!;
    if (t.length === 0) throw new Error(`tokenizer piece ${id} is empty`);
    if (t.includes(SPM_SPACE)) throw new Error(`tokenizer piece ${id} ${JSON.stringify(t)} already contains "${SPM_SPACE}"; cannot map spaces unambiguously`);
    const piece = t.replaceAll(' ', SPM_SPACE);
    if (piece in vocab) throw new Error(`tokenizer piece ${id} ${JSON.stringify(piece)} duplicates id ${vocab[piece]}`);
    vocab[piece] = id;
    learned.push({ id, piece, score: pieces[id]!.score });
  }
  // Merge list. run.c merges, at every step, the adjacent pair whose concatenation is the
  // highest-scoring piece (leftmost on ties); the tokenizers BPE merges the pair with the lowest
  // rank (leftmost on ties). Ranking the merges by the score of the piece they produce (id
  // ascending on equal scores) makes the two choose the same piece at every step. Each piece is
  // listed with every split into two learned pieces (any of them can occur, e.g. " the" from
  // " t"+"he" or " th"+"e"). Byte pieces and specials never take part in run.c's merges (their
  // strings "<0xHH>", "<unk>", "\n<s>\n" are parts of no learned piece), so they are left out.
  // The order of the splits of one piece only matters when two different splits of the same
  // piece are mergeable at the same step. Splits are listed shortest left part first; for tok512
  // this order and the reverse one give the same encodings as run.c on the whole TinyStories file
  // and on 100,000 random piece strings (test/convert-stories260k.test.ts checks this order
  // against the run.c port in scripts/llama2c-tokenizer.ts).
  for (let id = 0; id < FIRST_LEARNED_ID; id++) {
    const t = text[id]!;
    for (let other = 0; other < pieces.length; other++) {
      if (other !== id && (text[other]!.startsWith(t) || text[other]!.endsWith(t))) {
        throw new Error(`tokenizer piece ${other} ${JSON.stringify(text[other])} starts or ends with the special/byte piece ${id} ${JSON.stringify(t)}: run.c could merge it, the BPE model cannot`);
      }
    }
  }
  const learnedIds = new Map(learned.map((l) => [l.piece, l.id]));
  const order = [...learned].sort((a, b) => b.score - a.score || a.id - b.id);
  const merges: [string, string][] = [];
  for (const { piece } of order) {
    const cps = Array.from(piece);
    for (let k = 1; k < cps.length; k++) {
      const left = cps.slice(0, k).join('');
      const right = cps.slice(k).join('');
      if (learnedIds.has(left) && learnedIds.has(right)) merges.push([left, right]);
    }
  }
  const special = (id: number, content: string): Record<string, unknown> => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'Prepend', prepend: SPM_SPACE },
        { type: 'Replace', pattern: { String: ' ' }, content: SPM_SPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPM_SPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/**
 * JSON text of a tokenizer.json object, with the vocabulary written in id order (plain
 * `JSON.stringify` would put integer-like keys such as the digit pieces "0".."9" first) and
 * one merge pair per line.
 */
export function serializeTokenizerJson(tok: Record<string, unknown>): string {
  const model = tok.model as { vocab: Record<string, number>; merges: [string, string][] };
  const VOCAB = '@@vocab@@';
  const MERGES = '@@merges@@';
  const text = JSON.stringify({ ...tok, model: { ...model, vocab: VOCAB, merges: MERGES } }, null, 2);
  const vocab = Object.entries(model.vocab).sort((a, b) => a[1] - b[1]);
  const vocabText = `{\n${vocab.map(([k, id]) => `      ${JSON.stringify(k)}: ${id}`).join(',\n')}\n    }`;
  const mergesText = `[\n${model.merges.map((m) => `      ${JSON.stringify(m)}`).join(',\n')}\n    ]`;
  // replacer functions, so that "$" in a piece is not read as a replacement pattern
  return text.replace(JSON.stringify(VOCAB), () => vocabText).replace(JSON.stringify(MERGES), () => mergesText) + '\n';
}

export function tokenizerConfig(c: Llama2cConfig): Record<string, unknown> {
  return {
    tokenizer_class: 'LlamaTokenizer',
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    add_bos_token: true,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    legacy: true,
    model_max_length: c.seqLen,
    padding_side: 'left',
  };
}

export const SPECIAL_TOKENS_MAP = { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' };

// ---------------------------------------------------------------------------------------
// Model card

function readme(c: Llama2cConfig, nParams: number, nMerges: number): string {
  return `---
license: mit
library_name: transformers
pipeline_tag: text-generation
tags:
  - llama
  - llama2.c
  - tinystories
datasets:
  - roneneldan/TinyStories
---

# stories260K (Hugging Face format)

A ${nParams.toLocaleString('en-US')}-parameter Llama-2-architecture language model trained by
Andrej Karpathy with [llama2.c](https://github.com/karpathy/llama2.c) on TinyStories
(published in the Hugging Face repo \`karpathy/tinyllamas\`, folder \`stories260K/\`),
converted from llama2.c's checkpoint format to the Hugging Face \`LlamaForCausalLM\` layout
by \`scripts/convert-stories260k.ts\`.

| | |
| --- | --- |
| hidden size (dim) | ${c.dim} |
| intermediate size | ${c.hiddenDim} |
| layers | ${c.nLayers} |
| attention heads / key-value heads | ${c.nHeads} / ${c.nKvHeads} (grouped-query attention) |
| head dim | ${c.headSize} |
| vocabulary | ${c.vocabSize} (SentencePiece BPE \`tok512\`, byte fallback) |
| context | ${c.seqLen} |
| embeddings | ${c.sharedClassifier ? 'tied (no separate lm_head)' : 'separate lm_head'} |
| dtype | float32 |

## Origin and licence

* Weights: \`stories260K.bin\` (llama2.c legacy/version-0 export,
  sha256 \`b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696\`) and tokenizer
  \`tok512.bin\` (sha256 \`037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312\`);
  provenance in \`shared/data/stories260K/SOURCE.md\` of this project.
* Licence: **MIT** (Karpathy's llama2.c / tinyllamas), see \`LICENSE\`. The training data,
  TinyStories, is CDLA-Sharing-1.0.

## Conversion notes

* Tensors: \`token_embedding_table\` → \`model.embed_tokens.weight\`; per layer
  \`rms_att_weight\` → \`input_layernorm\`, \`wq/wk/wv/wo\` → \`self_attn.{q,k,v,o}_proj\`,
  \`rms_ffn_weight\` → \`post_attention_layernorm\`, \`w1\` → \`mlp.gate_proj\`,
  \`w3\` → \`mlp.up_proj\`, \`w2\` → \`mlp.down_proj\`; \`rms_final_weight\` → \`model.norm.weight\`.
  The precomputed RoPE tables of the legacy file are dropped. No biases.
* **RoPE permutation.** llama2.c rotates adjacent pairs (2i, 2i+1) of each head; Hugging Face
  Llama rotates (i, i + head_dim/2) (\`rotate_half\`). The rows of \`q_proj\` (with
  ${c.nHeads} heads) and \`k_proj\` (with ${c.nKvHeads} key-value heads) are therefore permuted
  within each head exactly as \`permute()\` in transformers'
  \`convert_llama_weights_to_hf.py\` does: \`w.view(n_heads, head_dim/2, 2, dim).transpose(1, 2)\`,
  i.e. new row j = old row 2j and new row j + head_dim/2 = old row 2j + 1. Attention scores are
  then identical to llama2.c's.
* RMSNorm eps 1e-5 and RoPE theta 10000 are llama2.c's constants (not stored in the file).
* Tokenizer: ids 0/1/2 are \`<unk>\`, \`<s>\`, \`</s>\` (llama2.c stores BOS/EOS as "\\n<s>\\n" and
  "\\n</s>\\n"); ids 3–258 are the byte-fallback pieces \`<0x00>\`…\`<0xFF>\`; the learned pieces
  have their spaces written back as "▁". The ${nMerges} BPE merges are, in score order, every split
  of each learned piece into two learned pieces; this reproduces SentencePiece's / llama2.c's
  rule "merge the adjacent pair that forms the highest-scoring piece". As with Llama-2, a "▁" is
  prepended to the text (SentencePiece's dummy prefix) and BOS is added.
* Differences from llama2.c's \`run.c\` tokenizer, inherent to the Hugging Face format: the
  literal strings \`<unk>\`, \`<s>\`, \`</s>\` in input text become the special tokens (and the
  text after them gets its own "▁" prefix), and a literal "▁" (U+2581) in the text is read as a
  space.
* The model was trained on stories each encoded as BOS + text and marks a story's end by
  emitting BOS (id 1), not EOS (id 2); stop generation on id 1 as \`run.c\` does.
`;
}

const LICENSE_TEXT = `The stories260K weights and tok512 tokenizer come from Andrej Karpathy's llama2.c
project (https://github.com/karpathy/llama2.c; model files published in the Hugging Face
repo karpathy/tinyllamas, folder stories260K/), distributed under the MIT License below.
This folder is a format conversion of those files (scripts/convert-stories260k.ts); the
weights and vocabulary are unchanged apart from the RoPE row permutation of q/k described
in README.md. The training data, TinyStories, is licensed CDLA-Sharing-1.0.

MIT License

Copyright (c) 2023 Andrej

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;

// ---------------------------------------------------------------------------------------
// Whole conversion

/** Every output file, name → contents, computed in memory. */
export function convertStories260k(modelBin: Uint8Array, tokenizerBin: Uint8Array): Map<string, Uint8Array | string> {
  const ck = parseLlama2cCheckpoint(modelBin, 'stories260K.bin');
  const c = ck.config;
  const pieces = readTokenizerBin(tokenizerBin, c.vocabSize, 'tok512.bin');
  const tensors = hfTensors(ck);
  const nParams = tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  const tok = buildTokenizerJson(pieces);
  const nMerges = ((tok.model as { merges: unknown[] }).merges).length;
  const json = (v: unknown): string => JSON.stringify(v, null, 2) + '\n';
  const files = new Map<string, Uint8Array | string>();
  files.set('config.json', json(hfConfig(c)));
  files.set('generation_config.json', json({ bos_token_id: 1, eos_token_id: 2 }));
  files.set('model.safetensors', writeSafetensors(tensors, SAFETENSORS_METADATA));
  files.set('tokenizer.json', serializeTokenizerJson(tok));
  files.set('tokenizer_config.json', json(tokenizerConfig(c)));
  files.set('special_tokens_map.json', json(SPECIAL_TOKENS_MAP));
  files.set('README.md', readme(c, nParams, nMerges));
  files.set('LICENSE', LICENSE_TEXT);
  return files;
}

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DEFAULT_SRC_DIR = path.resolve(REPO_ROOT, '../shared/data/stories260K');
export const DEFAULT_OUT_DIR = path.resolve(REPO_ROOT, 'public/models/stories260K');

export function convertDirectory(srcDir = DEFAULT_SRC_DIR, outDir = DEFAULT_OUT_DIR): string[] {
  const modelBin = new Uint8Array(readFileSync(path.join(srcDir, 'stories260K.bin')));
  const tokenizerBin = new Uint8Array(readFileSync(path.join(srcDir, 'tok512.bin')));
  const files = convertStories260k(modelBin, tokenizerBin);
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  for (const [name, data] of files) {
    const p = path.join(outDir, name);
    writeFileSync(p, data);
    written.push(p);
  }
  return written;
}

if (isMain(import.meta.url)) {
  const [srcArg, outArg] = process.argv.slice(2);
  const srcDir = srcArg ? path.resolve(srcArg) : DEFAULT_SRC_DIR;
  const outDir = outArg ? path.resolve(outArg) : DEFAULT_OUT_DIR;
  try {
    const written = convertDirectory(srcDir, outDir);
    for (const p of written) console.log(`wrote ${path.relative(process.cwd(), p)}`);
  } catch (e) {
    console.error(`convert-stories260k: ${(e as Error).message}`);
    process.exit(1);
  }
}

/**
 * Random-weight bf16 checkpoints of real models, in Hub layout, for the scale benchmark
 * (bench/scale.ts) and the memory tests of issue 19:
 *
 *   npx tsx scripts/make-scale-fixtures.ts [--out DIR] [--models A,B] [--shard-bytes N]
 *                                          [--seed S] [--layers N] [--vocab N]
 *
 * For each model id (SmolLM2-135M, SmolLM2-360M, Qwen2.5-0.5B, TinyLlama-1.1B, Llama-3.2-1B;
 * default all) it writes DIR/<id>/ (DIR default .cache/scale-fixtures, git-ignored):
 *
 *   config.json                      the real model's config.json (SCALE_MODELS below)
 *   generation_config.json
 *   model-0000N-of-0000M.safetensors bf16 random weights, tensors in Hugging Face order
 *   model.safetensors.index.json     weight_map and metadata.total_size
 *   tokenizer.json, tokenizer_config.json
 *                                    a BPE tokenizer with exactly vocab_size entries
 *
 * Weights are written tensor by tensor in 1 Mi-element pieces: the script never holds more
 * than one piece (a few MB), whatever the model's size. Each tensor's values depend only on
 * the seed and the tensor's name (uniform with the std of the config's initializer_range,
 * as Hugging Face initialises linears and embeddings; norms 1), so a subset or another
 * sharding gives the same tensors. Shards hold at most --shard-bytes (default 1e9, the
 * Hub's "1GB") and every model gets at least two, so the sharded path is what is measured.
 *
 * The tokenizer is the bundled stories260K one (SentencePiece-style BPE with byte fallback,
 * 512 pieces) extended by merges "piece + letter" up to vocab_size, with the config's
 * bos/eos ids (where beyond 512) holding special tokens named as in the real model. It is
 * a valid tokenizer of the right size, not the real one: token ids of a text differ.
 *
 * --layers and --vocab shrink the model (tests only: config.json then differs from the
 * real one in num_hidden_layers / vocab_size, and the folder name says so).
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain } from './is-main';
import { safetensorsHeaderBytes } from '../src/engine/model/safetensors';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUNDLED_TOKENIZER = path.join(REPO_ROOT, 'public/models/stories260K/tokenizer.json');

/** The Hub config.json files of the real models (bf16 checkpoints). */
export const SCALE_MODELS = {
  'SmolLM2-135M': {
    repo: 'HuggingFaceTB/SmolLM2-135M',
    specials: {} as Record<number, string>,
    config: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 0,
      eos_token_id: 0,
      hidden_act: 'silu',
      hidden_size: 576,
      initializer_range: 0.041666666666666664,
      intermediate_size: 1536,
      is_llama_config: true,
      max_position_embeddings: 8192,
      model_type: 'llama',
      num_attention_heads: 9,
      num_hidden_layers: 30,
      num_key_value_heads: 3,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_interleaved: false,
      rope_scaling: null,
      rope_theta: 100000,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      transformers_version: '4.40.1',
      use_cache: true,
      vocab_size: 49152,
    },
  },
  'SmolLM2-360M': {
    repo: 'HuggingFaceTB/SmolLM2-360M',
    specials: {} as Record<number, string>,
    config: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 0,
      eos_token_id: 0,
      hidden_act: 'silu',
      hidden_size: 960,
      initializer_range: 0.02,
      intermediate_size: 2560,
      is_llama_config: true,
      max_position_embeddings: 8192,
      model_type: 'llama',
      num_attention_heads: 15,
      num_hidden_layers: 32,
      num_key_value_heads: 5,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_interleaved: false,
      rope_scaling: null,
      rope_theta: 100000,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      transformers_version: '4.40.1',
      use_cache: true,
      vocab_size: 49152,
    },
  },
  'Qwen2.5-0.5B': {
    repo: 'Qwen/Qwen2.5-0.5B',
    specials: { 151643: '<|endoftext|>' } as Record<number, string>,
    config: {
      architectures: ['Qwen2ForCausalLM'],
      attention_dropout: 0.0,
      bos_token_id: 151643,
      eos_token_id: 151643,
      hidden_act: 'silu',
      hidden_size: 896,
      initializer_range: 0.02,
      intermediate_size: 4864,
      max_position_embeddings: 32768,
      max_window_layers: 24,
      model_type: 'qwen2',
      num_attention_heads: 14,
      num_hidden_layers: 24,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      transformers_version: '4.40.1',
      use_cache: true,
      use_sliding_window: false,
      vocab_size: 151936,
    },
  },
  'TinyLlama-1.1B': {
    repo: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
    specials: {} as Record<number, string>,
    config: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      bos_token_id: 1,
      eos_token_id: 2,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 5632,
      max_position_embeddings: 2048,
      model_type: 'llama',
      num_attention_heads: 32,
      num_hidden_layers: 22,
      num_key_value_heads: 4,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: null,
      rope_theta: 10000.0,
      tie_word_embeddings: false,
      torch_dtype: 'bfloat16',
      transformers_version: '4.35.0',
      use_cache: true,
      vocab_size: 32000,
    },
  },
  'Llama-3.2-1B': {
    repo: 'meta-llama/Llama-3.2-1B',
    specials: { 128000: '<|begin_of_text|>', 128001: '<|end_of_text|>' } as Record<number, string>,
    config: {
      architectures: ['LlamaForCausalLM'],
      attention_bias: false,
      attention_dropout: 0.0,
      bos_token_id: 128000,
      eos_token_id: 128001,
      head_dim: 64,
      hidden_act: 'silu',
      hidden_size: 2048,
      initializer_range: 0.02,
      intermediate_size: 8192,
      max_position_embeddings: 131072,
      mlp_bias: false,
      model_type: 'llama',
      num_attention_heads: 32,
      num_hidden_layers: 16,
      num_key_value_heads: 8,
      pretraining_tp: 1,
      rms_norm_eps: 1e-5,
      rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
      rope_theta: 500000.0,
      tie_word_embeddings: true,
      torch_dtype: 'bfloat16',
      transformers_version: '4.45.0.dev0',
      use_cache: true,
      vocab_size: 128256,
    },
  },
} as const;
export type ScaleModelId = keyof typeof SCALE_MODELS;
export const SCALE_MODEL_IDS = Object.keys(SCALE_MODELS) as ScaleModelId[];

export const DEFAULT_SHARD_BYTES = 1e9;

export interface PlannedTensor {
  name: string;
  shape: number[];
  /** 'ones' for norms, else the std of the uniform random values. */
  init: 'ones' | number;
}

type RawConfig = Record<string, unknown> & {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  tie_word_embeddings: boolean;
  initializer_range: number;
  head_dim?: number;
};

/** Every tensor of the checkpoint, in Hugging Face's state-dict order. */
export function planTensors(config: RawConfig): PlannedTensor[] {
  const H = config.hidden_size;
  const hd = config.head_dim ?? H / config.num_attention_heads;
  const q = config.num_attention_heads * hd;
  const kv = config.num_key_value_heads * hd;
  const I = config.intermediate_size;
  const std = config.initializer_range;
  const bias = config.architectures instanceof Array && config.architectures[0] === 'Qwen2ForCausalLM' ? true : config.attention_bias === true;
  const out: PlannedTensor[] = [{ name: 'model.embed_tokens.weight', shape: [config.vocab_size, H], init: std }];
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    out.push({ name: `${p}.input_layernorm.weight`, shape: [H], init: 'ones' });
    for (const [n, rows] of [['q', q], ['k', kv], ['v', kv]] as const) {
      out.push({ name: `${p}.self_attn.${n}_proj.weight`, shape: [rows, H], init: std });
      if (bias) out.push({ name: `${p}.self_attn.${n}_proj.bias`, shape: [rows], init: std });
    }
    out.push({ name: `${p}.self_attn.o_proj.weight`, shape: [H, q], init: std });
    out.push({ name: `${p}.post_attention_layernorm.weight`, shape: [H], init: 'ones' });
    out.push({ name: `${p}.mlp.gate_proj.weight`, shape: [I, H], init: std });
    out.push({ name: `${p}.mlp.up_proj.weight`, shape: [I, H], init: std });
    out.push({ name: `${p}.mlp.down_proj.weight`, shape: [H, I], init: std });
  }
  out.push({ name: 'model.norm.weight', shape: [H], init: 'ones' });
  if (!config.tie_word_embeddings) out.push({ name: 'lm_head.weight', shape: [config.vocab_size, H], init: std });
  return out;
}

const bytesOf = (t: PlannedTensor) => t.shape.reduce((a, b) => a * b, 1) * 2;

/** Tensors split into shards of at most `maxBytes` each (a larger tensor alone), at least two shards. */
export function planShards(tensors: PlannedTensor[], maxBytes = DEFAULT_SHARD_BYTES): PlannedTensor[][] {
  const total = tensors.reduce((a, t) => a + bytesOf(t), 0);
  const limit = Math.min(maxBytes, Math.ceil(total / 2));
  const shards: PlannedTensor[][] = [[]];
  let used = 0;
  for (const t of tensors) {
    const b = bytesOf(t);
    if (used > 0 && used + b > limit) {
      shards.push([]);
      used = 0;
    }
    shards[shards.length - 1]!.push(t);
    used += b;
  }
  return shards;
}

/** FNV-1a of the seed and a tensor name: each tensor's own PRNG seed. */
function tensorSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

const PIECE = 1 << 20;

/** Writes one tensor's bf16 bytes at the file's current end, piece by piece. */
function writeTensor(fd: number, t: PlannedTensor, seed: number, buf: { f: Float32Array; u: Uint32Array; out: Uint16Array }): void {
  const n = t.shape.reduce((a, b) => a * b, 1);
  let a = tensorSeed(seed, t.name);
  // Uniform on [-r, r] has std r/√3.
  const r = t.init === 'ones' ? 0 : t.init * Math.sqrt(3);
  for (let done = 0; done < n; done += PIECE) {
    const m = Math.min(PIECE, n - done);
    if (t.init === 'ones') {
      buf.out.fill(0x3f80, 0, m);
    } else {
      for (let i = 0; i < m; i++) {
        // mulberry32 (as src/engine/random.ts), inlined for speed.
        a = (a + 0x6d2b79f5) | 0;
        let x = Math.imul(a ^ (a >>> 15), a | 1);
        x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
        buf.f[i] = (((x ^ (x >>> 14)) >>> 0) / 4294967296 * 2 - 1) * r;
      }
      for (let i = 0; i < m; i++) {
        const b = buf.u[i]!;
        buf.out[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16; // round to nearest even
      }
    }
    writeSync(fd, new Uint8Array(buf.out.buffer, 0, m * 2));
  }
}

function safetensorsHeader(tensors: PlannedTensor[]): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const t of tensors) {
    const b = bytesOf(t);
    header[t.name] = { dtype: 'BF16', shape: t.shape, data_offsets: [off, off + b] };
    off += b;
  }
  return safetensorsHeaderBytes(header);
}

/**
 * tokenizer.json with exactly `vocabSize` entries: the bundled stories260K BPE tokenizer
 * plus pieces "P + letter" (never a "▁" after the first character, so the tokenizer
 * wrapper's fast split at spaces stays exact), and `specials` at their ids.
 */
export function scaleTokenizer(vocabSize: number, specials: Record<number, string> = {}): { tokenizer: Record<string, unknown>; config: Record<string, unknown> } {
  const base = JSON.parse(readFileSync(BUNDLED_TOKENIZER, 'utf8')) as {
    added_tokens: Record<string, unknown>[];
    model: { vocab: Record<string, number>; merges: [string, string][] | string[] };
  };
  const baseVocab = base.model.vocab;
  const baseSize = Object.keys(baseVocab).length;
  if (vocabSize < baseSize) throw new Error(`vocab_size ${vocabSize} is below the base tokenizer's ${baseSize}`);
  const vocab: Record<string, number> = { ...baseVocab };
  const merges = [...base.model.merges] as ([string, string] | string)[];
  const letters = 'abcdefghijklmnopqrstuvwxyz'.split('').filter((c) => c in vocab);
  // Grow breadth-first from the base pieces that are text (not specials, not <0xNN> bytes).
  const queue = Object.entries(baseVocab)
    .sort((x, y) => x[1] - y[1])
    .map(([p]) => p)
    .filter((p) => !/^<.*>$/.test(p));
  let id = baseSize;
  const skipSpecials = () => {
    while (specials[id] !== undefined) {
      vocab[specials[id]!] = id;
      id++;
    }
  };
  skipSpecials();
  for (let qi = 0; id < vocabSize && qi < queue.length; qi++) {
    const p = queue[qi]!;
    for (const c of letters) {
      if (id >= vocabSize) break;
      const piece = p + c;
      if (piece in vocab) continue;
      vocab[piece] = id++;
      merges.push([p, c]);
      queue.push(piece);
      skipSpecials();
    }
  }
  if (id !== vocabSize) throw new Error(`could only make ${id} of ${vocabSize} tokens`);
  const added = [...base.added_tokens];
  for (const [sid, content] of Object.entries(specials)) {
    if (Number(sid) < vocabSize) added.push({ id: Number(sid), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  }
  const tokenizer = { ...base, added_tokens: added, model: { ...base.model, vocab, merges } };
  const config = {
    tokenizer_class: 'LlamaTokenizer',
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    add_bos_token: true,
    add_eos_token: false,
    clean_up_tokenization_spaces: false,
    legacy: true,
    model_max_length: 131072,
    note: 'synthetic tokenizer of the real vocabulary size (scripts/make-scale-fixtures.ts)',
  };
  return { tokenizer, config };
}

export interface FixtureOptions {
  seed?: number;
  shardBytes?: number;
  /** Tests only: fewer layers / a smaller vocabulary than the real model. */
  layers?: number;
  vocab?: number;
  log?: (line: string) => void;
}

export interface WrittenFixture {
  id: ScaleModelId;
  dir: string;
  config: Record<string, unknown>;
  shards: string[];
  totalBytes: number;
  ms: number;
}

/** The folder name: the model id, with the shrink options when given. */
export function fixtureDirName(id: ScaleModelId, opts: Pick<FixtureOptions, 'layers' | 'vocab'> = {}): string {
  return `${id}${opts.layers !== undefined ? `-L${opts.layers}` : ''}${opts.vocab !== undefined ? `-V${opts.vocab}` : ''}`;
}

export function writeScaleFixture(id: ScaleModelId, outRoot: string, opts: FixtureOptions = {}): WrittenFixture {
  const t0 = performance.now();
  const spec = SCALE_MODELS[id];
  const config: RawConfig = {
    ...(JSON.parse(JSON.stringify(spec.config)) as RawConfig),
    ...(opts.layers !== undefined ? { num_hidden_layers: opts.layers } : {}),
    ...(opts.vocab !== undefined ? { vocab_size: opts.vocab } : {}),
  };
  const dir = path.join(outRoot, fixtureDirName(id, opts));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  writeFileSync(
    path.join(dir, 'generation_config.json'),
    `${JSON.stringify({ _from_model_config: true, bos_token_id: config.bos_token_id, eos_token_id: config.eos_token_id, transformers_version: config.transformers_version }, null, 2)}\n`,
  );
  const tok = scaleTokenizer(config.vocab_size, spec.specials);
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tok.tokenizer));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), `${JSON.stringify(tok.config, null, 2)}\n`);

  const shards = planShards(planTensors(config), opts.shardBytes ?? DEFAULT_SHARD_BYTES);
  const buf = (() => {
    const f = new Float32Array(PIECE);
    return { f, u: new Uint32Array(f.buffer), out: new Uint16Array(PIECE) };
  })();
  const weightMap: Record<string, string> = {};
  const names: string[] = [];
  let total = 0;
  shards.forEach((tensors, s) => {
    const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    names.push(name);
    const fd = openSync(path.join(dir, name), 'w');
    try {
      writeSync(fd, safetensorsHeader(tensors));
      for (const t of tensors) {
        writeTensor(fd, t, opts.seed ?? 1, buf);
        weightMap[t.name] = name;
        total += bytesOf(t);
      }
    } finally {
      closeSync(fd);
    }
    opts.log?.(`  ${id}/${name}: ${tensors.length} tensors`);
  });
  writeFileSync(path.join(dir, 'model.safetensors.index.json'), `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`);
  return { id, dir, config, shards: names, totalBytes: total, ms: performance.now() - t0 };
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

export function main(args: string[]): WrittenFixture[] {
  const out = path.resolve(option(args, 'out') ?? path.join(REPO_ROOT, '.cache/scale-fixtures'));
  const ids = (option(args, 'models')?.split(',').map((s) => s.trim()).filter(Boolean) ?? SCALE_MODEL_IDS) as ScaleModelId[];
  for (const id of ids) if (!(id in SCALE_MODELS)) throw new Error(`unknown model "${id}" (known: ${SCALE_MODEL_IDS.join(', ')})`);
  const num = (n: string) => {
    const v = option(args, n);
    if (v === undefined) return undefined;
    if (!/^\d+(e\d+)?$/.test(v)) throw new Error(`--${n} ${v}: expected a positive integer`);
    return Number(v);
  };
  const opts: FixtureOptions = { seed: num('seed'), shardBytes: num('shard-bytes'), layers: num('layers'), vocab: num('vocab'), log: console.log };
  const written: WrittenFixture[] = [];
  for (const id of ids) {
    const w = writeScaleFixture(id, out, opts);
    console.log(`wrote ${path.relative(process.cwd(), w.dir)}: ${w.shards.length} shards, ${(w.totalBytes / 1e9).toFixed(2)} GB of bf16 in ${(w.ms / 1000).toFixed(1)} s`);
    written.push(w);
  }
  return written;
}

if (isMain(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`make-scale-fixtures: ${(e as Error).message}`);
    process.exit(1);
  }
}

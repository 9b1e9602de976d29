/**
 * Minimal reproductions of the bugs the parser fuzzers found (see test/fuzz-*.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/engine/model/safetensors';
import { parseModelConfig } from '../src/engine/model/config';
import { createTokenizer } from '../src/engine/tokenizer';
import { StudioError } from '../src/engine/errors';

const deepArray = (depth: number) => JSON.parse(`${'['.repeat(depth)}1${']'.repeat(depth)}`) as unknown;

function refused(f: () => unknown, pattern: RegExp, ms = 1000): void {
  const t0 = performance.now();
  let err: unknown = null;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(performance.now() - t0).toBeLessThan(ms);
  expect(err).toBeInstanceOf(StudioError);
  expect((err as Error).message).toMatch(pattern);
}

function fileWithHeaderText(text: string): Uint8Array {
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function tinyTokenizer(vocabExtra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    added_tokens: [{ id: 0, content: '<unk>', special: true }],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: { type: 'BPE', unk_token: '<unk>', vocab: { '<unk>': 0, a: 1, b: 2, ab: 3, ...vocabExtra }, merges: [['a', 'b']] },
  };
}

describe('fuzzer regressions', () => {
  it('safetensors: a deeply nested shape/dtype/offsets is refused, not a stack overflow in the message', () => {
    for (const field of ['shape', 'dtype', 'data_offsets']) {
      const nested = `${'['.repeat(100_000)}1${']'.repeat(100_000)}`;
      const entry = { dtype: 'F32', shape: [0], data_offsets: [0, 0] } as Record<string, unknown>;
      const text = JSON.stringify({ t: { ...entry, [field]: '@' } }).replace('"@"', nested);
      refused(() => new SafetensorsFile(fileWithHeaderText(text)), /tensor "t"/);
    }
  });

  it('config.json: a deeply nested rope_scaling type is refused, not a stack overflow', () => {
    const config = { architectures: ['LlamaForCausalLM'], hidden_size: 64, intermediate_size: 172, num_hidden_layers: 1, num_attention_heads: 8, vocab_size: 32, rope_scaling: { type: deepArray(100_000) } };
    refused(() => parseModelConfig(config), /unsupported rope_scaling type/);
  });

  it('tokenizer.json: a huge token id is refused at once instead of allocating a huge array', () => {
    refused(() => createTokenizer(tinyTokenizer({ c: 1e9 }), {}), /token "c" has id 1000000000/);
    refused(() => createTokenizer(tinyTokenizer({ ab: 2 ** 40 }), {}), /token "ab" has id/);
    refused(() => createTokenizer(tinyTokenizer({ c: deepArray(100_000) }), {}), /token "c" has id an array/);
    refused(() => createTokenizer({ ...tinyTokenizer(), added_tokens: [{ id: -1, content: '<unk>' }] }, {}), /token "<unk>" has id -1/);
  });

  it('tokenizer: library failures in decode and holes in encode become StudioErrors', () => {
    const tok = createTokenizer(tinyTokenizer(), {});
    expect(tok.encode('ab')).toEqual([3]);
    // An unk_token missing from the vocabulary: the library yields an undefined id for unknown text.
    const holes = tinyTokenizer();
    (holes.model as Record<string, unknown>).unk_token = '<nope>';
    refused(() => createTokenizer(holes, {}).encode('azb'), /invalid token id/);
    for (const ids of [[1e6], [-1], [0.5]]) {
      try {
        expect(typeof tok.decode(ids)).toBe('string');
      } catch (e) {
        expect(e).toBeInstanceOf(StudioError);
      }
    }
  });
});

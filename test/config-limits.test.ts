/**
 * config.json sizes have upper bounds and must agree with the tensors: a config claiming
 * 10^9 heads used to load and evaluate (records said 10^9 heads), and a claimed context of
 * 10^7 positions turned a 1 MB model into a 307 MB ONNX export. Real configs still load.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StudioError } from '../src/engine/errors';
import { buildLlamaGraph } from '../src/engine/export/onnx/llama-graph';
import { CONFIG_LIMITS, parseModelConfig } from '../src/engine/model/config';
import { loadModel } from '../src/engine/model/load';
import { runCli } from './support/cli';
import { bundledFiles, memorySource } from './support/memory-source';

const bundledConfig = () => JSON.parse(bundledFiles()['config.json'] as string) as Record<string, unknown>;

/** The bundled model's files with config.json changed. */
function withConfig(changes: Record<string, unknown>) {
  return { ...bundledFiles(), 'config.json': JSON.stringify({ ...bundledConfig(), ...changes }) };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(StudioError);
  return (e as Error).message;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function modelDir(files: Record<string, string | Uint8Array>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'pq-config-'));
  dirs.push(dir);
  for (const [name, data] of Object.entries(files)) writeFileSync(path.join(dir, name), data);
  return dir;
}

describe('config.json bounds', () => {
  const llama = { architectures: ['LlamaForCausalLM'], hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, vocab_size: 128256 };

  it('accepts real configs (Llama 3.1 8B, Qwen2.5 7B, a 1M-context Qwen2.5)', () => {
    expect(parseModelConfig({ ...llama, num_attention_heads: 32, num_key_value_heads: 8, max_position_embeddings: 131072, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }).numHeads).toBe(32);
    const qwen = { architectures: ['Qwen2ForCausalLM'], hidden_size: 3584, intermediate_size: 18944, num_hidden_layers: 28, vocab_size: 152064, num_attention_heads: 28, num_key_value_heads: 4 };
    expect(parseModelConfig({ ...qwen, max_position_embeddings: 32768 }).maxPositionEmbeddings).toBe(32768);
    expect(parseModelConfig({ ...qwen, max_position_embeddings: 1010000 }).maxPositionEmbeddings).toBe(1010000);
  });

  it('refuses head counts, contexts and per-layer sizes beyond the limits, naming the field', () => {
    const c = bundledConfig();
    expect(() => parseModelConfig({ ...c, num_attention_heads: 1e9, num_key_value_heads: 1e9 }, 'm/config.json')).toThrow(`m/config.json: num_attention_heads 1000000000 is beyond ${CONFIG_LIMITS.numHeads}`);
    expect(() => parseModelConfig({ ...c, max_position_embeddings: 1e7 }, 'm/config.json')).toThrow(`m/config.json: max_position_embeddings 10000000 is beyond ${CONFIG_LIMITS.maxPositionEmbeddings}`);
    expect(() => parseModelConfig({ ...c, num_key_value_heads: 16 })).toThrow(/num_key_value_heads 16 is more than num_attention_heads 8/);
    expect(() => parseModelConfig({ ...c, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 2 ** 40 } })).toThrow(/original_max_position_embeddings 1099511627776 is beyond/);
    expect(() => parseModelConfig({ ...c, num_attention_heads_per_layer: [8, 8, 8, 8, 4096], num_key_value_heads_per_layer: [4, 4, 4, 4, 4] })).toThrow(/layer 4: 4096 query heads is beyond 1024/);
    expect(() => parseModelConfig({ ...c, num_attention_heads_per_layer: [8, 8, 8, 8, 2], num_key_value_heads_per_layer: [4, 4, 4, 4, 4] })).toThrow(/layer 4: 4 key\/value heads is more than its 2 query heads/);
  });
});

describe('config.json against the tensors', () => {
  it('refuses head counts and sizes the weight shapes do not have (engine and CLI)', async () => {
    // 16 heads × head_dim 8 would need q_proj rows of 128; the bundled model's have 64.
    const heads = await refusal(loadModel('m', memorySource(withConfig({ num_attention_heads: 16 }))));
    expect(heads).toBe('mem/model.safetensors: tensor "model.layers.0.self_attn.q_proj.weight" has 64 rows = 8 heads × head_dim 8, but config.json says num_attention_heads 16');
    const kv = await refusal(loadModel('m', memorySource(withConfig({ num_key_value_heads: 8 }))));
    expect(kv).toMatch(/k_proj\.weight" has 32 rows = 4 heads × head_dim 8, but config.json says num_key_value_heads 8/);
    const inter = await refusal(loadModel('m', memorySource(withConfig({ intermediate_size: 344 }))));
    expect(inter).toMatch(/gate_proj\.weight" has 172 rows, but config.json says intermediate_size 344/);

    const r = await runCli(['eval', '--model', modelDir(withConfig({ num_attention_heads: 16 })), '--dataset', 'tinystories', '--seqlen', '32', '--windows', '0:1']);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('but config.json says num_attention_heads 16');
  }, 30_000);

  it('refuses an ONNX export whose position tables would dwarf the model (engine and CLI)', async () => {
    // 2^20 positions pass the config's bound, but on a 1 MB model the tables would be 32 MiB.
    const model = await loadModel('m', memorySource(withConfig({ max_position_embeddings: 1 << 20 })));
    const t0 = performance.now();
    expect(() => buildLlamaGraph(model.config, model.weights, { dtype: 'f32' })).toThrow(
      /config\.json: max_position_embeddings 1048576 would make the ONNX export's position tables 32\.0 MiB, more than the model's 1\.0 MiB of weights/,
    );
    expect(performance.now() - t0).toBeLessThan(1000);
    // The real context exports as before.
    const ok = await loadModel('m', memorySource(bundledFiles()));
    expect(() => buildLlamaGraph(ok.config, ok.weights, { dtype: 'f32' })).not.toThrow();

    const dir = modelDir(withConfig({ max_position_embeddings: 1 << 20 }));
    const r = await runCli(['export', '--model', dir, '--format', 'onnx', '--out', path.join(dir, 'out')]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain("would make the ONNX export's position tables 32.0 MiB");
  }, 60_000);
});

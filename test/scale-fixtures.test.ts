/**
 * scripts/make-scale-fixtures.ts: the real models' configs (parameter counts as published),
 * sharding, and shrunken fixtures written to disk, served from disk by the local Hub server
 * and loaded through the engine's Hub loader: config as given, shards and index agreeing,
 * bf16 tensors, a tokenizer of exactly vocab_size entries.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { loadHubModel } from '../src/engine/hub/load-hub';
import { parseHubRepo } from '../src/engine/hub/repo';
import { countParameters, parseModelConfig } from '../src/engine/model/config';
import { LlamaModel } from '../src/engine/model/llama';
import { parseSafetensorsHeader } from '../src/engine/model/safetensors';
import { createTokenizer } from '../src/engine/tokenizer';
import {
  DEFAULT_SHARD_BYTES,
  SCALE_MODEL_IDS,
  SCALE_MODELS,
  main,
  planShards,
  planTensors,
  scaleTokenizer,
  type ScaleModelId,
  type WrittenFixture,
} from '../scripts/make-scale-fixtures';
import { diskRepoFiles, startHubServer, type HubServer } from './support/hub-server';

/** Parameter counts of the published checkpoints. */
const PUBLISHED_PARAMETERS: Record<ScaleModelId, number> = {
  'SmolLM2-135M': 134_515_008,
  'SmolLM2-360M': 361_821_120,
  'Qwen2.5-0.5B': 494_032_768,
  'TinyLlama-1.1B': 1_100_048_384,
  'Llama-3.2-1B': 1_235_814_400,
};

describe('the real configs', () => {
  it('parse, and count the published parameters', () => {
    for (const id of SCALE_MODEL_IDS) {
      const c = parseModelConfig(SCALE_MODELS[id].config, id);
      expect(countParameters(c), id).toBe(PUBLISHED_PARAMETERS[id]);
      const planned = planTensors(SCALE_MODELS[id].config as never).reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
      expect(planned, id).toBe(PUBLISHED_PARAMETERS[id]);
    }
    const llama = parseModelConfig(SCALE_MODELS['Llama-3.2-1B'].config);
    expect(llama.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(llama.ropeTheta).toBe(500000);
    expect(llama.tieWordEmbeddings).toBe(true);
    const qwen = parseModelConfig(SCALE_MODELS['Qwen2.5-0.5B'].config);
    expect(qwen.attentionBias).toBe(true);
    expect(qwen.tieWordEmbeddings).toBe(true);
    expect(parseModelConfig(SCALE_MODELS['TinyLlama-1.1B'].config).tieWordEmbeddings).toBe(false);
  });

  it('shard like the Hub: at most 1 GB each, at least two, every tensor once', () => {
    for (const id of SCALE_MODEL_IDS) {
      const tensors = planTensors(SCALE_MODELS[id].config as never);
      const shards = planShards(tensors);
      expect(shards.length, id).toBeGreaterThanOrEqual(2);
      expect(shards.flat().map((t) => t.name)).toEqual(tensors.map((t) => t.name));
      for (const s of shards) expect(s.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 2), 0)).toBeLessThanOrEqual(DEFAULT_SHARD_BYTES);
    }
    // Llama-3.2-1B: 2.47 GB of bf16 in three shards.
    expect(planShards(planTensors(SCALE_MODELS['Llama-3.2-1B'].config as never)).length).toBe(3);
  });

  it('have tokenizers of exactly vocab_size entries, with the real special tokens at their ids', () => {
    const { tokenizer, config } = scaleTokenizer(128256, SCALE_MODELS['Llama-3.2-1B'].specials);
    const tok = createTokenizer(tokenizer, config);
    expect(tok.vocabSize).toBe(128256);
    expect(tok.piece(128000)).toBe('<|begin_of_text|>');
    expect(tok.piece(128001)).toBe('<|end_of_text|>');
    const ids = tok.encode('Once upon a time there was a little girl.');
    expect(ids.length).toBeGreaterThan(3);
    expect(tok.decode(ids)).toBe('Once upon a time there was a little girl.');
  });
});

describe('fixtures on disk, served by the local Hub server', () => {
  let dir: string;
  let server: HubServer;
  let written: WrittenFixture[];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'scale-fixtures-'));
    // SmolLM2-135M with its real vocabulary (2 layers); Qwen2.5-0.5B with 1 layer and 4096 tokens.
    written = [
      ...main(['--out', dir, '--models', 'SmolLM2-135M', '--layers', '2']),
      ...main(['--out', dir, '--models', 'Qwen2.5-0.5B', '--layers', '1', '--vocab', '4096', '--seed', '3']),
    ];
    server = await startHubServer(Object.fromEntries(written.map((w) => [`scale/${path.basename(w.dir)}`, { files: diskRepoFiles(w.dir) }])));
  });
  afterAll(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('write the real config (but for the shrink options), index and shards agreeing, all bf16', () => {
    for (const w of written) {
      const config = JSON.parse(readFileSync(path.join(w.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
      const real = SCALE_MODELS[w.id].config as Record<string, unknown>;
      const shrunk = w.id === 'SmolLM2-135M' ? { num_hidden_layers: 2 } : { num_hidden_layers: 1, vocab_size: 4096 };
      expect(config).toEqual({ ...real, ...shrunk });
      const index = JSON.parse(readFileSync(path.join(w.dir, 'model.safetensors.index.json'), 'utf8')) as { metadata: { total_size: number }; weight_map: Record<string, string> };
      expect(new Set(Object.values(index.weight_map))).toEqual(new Set(w.shards));
      let data = 0;
      const seen: string[] = [];
      for (const shard of w.shards) {
        const bytes = new Uint8Array(readFileSync(path.join(w.dir, shard)));
        const header = parseSafetensorsHeader(bytes, bytes.byteLength, shard);
        for (const [name, e] of header.tensors) {
          expect(index.weight_map[name]).toBe(shard);
          expect(e.dtype).toBe('BF16');
          seen.push(name);
        }
        expect(statSync(path.join(w.dir, shard)).size).toBe(bytes.byteLength);
        data += bytes.byteLength - header.dataStart;
      }
      expect(seen.sort()).toEqual(Object.keys(index.weight_map).sort());
      expect(index.metadata.total_size).toBe(data);
      expect(data).toBe(w.totalBytes);
    }
  });

  it('load through the Hub loader, streamed with progress, with a tokenizer of vocab_size entries', async () => {
    for (const w of written) {
      const progress: number[] = [];
      const { model, preview } = await loadHubModel({
        endpoint: { baseUrl: server.url },
        repo: parseHubRepo(`scale/${path.basename(w.dir)}`),
        onProgress: (p) => progress.push(p.loaded),
      });
      expect(preview.dtypes).toEqual(['BF16']);
      expect(preview.sharded).toBe(true);
      expect(model.config).toEqual(parseModelConfig(w.config));
      expect(model.tokenizer.vocabSize).toBe(w.config.vocab_size);
      expect(model.parameters).toBe(countParameters(model.config));
      expect(progress.length).toBeGreaterThan(w.shards.length);
      expect(progress.at(-1)).toBe(model.weightBytes);
      const l0 = model.weights.layers[0]!;
      expect(l0.inputNorm.data.every((x) => x === 1)).toBe(true);
      if (w.id === 'Qwen2.5-0.5B') {
        expect(l0.qBias?.shape).toEqual([896]);
        expect(l0.kBias?.shape).toEqual([128]);
        expect(l0.vBias?.shape).toEqual([128]);
        // Weights are uniform with the initializer's std (0.02), stored as bf16.
        const q = l0.q.data as Float32Array;
        const std = Math.sqrt(q.reduce((a, x) => a + x * x, 0) / q.length);
        expect(std).toBeGreaterThan(0.019);
        expect(std).toBeLessThan(0.021);
        const b = new CpuBackend();
        const lm = new LlamaModel(model.config, b, model.weights);
        const logits = await b.read(lm.forward(new Int32Array(model.tokenizer.encode('Once upon a time'))));
        lm.dispose();
        expect(logits.every(Number.isFinite)).toBe(true);
      } else {
        expect(model.weights.lmHead).toBe(model.weights.embed);
      }
    }
    expect(server.log.filter((r) => r.url.endsWith('.safetensors') && r.range === null).length).toBe(written.reduce((a, w) => a + w.shards.length, 0));
  });
});

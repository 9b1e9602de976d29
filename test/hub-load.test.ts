/**
 * Hub models from a local server in the Hub's URL layout: preview from headers alone,
 * streamed loads of every supported architecture/dtype/layout, identical logits across
 * dtypes and shards, revisions, caching (a second load works with the server gone).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { memoryCache } from '../src/engine/hub/cache';
import { hubSource } from '../src/engine/hub/hub-source';
import { hubPreview } from '../src/engine/hub/preview';
import { parseHubRepo } from '../src/engine/hub/repo';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel } from '../src/engine/model/load';
import type { HostTensor, ModelWeights } from '../src/engine/model/weights';
import type { ModelConfig } from '../src/engine/model/config';
import { fixtureModel, standardRepos } from './support/hub-fixtures';
import { startHubServer, type HubServer } from './support/hub-server';

let server: HubServer;
beforeAll(async () => {
  server = await startHubServer(standardRepos());
});
afterAll(async () => {
  await server?.close();
});

const IDS = new Int32Array([1, 45, 300, 7, 99, 12, 511, 3]);

async function logits(config: ModelConfig, weights: ModelWeights<HostTensor>): Promise<Float32Array> {
  const b = new CpuBackend();
  const lm = new LlamaModel(config, b, weights);
  const out = await b.read(lm.forward(IDS));
  lm.dispose();
  return out;
}

function source(id: string, opts: { token?: string; revision?: string; cache?: ReturnType<typeof memoryCache> } = {}) {
  return hubSource({ endpoint: { baseUrl: server.url, token: opts.token }, repo: parseHubRepo(id, opts.revision), cache: opts.cache ?? null });
}

describe('Hub preview', () => {
  it('reads config and safetensors headers with Range requests only', async () => {
    const p = await hubPreview(source('studio-test/stories260K'));
    expect(p.parameters).toBe(260032);
    expect(p.dtypes).toEqual(['F32']);
    expect(p.sharded).toBe(false);
    expect(p.files).toHaveLength(1);
    expect(p.totalBytes).toBe(p.files[0]!.bytes);
    expect(p.downloadBytes).toBe(p.totalBytes);
    expect(p.largestTensor).toEqual({ name: 'model.embed_tokens.weight', elements: 512 * 64 });
    const weightReqs = server.requestsFor('studio-test/stories260K', { weightsOnly: true });
    expect(weightReqs.length).toBe(2);
    // Only the 8-byte length and the header: never the data section.
    for (const r of weightReqs) expect(r.range).toMatch(/^bytes=0-\d+$/);
    const headerEnd = Math.max(...weightReqs.map((r) => Number(r.range!.split('-')[1])));
    expect(headerEnd + 1).toBeLessThan(p.totalBytes / 10);
  });

  it('counts parameters and sizes of sharded, untied and biased models', async () => {
    const sharded = await hubPreview(source('studio-test/tiny-llama-sharded'));
    expect(sharded.sharded).toBe(true);
    expect(sharded.files.map((f) => f.name)).toEqual([1, 2, 3].map((i) => `model-0000${i}-of-00003.safetensors`));
    expect(sharded.dtypes).toEqual(['BF16']);
    const base = fixtureModel();
    const H = 32;
    const perLayer = 2 * H + 4 * 8 * H * 2 + 2 * 8 * H * 2 + 3 * H * 48;
    expect(sharded.parameters).toBe(512 * H + H + 2 * perLayer);
    expect(base.parsed.tieWordEmbeddings).toBe(true);
    const untied = await hubPreview(source('studio-test/tiny-llama-untied'));
    expect(untied.parameters).toBe(sharded.parameters + 512 * H);
    const qwen = await hubPreview(source('studio-test/tiny-qwen2'));
    expect(qwen.config.attentionBias).toBe(true);
    expect(qwen.parameters).toBe(sharded.parameters + 2 * (32 + 16 + 16));
  });
});

describe('Hub loading', () => {
  it('loads f32, f16, bf16 (through a redirect) and sharded copies with identical logits', async () => {
    const base = fixtureModel();
    const want = await logits(base.parsed, base.weights);
    for (const id of ['tiny-llama-f32', 'tiny-llama-f16', 'tiny-llama-bf16', 'tiny-llama-sharded']) {
      const m = await loadModel(`studio-test/${id}`, source(`studio-test/${id}`));
      expect(m.parameters, id).toBe(fixtureModel().weights.embed.data.length + 32 + 2 * (2 * 32 + 4 * 8 * 32 * 2 + 2 * 8 * 32 * 2 + 3 * 32 * 48));
      const got = await logits(m.config, m.weights);
      expect(got, id).toEqual(want);
    }
    expect(server.log.some((r) => r.server === 'cdn' && r.url.includes('tiny-llama-bf16'))).toBe(true);
  });

  it('loads untied-head, Qwen2 (q/k/v bias), llama3 rope scaling and Mistral fixtures as built', async () => {
    const cases: [string, Record<string, unknown>, number][] = [
      ['tiny-llama-untied', { tie_word_embeddings: false }, 11],
      ['tiny-qwen2', { architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', rope_theta: 1000000, rms_norm_eps: 1e-6 }, 13],
      ['tiny-llama3-rope', { rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } }, 17],
      ['tiny-mistral', { architectures: ['MistralForCausalLM'], model_type: 'mistral' }, 19],
    ];
    for (const [id, overrides, seed] of cases) {
      const f = fixtureModel(overrides, seed);
      const m = await loadModel(id, source(`studio-test/${id}`));
      expect(m.config.architecture, id).toBe(f.parsed.architecture);
      expect(m.config.ropeScaling, id).toEqual(f.parsed.ropeScaling);
      expect(m.weights.lmHead === m.weights.embed, id).toBe(f.parsed.tieWordEmbeddings);
      expect(m.weights.layers[0]!.qBias !== null, id).toBe(f.parsed.attentionBias);
      expect(await logits(m.config, m.weights), id).toEqual(await logits(f.parsed, f.weights));
    }
  });

  it('llama3 rope scaling changes the logits (the scaling is applied, not ignored)', async () => {
    const scaled = fixtureModel({ rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } }, 17);
    const plain = fixtureModel({ rope_theta: 500000 }, 17);
    expect(await logits(scaled.parsed, scaled.weights)).not.toEqual(await logits(plain.parsed, plain.weights));
  });

  it('reports overall byte progress of a sharded download', async () => {
    const src = source('studio-test/tiny-llama-sharded');
    const preview = await hubPreview(src);
    const seen: { loaded: number; total: number | null }[] = [];
    await loadModel('x', src, { weightFileSizes: Object.fromEntries(preview.files.map((f) => [f.name, f.bytes])), onProgress: (p) => seen.push(p) });
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.every((p) => p.total === preview.totalBytes)).toBe(true);
    expect(seen.at(-1)!.loaded).toBe(preview.totalBytes);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.loaded).toBeGreaterThanOrEqual(seen[i - 1]!.loaded);
  });

  it('serves a named revision and refuses an unknown one', async () => {
    const m = await loadModel('studio-test/stories260K', source('studio-test/stories260K', { revision: 'v1' }));
    expect(m.parameters).toBe(260032);
    expect(server.log.some((r) => r.url.startsWith('/studio-test/stories260K/resolve/v1/'))).toBe(true);
    await expect(hubPreview(source('studio-test/stories260K', { revision: 'nope' }))).rejects.toThrow(/stories260K@nope\/config\.json: not found \(HTTP 404\)/);
  });

  it('caches every file, so a second load and preview work with the server unreachable', async () => {
    const cache = memoryCache();
    const online = source('studio-test/tiny-llama-f16', { cache });
    const first = await loadModel('a', online);
    expect(await online.settle()).toEqual([]);
    const keys = [...cache.files.keys()].map((k) => k.split('/').pop());
    expect(keys).toEqual(expect.arrayContaining(['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors']));
    const offline = hubSource({ endpoint: { baseUrl: server.url, fetchFn: async () => Promise.reject(new Error('offline')) }, repo: parseHubRepo('studio-test/tiny-llama-f16'), cache });
    const p = await hubPreview(offline);
    expect(p.downloadBytes).toBe(0);
    expect(p.files[0]!.cached).toBe(true);
    const second = await loadModel('a', offline);
    expect(await logits(second.config, second.weights)).toEqual(await logits(first.config, first.weights));
  });
});

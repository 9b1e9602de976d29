/**
 * Malformed, oversized, gated and unsupported Hub repositories: each gives a clear
 * StudioError, unsupported ones before any weight byte is requested, and the token goes
 * only to the Hub host, never into messages or to the CDN host a redirect points at.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StudioError } from '../src/engine/errors';
import { memoryCache, quotaError, type HubCache } from '../src/engine/hub/cache';
import { hubSource } from '../src/engine/hub/hub-source';
import { checkMemory, estimateMemory } from '../src/engine/hub/memory';
import { hubPreview } from '../src/engine/hub/preview';
import { hubFileUrl, parseHubBaseUrl, parseHubRepo } from '../src/engine/hub/repo';
import { loadModel } from '../src/engine/model/load';
import { fixtureFiles, fixtureModel, GATED_TOKEN, oversizedRepo, standardRepos, TINY_CONFIG } from './support/hub-fixtures';
import { startHubServer, type HubServer } from './support/hub-server';

function withFile(files: Record<string, Uint8Array | string>, name: string, data: Uint8Array | string | null): Record<string, Uint8Array | string> {
  const out = { ...files };
  if (data === null) delete out[name];
  else out[name] = data;
  return out;
}

let server: HubServer;
beforeAll(async () => {
  const base = fixtureFiles(fixtureModel(), { dtype: 'F16' });
  const sharded = fixtureFiles(fixtureModel(), { dtype: 'F16', shards: 2 });
  const st = base['model.safetensors'] as Uint8Array;
  const badHeader = st.slice();
  new DataView(badHeader.buffer).setBigUint64(0, BigInt(st.byteLength * 4), true);
  const index = JSON.parse(sharded['model.safetensors.index.json'] as string) as { weight_map: Record<string, string> };
  const firstShard = Object.values(index.weight_map)[0]!;
  const movedIndex = { weight_map: { ...index.weight_map, 'model.norm.weight': firstShard } };
  server = await startHubServer({
    ...standardRepos(),
    'bad/unsupported-arch': { files: withFile(base, 'config.json', JSON.stringify({ ...TINY_CONFIG, architectures: ['GPT2LMHeadModel'] })) },
    'bad/rope-yarn': { files: withFile(base, 'config.json', JSON.stringify({ ...TINY_CONFIG, rope_scaling: { rope_type: 'yarn', factor: 4 } })) },
    'bad/index-json': { files: withFile(base, 'model.safetensors.index.json', '{"weight_map": ') },
    'bad/index-traversal': { files: withFile(base, 'model.safetensors.index.json', JSON.stringify({ weight_map: { 'model.norm.weight': '../other/model.safetensors' } })) },
    'bad/index-wrong-shard': { files: withFile(sharded, 'model.safetensors.index.json', JSON.stringify(movedIndex)) },
    'bad/header-length': { files: withFile(base, 'model.safetensors', badHeader) },
    'bad/missing-shard': { files: withFile(sharded, Object.keys(sharded).find((f) => f.startsWith('model-00002'))!, null) },
    'bad/missing-tensor': { files: withFile(base, 'config.json', JSON.stringify({ ...TINY_CONFIG, tie_word_embeddings: false })) },
    'bad/short-content-length': { files: base, lieContentLength: { 'model.safetensors': st.byteLength - 100 } },
    'bad/long-content-length': { files: base, lieContentLength: { 'model.safetensors': st.byteLength + 100 } },
    'bad/cut-transfer': { files: base, cutAfter: { 'model.safetensors': st.byteLength - 1000 } },
    'ok/no-ranges': { files: base, noRanges: true },
    'big/oversized': oversizedRepo(),
  });
});
afterAll(async () => {
  await server?.close();
});

const src = (id: string, token?: string, cache?: ReturnType<typeof memoryCache>) =>
  hubSource({ endpoint: { baseUrl: server.url, token }, repo: parseHubRepo(id), cache: cache ?? null });

async function failure(p: Promise<unknown>): Promise<StudioError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(StudioError);
    return e as StudioError;
  }
  throw new Error('expected a StudioError');
}

describe('Hub ids and URLs', () => {
  it('builds resolve URLs and refuses ids, revisions and files that would leave the repository', () => {
    expect(hubFileUrl('https://huggingface.co', parseHubRepo('HuggingFaceTB/SmolLM2-135M'), 'config.json')).toBe('https://huggingface.co/HuggingFaceTB/SmolLM2-135M/resolve/main/config.json');
    expect(hubFileUrl('http://h:1/mirror', parseHubRepo('a/b', 'refs/pr/1'), 'x.json')).toBe('http://h:1/mirror/a/b/resolve/refs%2Fpr%2F1/x.json');
    for (const id of ['../etc', 'a/b/c', 'single', 'a/..', '/a/b', 'a b/c']) expect(() => parseHubRepo(id), id).toThrow(/not a Hub model id/);
    for (const rev of ['..', 'a/../b', 'x?y', 'a b']) expect(() => parseHubRepo('a/b', rev), rev).toThrow(/not a valid revision/);
    expect(() => hubFileUrl('https://huggingface.co', parseHubRepo('a/b'), '../../c')).toThrow(/not a valid file name/);
    expect(() => parseHubBaseUrl('https://user:pw@huggingface.co')).toThrow(/user name or password/);
    expect(() => parseHubBaseUrl('ftp://x')).toThrow(/http or https/);
  });
});

describe('refused before any weight byte', () => {
  it('an unsupported architecture, from config.json alone', async () => {
    const e = await failure(hubPreview(src('bad/unsupported-arch')));
    expect(e.message).toMatch(/unsupported architecture "GPT2LMHeadModel"/);
    expect(server.requestsFor('bad/unsupported-arch', { weightsOnly: true })).toHaveLength(0);
    await failure(loadModel('x', src('bad/unsupported-arch')));
    expect(server.requestsFor('bad/unsupported-arch', { weightsOnly: true })).toHaveLength(0);
  });

  it('an unsupported rope scaling type', async () => {
    const e = await failure(hubPreview(src('bad/rope-yarn')));
    expect(e.message).toMatch(/unsupported rope_scaling type "yarn"/);
    expect(server.requestsFor('bad/rope-yarn', { weightsOnly: true })).toHaveLength(0);
  });

  it('a missing tensor is found from the header (Range requests only)', async () => {
    const e = await failure(hubPreview(src('bad/missing-tensor')));
    expect(e.message).toMatch(/missing tensor "lm_head.weight"/);
    for (const r of server.requestsFor('bad/missing-tensor', { weightsOnly: true })) expect(r.range).not.toBeNull();
  });
});

describe('malformed and oversized repositories', () => {
  it('a shard index that is not JSON', async () => {
    expect((await failure(hubPreview(src('bad/index-json')))).message).toMatch(/bad\/index-json\/model\.safetensors\.index\.json: not valid JSON/);
  });

  it('a shard index pointing outside the folder', async () => {
    expect((await failure(hubPreview(src('bad/index-traversal')))).message).toMatch(/"\.\.\/other\/model\.safetensors", which is not a \.safetensors file name/);
    expect(server.log.some((r) => r.url.includes('other'))).toBe(false);
  });

  it('a shard index that disagrees with its shards', async () => {
    expect((await failure(hubPreview(src('bad/index-wrong-shard')))).message).toMatch(/tensor "model\.norm\.weight" should be in model-00001-of-00002\.safetensors/);
  });

  it('a header length beyond the file', async () => {
    expect((await failure(hubPreview(src('bad/header-length')))).message).toMatch(/model\.safetensors: header length \d+ goes beyond the end of the file/);
  });

  it('a missing shard', async () => {
    const e = await failure(hubPreview(src('bad/missing-shard')));
    expect(e.code).toBe('not-found');
    expect(e.message).toMatch(/bad\/missing-shard\/model-00002-of-00002\.safetensors: not found \(HTTP 404\)/);
  });

  it('a Content-Length shorter than the file', async () => {
    const s = src('bad/short-content-length');
    await hubPreview(s);
    expect((await failure(loadModel('x', s))).message).toMatch(/Content-Length says \d+ bytes, but the file is \d+ bytes/);
  });

  it('a Content-Length longer than the file', async () => {
    const s = src('bad/long-content-length');
    await hubPreview(s);
    expect((await failure(loadModel('x', s))).message).toMatch(/Content-Length says \d+ bytes, but the file is \d+ bytes/);
  });

  it('a transfer cut short: an error, and nothing cached', async () => {
    const cache = memoryCache();
    const s = src('bad/cut-transfer', undefined, cache);
    const e = await failure(loadModel('x', s));
    expect(e.message).toMatch(/bad\/cut-transfer\/model\.safetensors: (the transfer broke off|file is truncated|the transfer ended)/);
    await s.settle();
    expect([...cache.files.keys()].some((k) => k.endsWith('model.safetensors'))).toBe(false);
  });

  it('a server that ignores Range still previews from the first bytes', async () => {
    const p = await hubPreview(src('ok/no-ranges'));
    expect(p.dtypes).toEqual(['F16']);
  });

  it('an oversized model: previewed from the headers of a 6 GB file, refused against a GPU buffer limit', async () => {
    const p = await hubPreview(src('big/oversized'));
    expect(p.totalBytes).toBeGreaterThan(6e9);
    expect(p.largestTensor.name).toBe('model.embed_tokens.weight');
    const transferred = server.requestsFor('big/oversized', { weightsOnly: true }).map((r) => Number(r.range!.split('-')[1]) + 1);
    expect(Math.max(...transferred)).toBeLessThan(4096);
    const est = estimateMemory(p.config, p.parameters, p.largestTensor.elements, 512);
    expect(est.weights).toBe(p.parameters * 4);
    const gpu = checkMemory(est, { backend: 'webgpu', maxBufferSize: 2 ** 32, maxStorageBufferBindingSize: 2 ** 31, deviceMemoryBytes: 8 * 2 ** 30 });
    expect(gpu.verdict).toBe('refuse');
    expect(gpu.messages[0]).toMatch(/largest weight tensor needs 8\.00 GiB as float32, more than this GPU's largest buffer \(maxBufferSize 4\.00 GiB\)/);
    const cpu = checkMemory(est, { backend: 'cpu', deviceMemoryBytes: 8 * 2 ** 30 });
    expect(cpu.verdict).toBe('warn');
    const small = checkMemory(estimateMemory(fixtureModel().parsed, 30000, 16384, 256), { backend: 'webgpu', maxBufferSize: 2 ** 28, deviceMemoryBytes: 8 * 2 ** 30 });
    expect(small.verdict).toBe('ok');
  });
});

describe('gated repositories and the token', () => {
  it('without a token: a 401 that says a token is needed', async () => {
    const e = await failure(hubPreview(src('studio-test/gated')));
    expect(e.message).toMatch(/studio-test\/gated\/config\.json: access denied \(HTTP 401\); the repository is gated or private: give a Hub access token/);
  });

  it('with a wrong token: says the token has no access, and never shows it', async () => {
    const e = await failure(hubPreview(src('studio-test/gated', 'hf_wrong_secret')));
    expect(e.message).toMatch(/the token given has no access/);
    expect(e.message).not.toContain('hf_wrong_secret');
  });

  it('a token with a line break is refused without being quoted', async () => {
    const e = await failure(hubPreview(src('studio-test/gated', `${GATED_TOKEN}\n`)));
    expect(e.message).toMatch(/the Hub token contains spaces, line breaks/);
    expect(e.message).not.toContain(GATED_TOKEN);
  });

  it('with the token: sent to the Hub host only, not to the CDN host the weights redirect to', async () => {
    const before = server.log.length;
    const m = await loadModel('studio-test/gated', src('studio-test/gated', GATED_TOKEN));
    expect(m.parameters).toBeGreaterThan(0);
    const reqs = server.log.slice(before);
    const hub = reqs.filter((r) => r.server === 'hub');
    const cdn = reqs.filter((r) => r.server === 'cdn');
    expect(hub.length).toBeGreaterThan(0);
    expect(cdn.length).toBeGreaterThan(0);
    expect(hub.every((r) => r.authorization === `Bearer ${GATED_TOKEN}`)).toBe(true);
    expect(cdn.every((r) => r.authorization === null)).toBe(true);
    expect(reqs.every((r) => !r.url.includes(GATED_TOKEN))).toBe(true);
  });
});

describe('cancel', () => {
  it('stops a download and caches nothing of the weights', async () => {
    const cache = memoryCache();
    const ctl = new AbortController();
    const s = src('studio-test/stories260K', undefined, cache);
    const p = loadModel('x', s, { signal: ctl.signal, onProgress: (pr) => pr.loaded > 0 && ctl.abort() });
    const e = await failure(p);
    expect(e.code).toBe('cancelled');
    await s.settle();
    expect([...cache.files.keys()].some((k) => k.endsWith('.safetensors'))).toBe(false);
  });
});

describe('storage quota', () => {
  it('a full cache: the model still loads, with a warning that says how to make room', async () => {
    const inner = memoryCache();
    // As the Cache API adapter reports a QuotaExceededError for the weights.
    const full: HubCache = {
      ...inner,
      put: async (key, stream, size) => {
        if (!key.endsWith('.safetensors')) return inner.put(key, stream, size);
        await stream.cancel();
        throw quotaError('model.safetensors', 'browser storage quota exceeded');
      },
    };
    const s = src('studio-test/tiny-llama-f16', undefined, full as ReturnType<typeof memoryCache>);
    const m = await loadModel('x', s);
    expect(m.parameters).toBeGreaterThan(0);
    const warnings = await s.settle();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/model\.safetensors: not enough storage to cache it \(browser storage quota exceeded\)\. The model still works for this session; clear the Hub cache/);
  });
});

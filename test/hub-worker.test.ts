/**
 * The worker API's Hub calls from Node: preview with memory numbers, load recorded as
 * source "hub" with its revision, records and summaries free of the token, the cache
 * emptied by clearHubCache, and a model refused (before any weight data) when a tensor
 * exceeds the GPU's largest buffer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebGpuBackend } from '../src/engine/backend/webgpu';
import { memoryCache } from '../src/engine/hub/cache';
import { parseExperimentRecord } from '../src/engine/record';
import { createEngineApi } from '../src/worker/engine-api';
import { loadHubJob } from '../src/worker/hub-jobs';
import type { JobEvent } from '../src/worker/protocol';
import { GATED_TOKEN, standardRepos } from './support/hub-fixtures';
import { startHubServer, type HubServer } from './support/hub-server';

let server: HubServer;
beforeAll(async () => {
  server = await startHubServer(standardRepos());
});
afterAll(async () => {
  await server?.close();
});

describe('worker API: Hub models', () => {
  it('previews, loads, evaluates and clears the cache, never echoing the token', async () => {
    const cache = memoryCache();
    const api = createEngineApi(() => null, { hubCache: cache });
    const hub = { baseUrl: server.url, id: 'studio-test/gated', revision: 'main', token: GATED_TOKEN };
    const reply = await api.hubPreview({ ...hub, jobId: 'p1', backend: 'cpu', seqlen: 64 });
    expect(reply.preview.dtypes).toEqual(['BF16']);
    expect(reply.memory.weights).toBe(reply.preview.parameters * 4);
    expect(reply.limits.backend).toBe('cpu');
    expect(reply.check.verdict).toBe('ok');
    expect(reply.cacheUsage.cache).toBe('memory');

    const events: JobEvent[] = [];
    const summary = await api.loadModel({ jobId: 'l1', id: hub.id, url: '', source: 'hub', backend: 'cpu', hub }, (e) => events.push(e));
    expect(summary.ref).toMatchObject({ id: 'studio-test/gated', source: 'hub', revision: 'main' });
    expect(summary.warnings).toBeUndefined();
    const last = events.filter((e) => e.unit === 'bytes').at(-1)!;
    expect(last.total).toBe(reply.preview.totalBytes);
    expect(last.done).toBe(reply.preview.totalBytes);

    const record = await api.evaluate({ jobId: 'e1', dataset: { kind: 'text', name: 't', text: 'Once upon a time there was a cat. '.repeat(8), source: 'paste' }, datasetsUrl: server.url, seqlen: 32, windows: '0:1', backend: 'cpu' }, () => {});
    const json = JSON.stringify(parseExperimentRecord(record));
    expect(json).toContain('"source":"hub"');
    expect(json).not.toContain(GATED_TOKEN);
    expect(JSON.stringify(summary)).not.toContain(GATED_TOKEN);
    expect(JSON.stringify(reply)).not.toContain(GATED_TOKEN);

    expect(cache.files.size).toBeGreaterThan(0);
    const usage = await api.clearHubCache();
    expect(cache.files.size).toBe(0);
    expect(usage.used).toBe(0);
  });

  it('a failed Hub load keeps the earlier model', async () => {
    const api = createEngineApi(() => null, { hubCache: null });
    await api.loadModel({ jobId: 'a', id: 'x', url: '', source: 'hub', backend: 'cpu', hub: { baseUrl: server.url, id: 'studio-test/tiny-llama-f16' } }, () => {});
    await expect(api.loadModel({ jobId: 'b', id: 'y', url: '', source: 'hub', backend: 'cpu', hub: { baseUrl: server.url, id: 'studio-test/gated' } }, () => {})).rejects.toThrow(/access denied \(HTTP 401\)/);
    const r = await api.evaluate({ jobId: 'c', dataset: { kind: 'text', name: 't', text: 'a b c d e f g h i j k l m n o p q r s t u v w x y z '.repeat(4), source: 'paste' }, datasetsUrl: server.url, seqlen: 16, windows: '0:1', backend: 'cpu' }, () => {});
    expect(r.model.id).toBe('studio-test/tiny-llama-f16');
  });

  it('refuses a model whose largest tensor exceeds the GPU buffer limit, before the weights', async () => {
    // A WebGPU backend as far as the check can tell: its limits are all it reads.
    const gpu = Object.create(WebGpuBackend.prototype) as WebGpuBackend;
    Object.defineProperty(gpu, 'runtime', { value: { limits: { maxBufferSize: 64 * 1024, maxStorageBufferBindingSize: 64 * 1024 } } });
    Object.defineProperty(gpu, 'info', { value: { name: 'webgpu', device: 'test adapter' } });
    const before = server.requestsFor('studio-test/stories260K', { weightsOnly: true }).length;
    await expect(loadHubJob({ baseUrl: server.url, id: 'studio-test/stories260K' }, gpu, null, new AbortController().signal, () => {})).rejects.toThrow(
      /studio-test\/stories260K does not fit: The largest weight tensor needs 128\.0 KiB|does not fit: The largest weight tensor needs 0\.1 MiB/,
    );
    const after = server.requestsFor('studio-test/stories260K', { weightsOnly: true }).slice(before);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((r) => r.range !== null)).toBe(true);
  });
});

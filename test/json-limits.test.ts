/**
 * The small files of a model folder (config.json, the shard index, the tokenizer files)
 * have size caps, checked before they are read: from Content-Length (Hub, page origin),
 * File.size (files chosen in the page) and the file system (CLI), and while streaming when
 * no size is announced. A Hub preview fetches nothing unbounded before the user agrees to
 * download.
 */
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dirSource } from '../src/cli/fs-source';
import { StudioError } from '../src/engine/errors';
import { hubSource } from '../src/engine/hub/hub-source';
import { hubPreview } from '../src/engine/hub/preview';
import { parseHubRepo } from '../src/engine/hub/repo';
import { FILE_LIMITS, fileLimit, readJsonCapped } from '../src/engine/json-limits';
import { blobSource } from '../src/engine/model/blob-source';
import { loadModel } from '../src/engine/model/load';
import { urlSource } from '../src/engine/model/source';
import { runCli } from './support/cli';
import { fixtureFiles, fixtureModel } from './support/hub-fixtures';
import { startHubServer, type HubServer } from './support/hub-server';
import { bundledFiles, memorySource } from './support/memory-source';

const GB = 2 ** 30;

async function failure(p: Promise<unknown>): Promise<StudioError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(StudioError);
  return e as StudioError;
}

/** A Blob that reports `size` and fails the test if anything reads it. */
function unreadableBlob(size: number): Blob {
  const read = () => {
    throw new Error('the file was read');
  };
  return { size, type: '', arrayBuffer: read, stream: read, text: read, slice: read } as unknown as Blob;
}

/** A fetch answering every request with a body of endless 64 KiB chunks (optionally with a Content-Length). */
function endlessFetch(contentLength: number | null): { fetchFn: typeof fetch; pulled: () => number; cancelled: () => boolean } {
  let pulled = 0;
  let cancelled = false;
  const fetchFn = (async () => {
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        pulled += 65536;
        c.enqueue(new Uint8Array(65536).fill(0x20));
      },
      cancel() {
        cancelled = true;
      },
    });
    return new Response(body, { status: 200, headers: contentLength === null ? {} : { 'content-length': String(contentLength) } });
  }) as typeof fetch;
  return { fetchFn, pulled: () => pulled, cancelled: () => cancelled };
}

let server: HubServer;
const dirs: string[] = [];
beforeAll(async () => {
  const base = fixtureFiles(fixtureModel(), { dtype: 'F16' });
  const zeros = (size: number) => ({ prefix: new Uint8Array(0), size });
  server = await startHubServer({
    'huge/config': { files: { ...base, 'config.json': zeros(2 * GB) } },
    'huge/index': { files: { ...base, 'model.safetensors.index.json': zeros(FILE_LIMITS['model.safetensors.index.json']! + 1) } },
    'huge/tokenizer': { files: { ...base, 'tokenizer.json': zeros(FILE_LIMITS['tokenizer.json']! + 1) } },
  });
});
afterAll(async () => {
  await server?.close();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

const hub = (id: string) => hubSource({ endpoint: { baseUrl: server.url }, repo: parseHubRepo(id), cache: null });

describe('size caps of the small files', () => {
  it('caps by file name, generous for real files', () => {
    expect(fileLimit('config.json')).toBe(4 * 2 ** 20);
    expect(fileLimit('a/b/tokenizer.json')).toBe(64 * 2 ** 20);
    expect(fileLimit('other.json')).toBe(16 * 2 ** 20);
  });

  it('files chosen in the page: refused from File.size, unread', async () => {
    const src = blobSource('MyModel', new Map([['config.json', unreadableBlob(3 * GB)]]));
    const e = await failure(readJsonCapped(src, 'config.json'));
    expect(e.message).toBe('MyModel/config.json: 3072.0 MiB, over the 4.0 MiB limit for config.json; the studio does not read it');
  });

  it('the page origin: refused from Content-Length, and while streaming when there is none', async () => {
    const announced = endlessFetch(GB);
    const e1 = await failure(readJsonCapped(urlSource('http://x/models/m/', announced.fetchFn), 'tokenizer.json'));
    expect(e1.message).toMatch(/^http:\/\/x\/models\/m\/tokenizer\.json: 1024\.0 MiB, over the 64\.0 MiB limit for tokenizer\.json/);
    expect(announced.pulled()).toBeLessThanOrEqual(2 * 65536);
    const chunked = endlessFetch(null);
    const e2 = await failure(readJsonCapped(urlSource('http://x/models/m/', chunked.fetchFn), 'config.json'));
    expect(e2.message).toMatch(/config\.json: more than 4\.\d MiB, over the 4\.0 MiB limit for config\.json/);
    expect(chunked.cancelled()).toBe(true);
    expect(chunked.pulled()).toBeLessThan(5 * 2 ** 20);
  });

  it('sources that cannot tell the size are checked after reading', async () => {
    const src = memorySource({ 'tokenizer_config.json': new Uint8Array(FILE_LIMITS['tokenizer_config.json']! + 1) });
    expect((await failure(readJsonCapped(src, 'tokenizer_config.json'))).message).toMatch(/mem\/tokenizer_config\.json: 16\.0 MiB, over the 16\.0 MiB limit/);
  });

  it('the Hub: a 2 GB config.json and an oversized shard index stop the preview at once; nothing is downloaded', async () => {
    const t0 = performance.now();
    const e = await failure(hubPreview(hub('huge/config')));
    expect(e.message).toMatch(/^huge\/config\/config\.json: 2048\.0 MiB, over the 4\.0 MiB limit for config\.json/);
    const idx = await failure(hubPreview(hub('huge/index')));
    expect(idx.message).toMatch(/huge\/index\/model\.safetensors\.index\.json: 32\.0 MiB, over the 32\.0 MiB limit/);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(server.requestsFor('huge/config', { weightsOnly: true })).toHaveLength(0);
    expect(server.requestsFor('huge/index', { weightsOnly: true })).toHaveLength(0);
  });

  it('the Hub: an oversized tokenizer.json is refused before any weight byte', async () => {
    const e = await failure(loadModel('huge/tokenizer', hub('huge/tokenizer')));
    expect(e.message).toMatch(/huge\/tokenizer\/tokenizer\.json: 64\.0 MiB, over the 64\.0 MiB limit for tokenizer\.json/);
    expect(server.requestsFor('huge/tokenizer', { weightsOnly: true })).toHaveLength(0);
  });

  it('the CLI: a sparse 1 GB config.json is refused from its size on disk', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pq-json-'));
    dirs.push(dir);
    for (const [name, data] of Object.entries(bundledFiles())) writeFileSync(path.join(dir, name), data);
    truncateSync(path.join(dir, 'config.json'), GB);
    const direct = await failure(readJsonCapped(dirSource(dir), 'config.json'));
    expect(direct.message).toBe(`${path.join(dir, 'config.json')}: 1024.0 MiB, over the 4.0 MiB limit for config.json; the studio does not read it`);
    const t0 = performance.now();
    const r = await runCli(['eval', '--model', dir, '--dataset', 'tinystories', '--seqlen', '32', '--windows', '0:1']);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('config.json: 1024.0 MiB, over the 4.0 MiB limit for config.json');
    expect(performance.now() - t0).toBeLessThan(5000);
  }, 30_000);
});

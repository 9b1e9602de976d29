/**
 * safetensors headers in linear time and bounded size: a valid 40 MB header is read from
 * a stream (and from the Hub cache) in one allocation, not re-copied per chunk; a header
 * of 150,000 zero-size tensors is refused with a message instead of overflowing the stack
 * (`Math.max(...ends)`), in the engine and through the CLI.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StudioError } from '../src/engine/errors';
import { memoryCache } from '../src/engine/hub/cache';
import { hubSource } from '../src/engine/hub/hub-source';
import { hubFileUrl, parseHubRepo } from '../src/engine/hub/repo';
import { loadModel } from '../src/engine/model/load';
import { MAX_TENSORS, parseSafetensorsHeader } from '../src/engine/model/safetensors';
import { readSafetensorsStream } from '../src/engine/model/safetensors-stream';
import type { FileSource } from '../src/engine/model/source';
import { runCli } from './support/cli';
import { bundledFiles } from './support/memory-source';

/** A safetensors file from a header object and a data section of `dataBytes` zeros. */
function fileOf(header: Record<string, unknown>, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

/** A valid file whose header is ~`mb` MB (a long metadata string) over one small tensor. */
function bigHeaderFile(mb: number): Uint8Array {
  return fileOf({ __metadata__: { note: 'x'.repeat(mb * 1_000_000) }, 'a.weight': { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, 8);
}

/** `n` zero-size tensors (valid by the format: empty shapes tile an empty data section). */
function zeroTensorsFile(n: number): Uint8Array {
  const header: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) header[`t${i}`] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };
  return fileOf(header, 0);
}

/** The bytes as a stream of `piece`-byte chunks (a fetch body or a file read stream). */
function chunked(bytes: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let p = 0;
  return new ReadableStream({
    pull(c) {
      if (p >= bytes.byteLength) return c.close();
      c.enqueue(bytes.slice(p, p + piece));
      p += piece;
    },
  });
}

/** A streaming source over in-memory files (as the CLI's and the page's sources are). */
function streamingSource(files: Record<string, Uint8Array | string>): FileSource {
  const bytes = (f: string) => {
    const v = files[f];
    if (v === undefined) throw new StudioError('not-found', `mem/${f}: not found`);
    return typeof v === 'string' ? new TextEncoder().encode(v) : v;
  };
  return {
    label: 'mem',
    readBytes: async (f) => bytes(f),
    openStream: async (f) => ({ stream: chunked(bytes(f), 16384), size: bytes(f).byteLength }),
  };
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('safetensors header limits', () => {
  it('streams a valid 40 MB header in 16 KiB chunks in linear time (one allocation)', async () => {
    const file = bigHeaderFile(40);
    for (const size of [file.byteLength, null]) {
      const t0 = performance.now();
      const names: string[] = [];
      const header = await readSafetensorsStream(chunked(file, 16384), size, 'big.safetensors', (t) => names.push(t.entry.name));
      const ms = performance.now() - t0;
      expect(names).toEqual(['a.weight']);
      expect(header.metadata.note!.length).toBe(40_000_000);
      // Re-copying the growing prefix per chunk took ~20 s here; one buffer takes well under 1 s.
      expect(ms, `size ${size}`).toBeLessThan(3000);
    }
  }, 30_000);

  it('reads a valid 40 MB header from the Hub cache in linear time', async () => {
    const file = bigHeaderFile(40);
    const repo = parseHubRepo('big/header');
    const baseUrl = 'http://hub.invalid';
    const cache = memoryCache();
    await cache.put(hubFileUrl(baseUrl, repo, 'model.safetensors'), chunked(file, 16384), file.byteLength);
    // The memory cache hands its file back as one chunk; give it the chunking of a real one.
    const open = cache.open.bind(cache);
    cache.open = async (url) => {
      const hit = await open(url);
      return hit && { ...hit, stream: chunked(file, 16384) };
    };
    const t0 = performance.now();
    const { header, cached } = await hubSource({ endpoint: { baseUrl }, repo, cache }).readHeader('model.safetensors');
    expect(cached).toBe(true);
    expect(header.tensors.size).toBe(1);
    expect(performance.now() - t0).toBeLessThan(3000);
  }, 30_000);

  it('refuses a header of 150,000 zero-size tensors with a message (no stack overflow)', async () => {
    const file = zeroTensorsFile(150_000);
    expect(() => parseSafetensorsHeader(file, file.byteLength, 'zero.safetensors')).toThrow(new RegExp(`zero.safetensors: header lists more than ${MAX_TENSORS} tensors`));
    const src = streamingSource({ ...bundledFiles(), 'model.safetensors': file });
    const t0 = performance.now();
    const e = await loadModel('zero', src).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StudioError);
    expect((e as Error).message).toMatch(`mem/model.safetensors: header lists more than ${MAX_TENSORS} tensors`);
    expect(performance.now() - t0).toBeLessThan(5000);
  }, 30_000);

  it('loads a model whose file holds many zero-size tensors beside its weights (sizes by a loop)', async () => {
    // Under the cap: the loader still sizes the file without spreading every tensor's end.
    const files = bundledFiles();
    const real = files['model.safetensors'] as Uint8Array;
    const len = Number(new DataView(real.buffer, real.byteOffset, 8).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(real.subarray(8, 8 + len))) as Record<string, unknown>;
    for (let i = 0; i < 60_000; i++) header[`extra.${i}`] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };
    const file = fileOf(header, real.byteLength - 8 - len);
    file.set(real.subarray(8 + len), file.byteLength - (real.byteLength - 8 - len));
    const model = await loadModel('many', streamingSource({ ...files, 'model.safetensors': file }));
    expect(model.weightBytes).toBe(file.byteLength);
  }, 30_000);

  it('the CLI refuses the 150,000-tensor file naming it', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pq-zero-'));
    dirs.push(dir);
    for (const [name, data] of Object.entries(bundledFiles())) writeFileSync(path.join(dir, name), data);
    writeFileSync(path.join(dir, 'model.safetensors'), zeroTensorsFile(150_000));
    const r = await runCli(['eval', '--model', dir, '--dataset', 'tinystories', '--seqlen', '32', '--windows', '0:1']);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`model.safetensors: header lists more than ${MAX_TENSORS} tensors`);
    expect(r.err).not.toMatch(/call stack/);
  }, 30_000);
});

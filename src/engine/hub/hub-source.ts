/**
 * A Hub repository as a FileSource: files come from the cache when present, otherwise
 * from `{hub}/{repo}/resolve/{revision}/{file}` through hubFetch (token policy, redirects),
 * and are cached as they stream by. Safetensors headers are read with Range requests, so
 * a preview knows every tensor's dtype and shape before any weight byte is downloaded.
 */
import { StudioError } from '../errors';
import { parseSafetensorsHeader, readHeaderLength, type SafetensorsHeader } from '../model/safetensors';
import { readHeaderBytes } from '../model/safetensors-stream';
import { countBytes, type ByteProgress, type FileSource, type FileStream } from '../model/source';
import { bytesStream, readAll, type HubCache } from './cache';
import { checkFileSize, readAllCapped } from '../json-limits';
import { checkHubEndpoint, contentLength, hubFetch, readRange, type HubEndpoint } from './http';
import { hubFileUrl, repoLabel, type HubRepo } from './repo';

export interface HubSource extends FileSource {
  readonly repo: HubRepo;
  /** The safetensors header of a weight file and the file's size, without its data. */
  readHeader(file: string, signal?: AbortSignal): Promise<{ header: SafetensorsHeader; size: number; cached: boolean }>;
  /** Waits for cache writes still running; returns why any failed (e.g. storage quota). */
  settle(): Promise<string[]>;
}

export interface HubSourceOptions {
  endpoint: HubEndpoint;
  repo: HubRepo;
  cache?: HubCache | null;
}

/** Errors the stream when it carries more or fewer bytes than `size`. */
function exactLength(what: string, size: number): TransformStream<Uint8Array, Uint8Array> {
  let n = 0;
  return new TransformStream({
    transform(chunk, ctl) {
      n += chunk.byteLength;
      if (n > size) ctl.error(new StudioError('fetch', `${what}: the server sent more than the ${size} bytes announced`));
      else ctl.enqueue(chunk);
    },
    flush(ctl) {
      if (n !== size) ctl.error(new StudioError('fetch', `${what}: the transfer ended after ${n} of ${size} bytes`));
    },
  });
}

export function hubSource(opts: HubSourceOptions): HubSource {
  const { endpoint, repo } = opts;
  const cache = opts.cache ?? null;
  const label = repoLabel(repo);
  const sizes = new Map<string, number>();
  const pending: Promise<void>[] = [];
  const warnings: string[] = [];
  const url = (file: string) => hubFileUrl(endpoint.baseUrl, repo, file);
  const what = (file: string) => `${label}/${file}`;

  const cacheOpen = async (file: string) => {
    // Every read starts here: an endpoint that is refused (an http URL with a token, a host
    // the site may not fetch from) is refused even when every file would come from the cache.
    checkHubEndpoint(endpoint);
    if (!cache) return null;
    try {
      return await cache.open(url(file));
    } catch {
      return null; // an unreadable cache entry is fetched again
    }
  };
  const cachePut = (file: string, stream: ReadableStream<Uint8Array>, size: number): Promise<void> => {
    if (!cache) return stream.cancel();
    const p = cache.put(url(file), stream, size).catch((e: unknown) => {
      if (e instanceof StudioError && e.code === 'storage') warnings.push(e.message);
      else if (!(e instanceof StudioError && (e.code === 'fetch' || e.code === 'cancelled'))) warnings.push(`${what(file)}: not cached (${(e as Error).message})`);
    });
    pending.push(p);
    return p;
  };

  /**
   * A file the repository does not have is remembered too (an empty "absent" entry), so
   * that an offline load takes the same path: no shard index means a single file.
   */
  const absentKey = (file: string) => `${url(file)}#absent`;

  /** A response for the whole file, its body checked against the expected size. */
  const fetchWhole = async (file: string, signal?: AbortSignal, maxBytes = Number.POSITIVE_INFINITY): Promise<FileStream & { size: number }> => {
    if (cache && (await cache.open(absentKey(file)).catch(() => null))) throw new StudioError('not-found', `${what(file)}: not found (HTTP 404, cached)`);
    let res: Response;
    try {
      res = await hubFetch(endpoint, url(file), { signal, what: what(file) });
    } catch (e) {
      if (cache && e instanceof StudioError && e.code === 'not-found') await cache.put(absentKey(file), bytesStream(new Uint8Array(0)), 0).catch(() => {});
      throw e;
    }
    const announced = contentLength(res);
    const known = sizes.get(file);
    if (known !== undefined && announced !== null && announced !== known) {
      await res.body?.cancel().catch(() => {});
      throw new StudioError('fetch', `${what(file)}: Content-Length says ${announced} bytes, but the file is ${known} bytes (from its range response)`);
    }
    const size = known ?? announced;
    try {
      // A small file over its cap is refused before its body is read (or cached).
      checkFileSize(what(file), size, maxBytes);
    } catch (e) {
      await res.body?.cancel().catch(() => {});
      throw e;
    }
    if (size === null) {
      // Small files without a length (chunked JSON): read whole under the cap, then the size is known.
      const bytes = res.body ? await readAllCapped(res.body, maxBytes, what(file)) : new Uint8Array(await res.arrayBuffer());
      checkFileSize(what(file), bytes.byteLength, maxBytes);
      return { stream: bytesStream(bytes), size: bytes.byteLength };
    }
    const body = res.body ?? bytesStream(new Uint8Array(await res.arrayBuffer()));
    return { stream: body.pipeThrough(exactLength(what(file), size)), size };
  };

  const source: HubSource = {
    label,
    repo,

    async readBytes(file, o) {
      const hit = await cacheOpen(file);
      if (hit && o?.maxBytes !== undefined && hit.size > o.maxBytes) {
        await hit.stream.cancel().catch(() => {});
        checkFileSize(what(file), hit.size, o.maxBytes);
      }
      if (hit) return readAll(hit.stream.pipeThrough(countBytes(file, hit.size, o?.onProgress)));
      const { stream, size } = await fetchWhole(file, o?.signal, o?.maxBytes);
      const [toCache, toUse] = stream.tee();
      void cachePut(file, toCache, size);
      return readAll(toUse.pipeThrough(countBytes(file, size, o?.onProgress)));
    },

    async openStream(file, o): Promise<FileStream> {
      const hit = await cacheOpen(file);
      if (hit) return { stream: hit.stream.pipeThrough(countBytes(file, hit.size, o?.onProgress)), size: hit.size };
      const { stream, size } = await fetchWhole(file, o?.signal);
      const [toCache, toUse] = stream.tee();
      void cachePut(file, toCache, size);
      return { stream: toUse.pipeThrough(countBytes(file, size, o?.onProgress as ((p: ByteProgress) => void) | undefined)), size };
    },

    async readHeader(file, signal) {
      const where = what(file);
      const hit = await cacheOpen(file);
      if (hit) {
        const buf = await readHeaderBytes(hit.stream, hit.size, where);
        sizes.set(file, hit.size);
        return { header: parseSafetensorsHeader(buf, hit.size, where), size: hit.size, cached: true };
      }
      const first = await readRange(endpoint, url(file), 0, 7, { signal, what: where });
      if (first.size === null) throw new StudioError('fetch', `${where}: the server does not say the file's size (no Content-Range total or Content-Length)`);
      const len = readHeaderLength(first.bytes, first.size, where);
      const all = await readRange(endpoint, url(file), 0, 7 + len, { signal, what: where });
      if (all.size !== null && all.size !== first.size) throw new StudioError('fetch', `${where}: the file's size changed between requests (${first.size} → ${all.size} bytes)`);
      if (all.bytes.byteLength < 8 + len) throw new StudioError('safetensors', `${where}: header length ${len} goes beyond the bytes the server sent (${all.bytes.byteLength})`);
      sizes.set(file, first.size);
      return { header: parseSafetensorsHeader(all.bytes, first.size, where), size: first.size, cached: false };
    },

    async settle() {
      await Promise.all(pending);
      return [...warnings];
    },
  };
  return source;
}

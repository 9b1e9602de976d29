/**
 * Where downloaded Hub files are kept so that a second load needs no network: the Cache
 * API in the browser (cacheStorageCache), a folder on disk in the CLI (src/cli/hub-disk-cache.ts),
 * a Map in tests. Keys are the file URLs, which never hold the token.
 *
 * `put` consumes a stream and stores it only if the stream ends cleanly: a cancelled or
 * broken download leaves nothing behind. A full disk or storage quota rejects with a
 * StudioError('storage') that says how to make room.
 */
import { concatBytes } from '../bytes';
import { StudioError } from '../errors';

export interface CachedFile {
  stream: ReadableStream<Uint8Array>;
  size: number;
}

export interface HubCache {
  readonly kind: string;
  open(key: string): Promise<CachedFile | null>;
  put(key: string, stream: ReadableStream<Uint8Array>, size: number): Promise<void>;
  /** Removes every cached file. */
  clear(): Promise<void>;
  /** Bytes in use and available (null when the platform does not say). */
  usage(): Promise<{ used: number | null; quota: number | null }>;
}

export function quotaError(what: string, detail: string): StudioError {
  return new StudioError(
    'storage',
    `${what}: not enough storage to cache it (${detail}). The model still works for this session; clear the Hub cache (Model panel → Clear cache) or free disk space to keep it for offline use.`,
  );
}

export function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: unknown })?.name;
  const code = (e as { code?: unknown })?.code;
  return name === 'QuotaExceededError' || code === 22 || code === 'ENOSPC' || code === 'EDQUOT';
}

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    n += value.byteLength;
  }
  return concatBytes(chunks, n);
}

/** In memory (tests; also where no persistent storage exists). */
export function memoryCache(): HubCache & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  return {
    kind: 'memory',
    files,
    async open(key) {
      const f = files.get(key);
      return f ? { stream: bytesStream(f), size: f.byteLength } : null;
    },
    async put(key, stream, size) {
      const bytes = await readAll(stream);
      if (bytes.byteLength !== size) throw new StudioError('fetch', `${key}: got ${bytes.byteLength} of ${size} bytes`);
      files.set(key, bytes);
    },
    async clear() {
      files.clear();
    },
    async usage() {
      let used = 0;
      for (const f of files.values()) used += f.byteLength;
      return { used, quota: null };
    },
  };
}

export const CACHE_NAME = 'studio-hub-v1';

/** The browser's Cache API (window or worker); null where it is unavailable. */
export function cacheStorageCache(name = CACHE_NAME): HubCache | null {
  const storage = (globalThis as { caches?: CacheStorage }).caches;
  if (!storage) return null;
  return {
    kind: 'Cache API',
    async open(key) {
      const c = await storage.open(name);
      const res = await c.match(key);
      const size = Number(res?.headers.get('content-length'));
      if (!res?.body || !Number.isSafeInteger(size)) return null;
      return { stream: res.body, size };
    },
    async put(key, stream, size) {
      const c = await storage.open(name);
      try {
        await c.put(key, new Response(stream, { headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' } }));
      } catch (e) {
        if (isQuotaError(e)) throw quotaError(key.split('/').pop() ?? key, 'browser storage quota exceeded');
        throw e;
      }
    },
    async clear() {
      await storage.delete(name);
    },
    async usage() {
      const est = await (globalThis.navigator as Navigator | undefined)?.storage?.estimate?.().catch(() => undefined);
      return { used: est?.usage ?? null, quota: est?.quota ?? null };
    },
  };
}

/** A one-chunk stream over bytes already in memory. */
export function bytesStream(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(ctl) {
      if (bytes.byteLength > 0) ctl.enqueue(bytes);
      ctl.close();
    },
  });
}

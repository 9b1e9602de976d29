/**
 * Where model files come from. The engine asks for files by name and never knows whether
 * they are on disk (CLI), on the page's origin (bundled model) or on the Hub.
 */
import { StudioError } from '../errors';
import { checkFileSize, readAllCapped, readJsonCapped } from '../json-limits';

export interface ByteProgress {
  file: string;
  loaded: number;
  /** null when the server does not say. */
  total: number | null;
}

export interface FileSource {
  /** Shown in messages and records, e.g. "models/stories260K" or a directory path. */
  readonly label: string;
  /**
   * The whole file. With `maxBytes`, a file known (Content-Length, File.size, stat) or
   * found while reading to be larger is refused with a StudioError before it is read whole.
   */
  readBytes(file: string, opts?: { signal?: AbortSignal; onProgress?: (p: ByteProgress) => void; maxBytes?: number }): Promise<Uint8Array>;
  /**
   * The file as a stream with its size (null when unknown), for weights: read piece by
   * piece, a large file never has to be in memory whole. Sources without it are read
   * with readBytes.
   */
  openStream?(file: string, opts?: { signal?: AbortSignal; onProgress?: (p: ByteProgress) => void }): Promise<FileStream>;
}

export interface FileStream {
  stream: ReadableStream<Uint8Array>;
  size: number | null;
}

export async function readText(src: FileSource, file: string, signal?: AbortSignal): Promise<string> {
  const bytes = await src.readBytes(file, { signal });
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new StudioError('input', `${src.label}/${file}: not valid UTF-8 text`);
  }
}

/** A JSON file of the model folder, under its size cap (json-limits.ts). */
export async function readJson(src: FileSource, file: string, signal?: AbortSignal): Promise<unknown> {
  return readJsonCapped(src, file, signal);
}

/** Files under a base URL, fetched with streaming progress. */
export function urlSource(baseUrl: string, fetchFn: typeof fetch = fetch): FileSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const open = async (file: string, signal?: AbortSignal): Promise<{ res: Response; total: number | null }> => {
    const url = new URL(file, new URL(base, globalThis.location?.href ?? 'http://localhost/')).href;
    let res: Response;
    try {
      res = await fetchFn(url, { signal });
    } catch (e) {
      if (signal?.aborted) throw e;
      throw new StudioError('fetch', `${url}: request failed (${(e as Error).message})`);
    }
    if (res.status === 404) throw new StudioError('not-found', `${url}: not found (HTTP 404)`);
    if (!res.ok) throw new StudioError('fetch', `${url}: HTTP ${res.status} ${res.statusText}`.trim());
    const lengthHeader = res.headers.get('content-length');
    const total = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : null;
    return { res, total };
  };
  return {
    label: baseUrl.replace(/\/$/, ''),
    async openStream(file, opts) {
      const { res, total } = await open(file, opts?.signal);
      if (!res.body) {
        const bytes = new Uint8Array(await res.arrayBuffer());
        return { stream: new Blob([bytes]).stream(), size: bytes.byteLength };
      }
      // A compressed transfer's Content-Length is not the file's size.
      const size = res.headers.get('content-encoding') ? null : total;
      return { stream: res.body.pipeThrough(countBytes(file, size, opts?.onProgress)), size };
    },
    async readBytes(file, opts) {
      const { res, total } = await open(file, opts?.signal);
      const where = `${base}${file}`;
      const max = opts?.maxBytes ?? Number.POSITIVE_INFINITY;
      try {
        checkFileSize(where, total, max);
      } catch (e) {
        await res.body?.cancel().catch(() => {});
        throw e;
      }
      if (!res.body) {
        const bytes = new Uint8Array(await res.arrayBuffer());
        checkFileSize(where, bytes.byteLength, max);
        return bytes;
      }
      return readAllCapped(res.body, max, where, (loaded) => opts?.onProgress?.({ file, loaded, total }));
    },
  };
}

/** Passes bytes through unchanged, reporting the running count. */
export function countBytes(file: string, total: number | null, onProgress?: (p: ByteProgress) => void): TransformStream<Uint8Array, Uint8Array> {
  let loaded = 0;
  return new TransformStream({
    transform(chunk, ctl) {
      loaded += chunk.byteLength;
      onProgress?.({ file, loaded, total });
      ctl.enqueue(chunk);
    },
  });
}

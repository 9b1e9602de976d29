/**
 * A local server in the Hugging Face Hub's URL layout, for the CLI, engine and e2e tests:
 *
 *   GET /{owner}/{name}/resolve/{revision}/{file}
 *
 * with Range requests (206 + Content-Range, 416 beyond the end), 401 for gated repositories
 * without the right `Authorization: Bearer` header, 404 for unknown repos, revisions and
 * files, optional redirects of weight files to a second "CDN" server on another host
 * (localhost vs 127.0.0.1) as the Hub does, and CORS headers so a page can use it. Every
 * request is logged with its headers so tests can count weight requests and see where the
 * token went.
 *
 * Files come from memory (bytes, strings, a header plus zeros) or from disk (DiskFile,
 * diskRepoFiles(dir): read piece by piece as they are sent, for the multi-GB checkpoints of
 * scripts/make-scale-fixtures.ts).
 */
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export interface VirtualFile {
  /** The first bytes (e.g. a safetensors header); the rest of the file reads as zeros. */
  prefix: Uint8Array;
  size: number;
}

/** A file on disk, read piece by piece as it is sent (never whole): for multi-GB checkpoints. */
export interface DiskFile {
  path: string;
  size: number;
}

/** The files of a Hub-layout folder on disk (e.g. scripts/make-scale-fixtures.ts output), served from disk. */
export function diskRepoFiles(dir: string): Record<string, DiskFile> {
  const out: Record<string, DiskFile> = {};
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p);
    if (st.isFile()) out[name] = { path: p, size: st.size };
  }
  return out;
}

export interface HubRepoSpec {
  files: Record<string, Uint8Array | string | VirtualFile | DiskFile>;
  /** Revisions served (default ["main"]). */
  revisions?: string[];
  /** Gated: requests need `Authorization: Bearer <token>`. */
  token?: string;
  /** Redirect .safetensors files to the CDN server (another host). */
  redirectWeights?: boolean;
  /** Content-Length lies: the header announces this many bytes for the file. */
  lieContentLength?: Record<string, number>;
  /** Transfers cut short: the connection is closed after this many bytes of the file. */
  cutAfter?: Record<string, number>;
  /** Slow downloads (to see progress and cancel): 16 KiB pieces this many ms apart. */
  throttleMs?: number;
  /**
   * Stalled transfers: after this many bytes of the file nothing more is sent (the connection
   * stays open) until the client goes away, so a download is certainly running when it is cancelled.
   */
  stallAfter?: Record<string, number>;
  /** Ignore Range headers (send the whole file with 200). */
  noRanges?: boolean;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  range: string | null;
  authorization: string | null;
}

export interface HubServer {
  /** e.g. http://127.0.0.1:12345 */
  url: string;
  /** The second server weight files redirect to (another host name: localhost). */
  cdnUrl: string;
  log: LoggedRequest[];
  repos: Map<string, HubRepoSpec>;
  /** Requests for a repository's files (optionally only .safetensors ones). */
  requestsFor(repo: string, opts?: { weightsOnly?: boolean }): LoggedRequest[];
  close(): Promise<void>;
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, range',
  'access-control-expose-headers': 'content-length, content-range, accept-ranges, etag, x-repo-commit',
  'access-control-allow-methods': 'GET, HEAD, OPTIONS',
};

function fileBytes(f: Uint8Array | string | VirtualFile | DiskFile): { size: number; slice: (a: number, b: number) => Uint8Array; close?: () => void } {
  if (typeof f === 'string') {
    const b = new TextEncoder().encode(f);
    return { size: b.byteLength, slice: (a, e) => b.subarray(a, e) };
  }
  if (f instanceof Uint8Array) return { size: f.byteLength, slice: (a, e) => f.subarray(a, e) };
  if ('path' in f) {
    let fd: number | null = null;
    return {
      size: f.size,
      slice: (a, e) => {
        fd ??= openSync(f.path, 'r');
        const out = new Uint8Array(e - a);
        let n = 0;
        while (n < out.byteLength) {
          const got = readSync(fd, out, n, out.byteLength - n, a + n);
          if (got === 0) break;
          n += got;
        }
        return out;
      },
      close: () => {
        if (fd !== null) closeSync(fd);
        fd = null;
      },
    };
  }
  return {
    size: f.size,
    slice: (a, e) => {
      const out = new Uint8Array(e - a);
      if (a < f.prefix.byteLength) out.set(f.prefix.subarray(a, Math.min(e, f.prefix.byteLength)));
      return out;
    },
  };
}

async function listen(server: http.Server, host: string, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return (server.address() as AddressInfo).port;
}

/** `port`: a fixed port for the Hub server (the e2e build's Content-Security-Policy names it). */
export async function startHubServer(repos: Record<string, HubRepoSpec> = {}, opts: { port?: number } = {}): Promise<HubServer> {
  const map = new Map(Object.entries(repos));
  const log: LoggedRequest[] = [];

  const serveFile = (req: http.IncomingMessage, res: http.ServerResponse, spec: HubRepoSpec, file: string) => {
    const f = spec.files[file];
    if (f === undefined) {
      res.writeHead(404, { ...CORS, 'content-type': 'text/plain' }).end('Entry not found');
      return;
    }
    const { size, slice, close } = fileBytes(f);
    if (close) res.once('close', close);
    const lie = spec.lieContentLength?.[file];
    const m = spec.noRanges ? null : /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (m) {
      const start = Number(m[1]);
      const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
      if (start >= size || end < start) {
        res.writeHead(416, { ...CORS, 'content-range': `bytes */${size}` }).end();
        return;
      }
      res.writeHead(206, { ...CORS, 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': String(end - start + 1), 'accept-ranges': 'bytes' });
      if (req.method === 'HEAD') res.end();
      else if (end + 1 - start <= 1 << 20) res.end(slice(start, end + 1));
      else {
        // A large range (a whole shard from disk): in 1 MiB pieces with backpressure.
        let q = start;
        const more = () => {
          while (q <= end) {
            const e = Math.min(end + 1, q + (1 << 20));
            const ok = res.write(slice(q, e));
            q = e;
            if (!ok) return void res.once('drain', more);
          }
          res.end();
        };
        more();
      }
      return;
    }
    const announced = lie ?? size;
    res.writeHead(200, { ...CORS, 'content-length': String(announced), 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    // Stream in 64 KiB pieces so that progress and cancellation have something to act on.
    const cut = spec.cutAfter?.[file];
    const total = Math.min(size, announced, cut ?? Infinity);
    let p = 0;
    const piece = spec.throttleMs ? 16384 : close ? 1 << 20 : 65536;
    const stall = spec.stallAfter?.[file] ?? Infinity;
    const pump = () => {
      while (p < total) {
        if (p >= stall) return;
        const e = Math.min(total, p + piece);
        const ok = res.write(slice(p, e));
        p = e;
        if (spec.throttleMs && p < total) {
          setTimeout(pump, spec.throttleMs);
          return;
        }
        if (!ok) {
          res.once('drain', pump);
          return;
        }
      }
      // A longer announced length than the bytes sent: cut the connection, as a broken server would.
      if (announced > total) res.socket?.destroy();
      else res.end();
    };
    pump();
  };

  let cdnUrl = '';
  const route = (server: 'hub' | 'cdn') => (req: http.IncomingMessage, res: http.ServerResponse) => {
    log.push({ server, method: req.method ?? 'GET', url: req.url ?? '', range: req.headers.range ?? null, authorization: req.headers.authorization ?? null });
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS).end();
      return;
    }
    const path = decodeURI((req.url ?? '').split('?')[0]!);
    const m = server === 'hub' ? /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path) : /^\/cdn\/([^/]+\/[^/]+)\/([^/]+)\/(.+)$/.exec(path);
    if (!m) {
      res.writeHead(404, { ...CORS, 'content-type': 'text/plain' }).end('Not found');
      return;
    }
    const [, repo, rawRev, file] = m as unknown as [string, string, string, string];
    const rev = decodeURIComponent(rawRev);
    const spec = map.get(repo);
    if (!spec || !(spec.revisions ?? ['main']).includes(rev)) {
      res.writeHead(404, { ...CORS, 'content-type': 'text/plain' }).end('Repository or revision not found');
      return;
    }
    if (server === 'hub' && spec.token && req.headers.authorization !== `Bearer ${spec.token}`) {
      res.writeHead(401, { ...CORS, 'content-type': 'text/plain' }).end('Access to this model is restricted');
      return;
    }
    if (server === 'hub' && spec.redirectWeights && file.endsWith('.safetensors')) {
      res.writeHead(302, { ...CORS, location: `${cdnUrl}/cdn/${repo}/${encodeURIComponent(rev)}/${file}` }).end();
      return;
    }
    serveFile(req, res, spec, file);
  };

  const hub = http.createServer(route('hub'));
  const cdn = http.createServer(route('cdn'));
  const hubPort = await listen(hub, '127.0.0.1', opts.port);
  const cdnPort = await listen(cdn, '127.0.0.1');
  // Another host name for the same machine: a different origin, as the Hub's CDN is.
  cdnUrl = `http://localhost:${cdnPort}`;
  const url = `http://127.0.0.1:${hubPort}`;
  const close = (s: http.Server) =>
    new Promise<void>((resolve) => {
      s.closeAllConnections();
      s.close(() => resolve());
    });
  return {
    url,
    cdnUrl,
    log,
    repos: map,
    requestsFor(repo, opts = {}) {
      return log.filter((r) => r.url.includes(`/${repo}/`) && (!opts.weightsOnly || r.url.endsWith('.safetensors')));
    },
    close: async () => {
      await Promise.all([close(hub), close(cdn)]);
    },
  };
}

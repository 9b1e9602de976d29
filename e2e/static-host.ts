/**
 * The built site served as a plain static host would (files from the build folder, nothing
 * else), for specs that need a host other than `vite preview`: one without the policy
 * header, or with a policy naming a local Hub server.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

export const BUILD_DIR = path.resolve(process.env.STUDIO_OUT_DIR ?? 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain',
  '.svg': 'image/svg+xml',
};

export interface StaticHost {
  /** The site's root URL, ending in "/". */
  url: string;
  close(): void;
}

/**
 * Serves BUILD_DIR on a free loopback port. `headers` go with every file; `index` replaces
 * index.html's bytes (a build rewritten for another host).
 */
export async function serveBuild(opts: { headers?: Record<string, string>; index?: string } = {}): Promise<StaticHost> {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = path.join(BUILD_DIR, rel === '/' ? 'index.html' : rel);
    if (!file.startsWith(BUILD_DIR) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    const headers = { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', ...opts.headers };
    const isIndex = file === path.join(BUILD_DIR, 'index.html');
    res.writeHead(200, headers).end(isIndex && opts.index !== undefined ? opts.index : readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

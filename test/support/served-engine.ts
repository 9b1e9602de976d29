/**
 * The worker's engine API driven from Node against public/ served over HTTP on 127.0.0.1,
 * so that it fetches the bundled model and texts as the page does.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { BackendPreference } from '../../src/engine/backend/select';
import { createEngineApi, type EngineApi } from '../../src/worker/engine-api';
import type { MethodSpec } from '../../src/engine/record';
import type { JobEvent, PruneJobRequest } from '../../src/worker/protocol';
import { REPO_ROOT } from './paths';

const PUBLIC = path.join(REPO_ROOT, 'public');

export interface PublicServer {
  /** `http://127.0.0.1:PORT/`, the root of public/. */
  base: string;
  close: () => Promise<void>;
}

/** public/ over HTTP; `route` may answer a path first (true when it did). */
export async function servePublic(opts: { route?: (pathname: string, res: ServerResponse) => boolean; keepAliveTimeout?: number } = {}): Promise<PublicServer> {
  const server = createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    if (opts.route?.(pathname, res)) return;
    const file = path.join(PUBLIC, pathname);
    if (!file.startsWith(PUBLIC) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  if (opts.keepAliveTimeout !== undefined) server.keepAliveTimeout = opts.keepAliveTimeout;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  return {
    base: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Loads the bundled stories260K into `api` from the server at `base`. */
export function loadBundled(api: EngineApi, base: string, backend: BackendPreference = 'cpu', onEvent: (e: JobEvent) => void = () => {}, jobId = 'load') {
  return api.loadModel({ jobId, id: 'stories260K', url: `${base}models/stories260K/`, source: 'bundled', backend }, onEvent);
}

/**
 * A file's server and engine API (no GPU), started before its tests and closed after;
 * with `loadBundled` the bundled model is loaded on the CPU first.
 */
export function servedEngineApi(opts: { loadBundled?: boolean; keepAliveTimeout?: number } = {}): { readonly base: string; readonly api: EngineApi } {
  let server: PublicServer | undefined;
  let api: EngineApi | undefined;
  beforeAll(async () => {
    server = await servePublic({ keepAliveTimeout: opts.keepAliveTimeout });
    api = createEngineApi(() => undefined);
    if (opts.loadBundled) await loadBundled(api, server.base);
  });
  afterAll(() => server?.close());
  return {
    get base() {
      return server!.base;
    },
    get api() {
      return api!;
    },
  };
}

/** A pasted evaluation text long enough for a few 64-token windows. */
export const PASTED_STORY = {
  kind: 'text' as const,
  name: 'story',
  source: 'paste' as const,
  text: 'Once upon a time, there was a little girl named Lily. She liked to play with her red ball in the park.\n'.repeat(60),
};

/** A CPU prune job on the pasted story: windows 0:2 of 64 tokens, calibration 4 × 32 tokens from token 10. */
export function storyPruneJob(base: string, jobId: string, method: MethodSpec, over: Partial<PruneJobRequest> = {}): PruneJobRequest {
  return {
    jobId,
    method,
    dataset: PASTED_STORY,
    datasetsUrl: `${base}datasets/`,
    seqlen: 64,
    windows: '0:2',
    calibration: { dataset: PASTED_STORY, sampling: { samples: 4, seqlen: 32, offset: 10, seed: null } },
    backend: 'cpu',
    ...over,
  };
}

/**
 * The CLI's Hub cache: one file per URL under a folder (default
 * ~/.cache/prune-quantize-studio/hub, or --hub-cache / STUDIO_HUB_CACHE). Files are
 * written to a temporary name and renamed only when complete, so an interrupted download
 * never looks cached. Names are SHA-256 hashes of the URL (which never holds the token).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { StudioError } from '../engine/errors';
import { isQuotaError, quotaError, type HubCache } from '../engine/hub/cache';

export function defaultHubCacheDir(): string {
  return process.env.STUDIO_HUB_CACHE ?? path.join(os.homedir(), '.cache', 'prune-quantize-studio', 'hub');
}

export function diskCache(dir: string): HubCache {
  const fileOf = (key: string) => path.join(dir, createHash('sha256').update(key).digest('hex'));
  return {
    kind: `disk (${dir})`,
    async open(key) {
      const p = fileOf(key);
      try {
        const s = await stat(p);
        return { stream: Readable.toWeb(createReadStream(p)) as ReadableStream<Uint8Array>, size: s.size };
      } catch {
        return null;
      }
    },
    async put(key, stream, size) {
      await mkdir(dir, { recursive: true });
      const final = fileOf(key);
      const tmp = `${final}.${process.pid}.${Date.now()}.part`;
      const fh = await open(tmp, 'w');
      let written = 0;
      try {
        const reader = stream.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          await fh.write(value);
          written += value.byteLength;
        }
        await fh.close();
        if (written !== size) throw new StudioError('fetch', `${key}: got ${written} of ${size} bytes`);
        await rename(tmp, final);
      } catch (e) {
        await fh.close().catch(() => {});
        await rm(tmp, { force: true });
        if (isQuotaError(e)) throw quotaError(key.split('/').pop() ?? key, `disk full in ${dir}`);
        throw e;
      }
    },
    async clear() {
      await rm(dir, { recursive: true, force: true });
    },
    async usage() {
      let used = 0;
      try {
        for (const f of await readdir(dir)) used += (await stat(path.join(dir, f))).size;
      } catch {
        return { used: 0, quota: null };
      }
      return { used, quota: null };
    },
  };
}

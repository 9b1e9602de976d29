/** A model directory on disk as a FileSource (Node only). */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { StudioError } from '../engine/errors';
import type { FileSource } from '../engine/model/source';

export function dirSource(dir: string): FileSource {
  return {
    label: dir,
    async readBytes(file) {
      const p = path.join(dir, file);
      try {
        const buf = await readFile(p);
        return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') throw new StudioError('not-found', `${p}: file not found`);
        throw new StudioError('input', `${p}: cannot read (${(e as Error).message})`);
      }
    },
  };
}

export async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

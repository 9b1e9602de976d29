/** A model directory on disk as a FileSource (Node only). */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import path from 'node:path';
import { StudioError } from '../engine/errors';
import { checkFileSize } from '../engine/json-limits';
import { countBytes, type FileSource } from '../engine/model/source';

export function dirSource(dir: string): FileSource {
  return {
    label: dir,
    // Weights are read as a stream, tensor by tensor (see model/load.ts).
    async openStream(file, opts) {
      const p = path.join(dir, file);
      let size: number;
      try {
        size = (await stat(p)).size;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new StudioError('not-found', `${p}: file not found`);
        throw new StudioError('input', `${p}: cannot read (${(e as Error).message})`);
      }
      const stream = Readable.toWeb(createReadStream(p)) as ReadableStream<Uint8Array>;
      return { stream: stream.pipeThrough(countBytes(file, size, opts?.onProgress)), size };
    },
    async readBytes(file, opts) {
      const p = path.join(dir, file);
      try {
        // The size on disk is checked before the file is read.
        if (opts?.maxBytes !== undefined) checkFileSize(p, (await stat(p)).size, opts.maxBytes);
        const buf = await readFile(p);
        return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      } catch (e) {
        if (e instanceof StudioError) throw e;
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

/**
 * Size caps for the small files of a model folder (config.json, the shard index, the
 * tokenizer files), checked before they are read: from Content-Length, File.size or the
 * file system's size when the source knows it, and again while the bytes arrive when it
 * does not. A 2 GB "config.json" is refused at once instead of being downloaded, held in
 * memory and parsed.
 *
 * The caps are far above real files: config.json is a few KB (a studio-pruned one with
 * per-layer keys stays under 1 MB), the largest shard indexes (DeepSeek-V3) are ~9 MB, the
 * largest tokenizer.json files (Gemma) ~33 MB.
 */
import { concatBytes } from './bytes';
import { StudioError } from './errors';

/** What a capped read needs of a file source (model/source.ts FileSource is one). */
export interface CappedSource {
  readonly label: string;
  readBytes(file: string, opts?: { signal?: AbortSignal; maxBytes?: number }): Promise<Uint8Array>;
}

const MiB = 1024 * 1024;

export const FILE_LIMITS: Readonly<Record<string, number>> = {
  'config.json': 4 * MiB,
  'generation_config.json': 4 * MiB,
  'model.safetensors.index.json': 32 * MiB,
  'tokenizer.json': 64 * MiB,
  'tokenizer_config.json': 16 * MiB,
  'special_tokens_map.json': 16 * MiB,
  'tokenizer.model': 64 * MiB,
  LICENSE: 4 * MiB,
};

/** For a small file not named above. */
export const DEFAULT_FILE_LIMIT = 16 * MiB;

/** The cap for `file` (its base name decides). */
export function fileLimit(file: string): number {
  return FILE_LIMITS[file.slice(file.lastIndexOf('/') + 1)] ?? DEFAULT_FILE_LIMIT;
}

function size(bytes: number): string {
  return bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : `${bytes} bytes`;
}

/**
 * Throws when `bytes` (a size announced or counted so far) is over `max`. `where` names the
 * file ("owner/name/config.json"); `counted` says the size is what arrived so far.
 */
export function checkFileSize(where: string, bytes: number | null, max: number, counted = false): void {
  if (bytes === null || bytes <= max) return;
  const name = where.slice(where.lastIndexOf('/') + 1);
  throw new StudioError('input', `${where}: ${counted ? 'more than ' : ''}${size(bytes)}, over the ${size(max)} limit for ${name}; the studio does not read it`);
}

/**
 * Reads a stream to its end, refusing it once more than `max` bytes arrived (the stream
 * is cancelled then, so a huge body is not downloaded further).
 */
export async function readAllCapped(stream: ReadableStream<Uint8Array>, max: number, where: string, onChunk?: (loaded: number) => void): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      loaded += value.byteLength;
      checkFileSize(where, loaded, max, true);
      chunks.push(value);
      onChunk?.(loaded);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    throw e;
  } finally {
    reader.releaseLock();
  }
  return concatBytes(chunks, loaded);
}

/** A small file's bytes, with its cap passed to the source and checked again here. */
export async function readBytesCapped(src: CappedSource, file: string, signal?: AbortSignal): Promise<Uint8Array> {
  const max = fileLimit(file);
  const bytes = await src.readBytes(file, { signal, maxBytes: max });
  // Sources that cannot tell the size in advance (tests' in-memory ones) are checked after.
  checkFileSize(`${src.label}/${file}`, bytes.byteLength, max);
  return bytes;
}

/** A JSON file of a model folder, read under its cap. */
export async function readJsonCapped(src: CappedSource, file: string, signal?: AbortSignal): Promise<unknown> {
  const bytes = await readBytesCapped(src, file, signal);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new StudioError('input', `${src.label}/${file}: not valid UTF-8 text`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new StudioError('input', `${src.label}/${file}: not valid JSON (${(e as Error).message})`);
  }
}

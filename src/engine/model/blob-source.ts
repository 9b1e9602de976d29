/**
 * Model files the user picked on their own disk (a file input in the page): the Blobs stay
 * references to the files, so weights are streamed from disk as the loader reads them and
 * never copied whole into memory first.
 */
import { StudioError } from '../errors';
import { checkFileSize } from '../json-limits';
import type { FileSource } from './source';

/** Files by name, e.g. {"config.json": File, "model.safetensors": File, …}. */
export function blobSource(label: string, files: ReadonlyMap<string, Blob>): FileSource {
  const get = (file: string): Blob => {
    const blob = files.get(file);
    if (!blob) throw new StudioError('not-found', `${label}/${file}: not among the chosen files (choose the model's folder, or its config.json, model.safetensors and tokenizer.json together)`);
    return blob;
  };
  return {
    label,
    async readBytes(file, opts) {
      const blob = get(file);
      opts?.signal?.throwIfAborted();
      // File.size is known before anything is read: a huge file is refused unread.
      if (opts?.maxBytes !== undefined) checkFileSize(`${label}/${file}`, blob.size, opts.maxBytes);
      const bytes = new Uint8Array(await blob.arrayBuffer());
      opts?.onProgress?.({ file, loaded: bytes.byteLength, total: bytes.byteLength });
      return bytes;
    },
    async openStream(file, opts) {
      const blob = get(file);
      opts?.signal?.throwIfAborted();
      let loaded = 0;
      const counter = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          opts?.signal?.throwIfAborted();
          loaded += chunk.byteLength;
          opts?.onProgress?.({ file, loaded, total: blob.size });
          ctl.enqueue(chunk);
        },
      });
      return { stream: blob.stream().pipeThrough(counter), size: blob.size };
    },
  };
}

/**
 * The files of a chosen folder or selection keyed by their base names (a folder picker gives
 * "MyModel/config.json"); a name chosen twice is refused rather than silently picking one.
 */
export function filesByName(files: Iterable<{ name: string; webkitRelativePath?: string } & Blob>): Map<string, Blob> {
  const out = new Map<string, Blob>();
  for (const f of files) {
    const name = f.name;
    if (out.has(name)) throw new StudioError('input', `two chosen files are named "${name}"; choose one model folder at a time`);
    out.set(name, f);
  }
  return out;
}

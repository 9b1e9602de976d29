/**
 * Reads a safetensors file from a byte stream, tensor by tensor.
 *
 * The header is validated first (parseSafetensorsHeader: offsets tile the data section
 * with no gap or overlap), so the data section is a sequence of tensors in offset order
 * and each can be handed over as soon as its last byte has arrived. At most one tensor's
 * raw bytes are held at a time: a model never sits in memory both as file bytes and as
 * decoded tensors.
 */
import { CancelledError, StudioError } from '../errors';
import { parseSafetensorsHeader, readHeaderLength, type SafetensorsHeader, type TensorEntry } from './safetensors';

export interface StreamedTensor {
  entry: TensorEntry;
  /** The tensor's raw bytes; valid only during the callback. */
  bytes: Uint8Array;
}

/**
 * Streams `stream` (a whole safetensors file of `size` bytes, or null when unknown) and
 * calls `onTensor` for every tensor that `want` accepts, in file order. Resolves with the
 * header once the whole file has been read; a file shorter or longer than its header says
 * is an error.
 */
export async function readSafetensorsStream(
  stream: ReadableStream<Uint8Array>,
  size: number | null,
  file: string,
  onTensor: (t: StreamedTensor) => void,
  opts: { want?: (name: string) => boolean; signal?: AbortSignal } = {},
): Promise<SafetensorsHeader> {
  const reader = stream.getReader();
  const lengthBytes = new Uint8Array(8);
  let lengthFill = 0;
  /** The header (8-byte length + JSON) being filled, allocated once. */
  let head: Uint8Array | null = null;
  let headFill = 0;
  let header: SafetensorsHeader | null = null;
  let fileSize = size;
  let order: TensorEntry[] = [];
  let index = 0;
  let cur: Uint8Array | null = null;
  let curFill = 0;
  let received = 0;

  const nextTensor = () => {
    // Zero-byte tensors complete at once.
    while (index < order.length && order[index]!.end === order[index]!.begin) {
      emit(order[index]!, new Uint8Array(0));
      index++;
    }
    const e = order[index];
    cur = e ? new Uint8Array(opts.want && !opts.want(e.name) ? 0 : e.end - e.begin) : null;
    curFill = 0;
  };
  const emit = (entry: TensorEntry, bytes: Uint8Array) => {
    if (!opts.want || opts.want(entry.name)) onTensor({ entry, bytes });
  };

  /** Feeds data-section bytes into the current tensor(s). */
  const feed = (chunk: Uint8Array) => {
    let p = 0;
    while (p < chunk.byteLength) {
      const e = order[index];
      if (!e) throw new StudioError('safetensors', `${file}: more bytes than the header describes (the file is longer than ${header!.dataStart + (order.at(-1)?.end ?? 0)} bytes)`);
      const need = e.end - e.begin - curFill;
      const take = Math.min(need, chunk.byteLength - p);
      if (cur!.byteLength > 0) cur!.set(chunk.subarray(p, p + take), curFill);
      curFill += take;
      p += take;
      if (curFill === e.end - e.begin) {
        if (cur!.byteLength > 0) emit(e, cur!);
        index++;
        nextTensor();
      }
    }
  };

  let finished = false;
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new CancelledError('download');
      let chunk: Uint8Array;
      try {
        const r = await reader.read();
        if (r.done) break;
        chunk = r.value;
      } catch (e) {
        if (opts.signal?.aborted) throw new CancelledError('download');
        if (e instanceof StudioError) throw e;
        throw new StudioError('fetch', `${file}: the transfer broke off after ${received} bytes (${(e as Error).message})`);
      }
      received += chunk.byteLength;
      if (header) {
        feed(chunk);
        continue;
      }
      // The header is collected into one buffer allocated once its length is known (the
      // 8-byte prefix): re-joining a growing prefix on every chunk is quadratic in its size.
      let p = 0;
      if (!head) {
        const take = Math.min(8 - lengthFill, chunk.byteLength);
        lengthBytes.set(chunk.subarray(0, take), lengthFill);
        lengthFill += take;
        p = take;
        if (lengthFill < 8) continue;
        // Without a known size, trust the header for now; the end-of-stream check catches lies.
        const len = readHeaderLength(lengthBytes, fileSize ?? Number.MAX_SAFE_INTEGER, file);
        head = new Uint8Array(8 + len);
        head.set(lengthBytes);
        headFill = 8;
      }
      const take = Math.min(head.byteLength - headFill, chunk.byteLength - p);
      head.set(chunk.subarray(p, p + take), headFill);
      headFill += take;
      p += take;
      if (headFill < head.byteLength) continue;
      if (fileSize === null) {
        // The data section's size follows from the header's largest offset.
        fileSize = head.byteLength + parseSafetensorsHeaderLoose(head, file);
      }
      header = parseSafetensorsHeader(head, fileSize, file);
      order = [...header.tensors.values()].sort((a, b) => a.begin - b.begin);
      head = null;
      index = 0;
      nextTensor();
      feed(chunk.subarray(p));
    }
    finished = true;
  } finally {
    // A file refused half-way is not read (or downloaded) further.
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
  if (!header) throw new StudioError('safetensors', `${file}: file is truncated (${received} bytes, the header is incomplete)`);
  if (index < order.length || (fileSize !== null && received !== fileSize)) {
    throw new StudioError('safetensors', `${file}: file is truncated: ${received} of ${fileSize} bytes arrived`);
  }
  return header;
}

/**
 * Reads just the header (8-byte length + JSON) from the start of a stream of a file of
 * `size` bytes, into one buffer allocated once the length is known; the stream is then
 * cancelled. Returns fewer bytes only when the stream ends early.
 */
export async function readHeaderBytes(stream: ReadableStream<Uint8Array>, size: number, file: string): Promise<Uint8Array> {
  const reader = stream.getReader();
  const lengthBytes = new Uint8Array(8);
  let out: Uint8Array | null = null;
  let fill = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let p = 0;
      if (!out) {
        const take = Math.min(8 - fill, value.byteLength);
        lengthBytes.set(value.subarray(0, take), fill);
        fill += take;
        p = take;
        if (fill < 8) continue;
        out = new Uint8Array(8 + readHeaderLength(lengthBytes, size, file));
        out.set(lengthBytes);
      }
      const take = Math.min(out.byteLength - fill, value.byteLength - p);
      out.set(value.subarray(p, p + take), fill);
      fill += take;
      if (fill === out.byteLength) break;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return out ? out.subarray(0, fill) : lengthBytes.subarray(0, fill);
}

/** The largest data offset a header names (to size the data section when the file size is unknown). */
function parseSafetensorsHeaderLoose(prefix: Uint8Array, file: string): number {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(prefix.subarray(8)));
  } catch (e) {
    throw new StudioError('safetensors', `${file}: header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  let max = 0;
  if (json && typeof json === 'object' && !Array.isArray(json)) {
    for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
      if (k === '__metadata__' || !v || typeof v !== 'object') continue;
      const off = (v as { data_offsets?: unknown }).data_offsets;
      if (Array.isArray(off) && typeof off[1] === 'number' && Number.isSafeInteger(off[1])) max = Math.max(max, off[1]);
    }
  }
  return max;
}

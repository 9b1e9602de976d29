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
  const head = new HeaderCollector(size ?? Number.MAX_SAFE_INTEGER, file);
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
      const p = head.push(chunk);
      if (p === null) continue;
      const bytes = head.bytes();
      if (fileSize === null) {
        // The data section's size follows from the header's largest offset.
        fileSize = bytes.byteLength + parseSafetensorsHeaderLoose(bytes, file);
      }
      header = parseSafetensorsHeader(bytes, fileSize, file);
      order = [...header.tensors.values()].sort((a, b) => a.begin - b.begin);
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
  const head = new HeaderCollector(size, file);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || head.push(value) !== null) break;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return head.bytes();
}

/**
 * Collects a safetensors header (8-byte length + JSON) from chunks into one buffer,
 * allocated once the length is known: re-joining a growing prefix on every chunk would be
 * quadratic in the header's size. `fileSize` bounds the length (readHeaderLength).
 */
class HeaderCollector {
  private readonly lengthBytes = new Uint8Array(8);
  private out: Uint8Array | null = null;
  private fill = 0;

  constructor(
    private readonly fileSize: number,
    private readonly file: string,
  ) {}

  /** Takes bytes from `chunk`; returns where in it the header ended, or null while it is incomplete. */
  push(chunk: Uint8Array): number | null {
    let p = 0;
    if (!this.out) {
      p = Math.min(8 - this.fill, chunk.byteLength);
      this.lengthBytes.set(chunk.subarray(0, p), this.fill);
      this.fill += p;
      if (this.fill < 8) return null;
      this.out = new Uint8Array(8 + readHeaderLength(this.lengthBytes, this.fileSize, this.file));
      this.out.set(this.lengthBytes);
    }
    const take = Math.min(this.out.byteLength - this.fill, chunk.byteLength - p);
    this.out.set(chunk.subarray(p, p + take), this.fill);
    this.fill += take;
    return this.fill === this.out.byteLength ? p + take : null;
  }

  /** The bytes collected so far: the whole header once push() returned a position. */
  bytes(): Uint8Array {
    return this.out ? this.out.subarray(0, this.fill) : this.lengthBytes.subarray(0, this.fill);
  }
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

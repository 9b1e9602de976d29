/**
 * safetensors reader and writer (https://github.com/huggingface/safetensors, format section).
 *
 * Layout: u64 little-endian header length N, N bytes of UTF-8 JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`,
 * then the tensor bytes; offsets are relative to the end of the header.
 *
 * Everything in a header is untrusted: lengths, shapes and offsets are checked against the
 * file size before anything is allocated, with the same rules as the reference
 * implementation (offsets contiguous, no overlap, no hole, buffer fully covered).
 */
import { StudioError } from '../errors';
import { f16ToF32 } from '../half';

export type SafetensorsDtype =
  | 'F64' | 'F32' | 'F16' | 'BF16'
  | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

export interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Byte offsets relative to the start of the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Byte offset of the data section in the file (8 + header length). */
  dataStart: number;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

/** The reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;
/**
 * Tensors one file may hold. Real checkpoints have at most a few thousand per file (a
 * 405B Llama has 1,138 in all); a header of 150,000 zero-size tensors is 8.7 MB and only
 * costs time and memory downstream.
 */
export const MAX_TENSORS = 65_536;

/**
 * JSON of an untrusted value for an error message: never throws (a deeply nested value
 * overflows JSON.stringify's stack) and is cut to a readable length.
 */
export function showJson(value: unknown, max = 200): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Array.isArray(value) ? '[…] (nested too deeply)' : '{…} (nested too deeply)';
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function fail(file: string, problem: string): never {
  throw new StudioError('safetensors', `${file}: ${problem}`);
}

/**
 * Reads the 8-byte length prefix. `fileSize` is the size of the whole file, so that a
 * header length beyond the file is refused before the header is read or allocated.
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, file = 'safetensors file'): number {
  if (fileSize < 8 || prefix.byteLength < 8) fail(file, `file is truncated: ${fileSize} bytes, the 8-byte header length is missing`);
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const len = Number(n);
  if (8 + len > fileSize) fail(file, `header length ${len} goes beyond the end of the file (${fileSize} bytes)`);
  if (len < 2) fail(file, `header length ${len} is too small for a JSON object`);
  return len;
}

/**
 * Parses and validates a header. `headerBytes` holds at least the first 8 + N bytes of the
 * file; `fileSize` is the whole file's size (known from Content-Length or File.size).
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, file = 'safetensors file'): SafetensorsHeader {
  const len = readHeaderLength(headerBytes, fileSize, file);
  if (headerBytes.byteLength < 8 + len) fail(file, `need ${8 + len} header bytes, got ${headerBytes.byteLength}`);
  let json: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes.subarray(8, 8 + len));
    json = JSON.parse(text);
  } catch (e) {
    fail(file, `header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(file, 'header is not a JSON object');

  const dataStart = 8 + len;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(raw, file);
      continue;
    }
    if (tensors.size >= MAX_TENSORS) fail(file, `header lists more than ${MAX_TENSORS} tensors`);
    tensors.set(name, parseEntry(name, raw, dataSize, file));
  }

  // Offsets must tile the data section exactly: sorted by begin, each starts where the last ended.
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const t of sorted) {
    if (t.begin < expected) fail(file, `tensor "${t.name}" overlaps the previous tensor (starts at ${t.begin}, previous ends at ${expected})`);
    if (t.begin > expected) fail(file, `gap in the data section before tensor "${t.name}" (bytes ${expected}..${t.begin} belong to no tensor)`);
    expected = t.end;
  }
  if (expected !== dataSize) fail(file, `data section is ${dataSize} bytes but the tensors cover ${expected} bytes`);
  return { dataStart, tensors, metadata };
}

/**
 * Bytes of the data section the tensors cover (their largest end offset). A loop, not
 * Math.max(...ends): spreading one argument per tensor overflows the stack.
 */
export function dataSectionBytes(header: SafetensorsHeader): number {
  let end = 0;
  for (const t of header.tensors.values()) if (t.end > end) end = t.end;
  return end;
}

function parseMetadata(raw: unknown, file: string): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(file, '__metadata__ is not an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(file, `__metadata__["${k}"] is not a string`);
    out[k] = v;
  }
  return out;
}

function parseEntry(name: string, raw: unknown, dataSize: number, file: string): TensorEntry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(file, `tensor "${name}": entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BYTES)) fail(file, `tensor "${name}": unknown dtype ${showJson(dtype)}`);
  if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0)) {
    fail(file, `tensor "${name}": shape ${showJson(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || (o as number) < 0)) {
    fail(file, `tensor "${name}": data_offsets ${showJson(offsets)} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) fail(file, `tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataSize) fail(file, `tensor "${name}": data_offsets [${begin}, ${end}] are out of range (data section is ${dataSize} bytes)`);
  // Product in floating point is exact up to 2^53; anything larger already fails the size check.
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  const bytes = elements * DTYPE_BYTES[dtype as SafetensorsDtype];
  if (bytes !== end - begin) {
    fail(file, `tensor "${name}": shape [${(shape as number[]).join(', ')}] of ${dtype} needs ${bytes} bytes but data_offsets give ${end - begin}`);
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin, end };
}

/** Converts one IEEE half-precision value (as its 16 bits) to a JS number. */
export { f16ToF32 };

/** Decodes a tensor's bytes (F32, F16 or BF16) into a fresh Float32Array. */
export function decodeFloatTensor(bytes: Uint8Array, dtype: SafetensorsDtype, name: string): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(bytes.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(bytes.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = f16ToF32(view.getUint16(i * 2, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(bytes.byteLength / 2);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    default:
      throw new StudioError('safetensors', `tensor "${name}": dtype ${dtype} cannot be used as model weights (expected F32, F16 or BF16)`);
  }
}

/** A whole safetensors file held in memory, with lazily decoded tensors. */
export class SafetensorsFile {
  readonly header: SafetensorsHeader;
  private readonly bytes: Uint8Array;
  readonly file: string;

  constructor(bytes: Uint8Array, file = 'model.safetensors') {
    this.bytes = bytes;
    this.file = file;
    this.header = parseSafetensorsHeader(bytes, bytes.byteLength, file);
  }

  get names(): string[] {
    return [...this.header.tensors.keys()];
  }

  entry(name: string): TensorEntry {
    const e = this.header.tensors.get(name);
    if (!e) throw new StudioError('weights', `${this.file}: missing tensor "${name}"`);
    return e;
  }

  rawBytes(name: string): Uint8Array {
    const e = this.entry(name);
    return this.bytes.subarray(this.header.dataStart + e.begin, this.header.dataStart + e.end);
  }

  float32(name: string): Float32Array {
    const e = this.entry(name);
    return decodeFloatTensor(this.rawBytes(name), e.dtype, name);
  }
}

export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16' | 'U8' | 'I32';
  shape: number[];
  /** Raw little-endian bytes, or a Float32Array for F32. */
  data: Float32Array | Uint8Array;
}

/**
 * The start of a safetensors file for a header object: the 8-byte little-endian length, then
 * the JSON padded with spaces to a multiple of 8 bytes, as the reference writer does, so the
 * data section that follows stays aligned.
 */
export function safetensorsHeaderBytes(header: Record<string, unknown>): Uint8Array {
  const enc = new TextEncoder();
  let json = JSON.stringify(header);
  while (enc.encode(json).byteLength % 8 !== 0) json += ' ';
  const h = enc.encode(json);
  const out = new Uint8Array(8 + h.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.byteLength), true);
  out.set(h, 8);
  return out;
}

/**
 * Writes a safetensors file. Tensors are laid out in the order given, after the header
 * (safetensorsHeaderBytes).
 */
export function writeSafetensors(tensors: TensorToWrite[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const t of tensors) {
    const bytes = t.data instanceof Float32Array ? float32LE(t.data) : t.data;
    const need = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (need !== bytes.byteLength) {
      throw new StudioError('safetensors', `writeSafetensors: tensor "${t.name}" shape [${t.shape}] needs ${need} bytes, got ${bytes.byteLength}`);
    }
    if (t.name in header) throw new StudioError('safetensors', `writeSafetensors: duplicate tensor "${t.name}"`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    offset += bytes.byteLength;
    chunks.push(bytes);
  }
  const prefix = safetensorsHeaderBytes(header);
  const out = new Uint8Array(prefix.byteLength + offset);
  out.set(prefix);
  let p = prefix.byteLength;
  for (const c of chunks) {
    out.set(c, p);
    p += c.byteLength;
  }
  return out;
}

function float32LE(a: Float32Array): Uint8Array {
  const out = new Uint8Array(a.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) view.setFloat32(i * 4, a[i]!, true);
  return out;
}

/**
 * readSafetensorsStream: tensors are handed over as soon as their last byte arrives (so a
 * load holds one tensor's raw bytes at a time, never the whole file), with the same
 * values as the in-memory reader, whatever the chunking; short and long files are errors.
 */
import { describe, expect, it } from 'vitest';
import { SafetensorsFile } from '../src/engine/model/safetensors';
import { readSafetensorsStream } from '../src/engine/model/safetensors-stream';
import { bundledFiles } from './support/memory-source';
import { fixtureFiles, fixtureModel } from './support/hub-fixtures';

/** A stream of `bytes` in pieces of 1…`max` bytes, counting what has been pulled. */
function chunked(bytes: Uint8Array, max: number, seed = 1) {
  let p = 0;
  let s = seed;
  const state = { pulled: 0 };
  const stream = new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (p >= bytes.byteLength) return ctl.close();
      s = (s * 1103515245 + 12345) % 2 ** 31;
      const n = 1 + (s % max);
      const piece = bytes.slice(p, Math.min(bytes.byteLength, p + n));
      p += piece.byteLength;
      state.pulled = p;
      ctl.enqueue(piece);
    },
  });
  return { stream, state };
}

describe('streamed safetensors', () => {
  it('emits every tensor with the in-memory reader’s values, as soon as its bytes arrived', async () => {
    const bytes = bundledFiles()['model.safetensors'] as Uint8Array;
    const ref = new SafetensorsFile(bytes);
    for (const max of [1 << 16, 4093, 251]) {
      const { stream, state } = chunked(bytes, max, max);
      const seen: string[] = [];
      const header = await readSafetensorsStream(stream, bytes.byteLength, 'model.safetensors', ({ entry, bytes: raw }) => {
        seen.push(entry.name);
        // Delivered within one chunk of its end: nothing later was needed to hand it over.
        expect(state.pulled - (ref.header.dataStart + entry.end)).toBeLessThan(max);
        // Byte-equal (Buffer.compare: toEqual on large typed arrays is slow).
        expect(Buffer.compare(Buffer.from(raw), Buffer.from(ref.rawBytes(entry.name))), entry.name).toBe(0);
      });
      expect(seen.sort()).toEqual(ref.names.sort());
      expect(header.dataStart).toBe(ref.header.dataStart);
    }
  });

  it('skips tensors not wanted without keeping their bytes', async () => {
    const bytes = fixtureFiles(fixtureModel(), { dtype: 'BF16' })['model.safetensors'] as Uint8Array;
    const got: string[] = [];
    await readSafetensorsStream(chunked(bytes, 999).stream, bytes.byteLength, 'f', ({ entry }) => got.push(entry.name), { want: (n) => n.startsWith('model.layers.1.') });
    expect(got.length).toBeGreaterThan(0);
    expect(got.every((n) => n.startsWith('model.layers.1.'))).toBe(true);
  });

  it('refuses a truncated stream and one longer than its header says', async () => {
    const bytes = bundledFiles()['model.safetensors'] as Uint8Array;
    await expect(readSafetensorsStream(chunked(bytes.subarray(0, bytes.byteLength - 10), 5000).stream, null, 'm.safetensors', () => {})).rejects.toThrow(
      /m\.safetensors: file is truncated: \d+ of \d+ bytes arrived/,
    );
    const longer = new Uint8Array(bytes.byteLength + 4);
    longer.set(bytes);
    await expect(readSafetensorsStream(chunked(longer, 5000).stream, null, 'm.safetensors', () => {})).rejects.toThrow(/more bytes than the header describes/);
    await expect(readSafetensorsStream(chunked(bytes.subarray(0, 5), 5).stream, 5, 'm.safetensors', () => {})).rejects.toThrow(/truncated/);
  });
});

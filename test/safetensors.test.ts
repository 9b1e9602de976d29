import { describe, expect, it } from 'vitest';
import {
  SafetensorsFile,
  decodeFloatTensor,
  f16ToF32,
  parseSafetensorsHeader,
  writeSafetensors,
} from '../src/engine/model/safetensors';
import { StudioError } from '../src/engine/errors';

/** Builds a file from a raw header object and a data section, for hostile cases. */
function rawFile(header: unknown, data: Uint8Array, lengthOverride?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthOverride ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function expectError(f: () => unknown, pattern: RegExp) {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(StudioError);
    expect((e as Error).message).toMatch(pattern);
    return;
  }
  throw new Error(`expected an error matching ${pattern}`);
}

describe('safetensors', () => {
  it('round-trips tensors and metadata', () => {
    const a = Float32Array.from([1, -2.5, 3.25, 1e-8, -0, 7]);
    const bytes = writeSafetensors(
      [
        { name: 'a', dtype: 'F32', shape: [2, 3], data: a },
        { name: 'b', dtype: 'U8', shape: [3], data: Uint8Array.of(1, 2, 3) },
      ],
      { format: 'pt' },
    );
    const f = new SafetensorsFile(bytes, 'x.safetensors');
    expect(f.names.sort()).toEqual(['a', 'b']);
    expect(f.entry('a').shape).toEqual([2, 3]);
    expect([...f.float32('a')]).toEqual([...a]);
    expect([...f.rawBytes('b')]).toEqual([1, 2, 3]);
    expect(f.header.metadata).toEqual({ format: 'pt' });
    expect((f.header.dataStart) % 8).toBe(0);
  });

  it('decodes F16 and BF16', () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x0001)).toBeCloseTo(5.960464477539063e-8, 20);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
    const f16 = Uint8Array.of(0x00, 0x3c, 0x00, 0xc0, 0x55, 0x35);
    expect([...decodeFloatTensor(f16, 'F16', 't')]).toEqual([1, -2, f16ToF32(0x3555)]);
    // bf16 of 1.0 is 0x3f80, of -3.0 is 0xc040
    const bf16 = Uint8Array.of(0x80, 0x3f, 0x40, 0xc0);
    expect([...decodeFloatTensor(bf16, 'BF16', 't')]).toEqual([1, -3]);
  });

  it('refuses a truncated file', () => {
    expectError(() => new SafetensorsFile(Uint8Array.of(1, 2, 3), 'm.safetensors'), /m\.safetensors: file is truncated/);
    const good = writeSafetensors([{ name: 'a', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
    expectError(() => new SafetensorsFile(good.subarray(0, good.length - 3)), /data section is \d+ bytes but the tensors cover 16 bytes|out of range/);
  });

  it('refuses a header length beyond the file', () => {
    const f = rawFile({}, new Uint8Array(0), 1000n);
    expectError(() => new SafetensorsFile(f), /header length 1000 goes beyond the end of the file/);
    expectError(() => new SafetensorsFile(rawFile({}, new Uint8Array(0), 1n << 60n)), /exceeds the 100000000-byte limit/);
  });

  it('refuses a header that is not JSON', () => {
    const bad = new Uint8Array(8 + 4);
    new DataView(bad.buffer).setBigUint64(0, 4n, true);
    bad.set(new TextEncoder().encode('{no}'), 8);
    expectError(() => new SafetensorsFile(bad), /header is not valid UTF-8 JSON/);
  });

  it('refuses offsets out of range', () => {
    const f = rawFile({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8));
    expectError(() => new SafetensorsFile(f), /tensor "a": data_offsets \[0, 16\] are out of range \(data section is 8 bytes\)/);
  });

  it('refuses overlapping tensors', () => {
    const f = rawFile(
      {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
      },
      new Uint8Array(12),
    );
    expectError(() => new SafetensorsFile(f), /tensor "b" overlaps the previous tensor/);
  });

  it('refuses gaps and an unknown dtype', () => {
    const gap = rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8));
    expectError(() => new SafetensorsFile(gap), /gap in the data section before tensor "a"/);
    const dt = rawFile({ a: { dtype: 'F8_E9', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1));
    expectError(() => new SafetensorsFile(dt), /tensor "a": unknown dtype "F8_E9"/);
  });

  it('refuses a shape that does not match the byte size', () => {
    const f = rawFile({ a: { dtype: 'F32', shape: [3, 3], data_offsets: [0, 32] } }, new Uint8Array(32));
    expectError(() => new SafetensorsFile(f), /shape \[3, 3\] of F32 needs 36 bytes but data_offsets give 32/);
    const neg = rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, new Uint8Array(4));
    expectError(() => new SafetensorsFile(neg), /shape \[-1\] is not a list of non-negative integers/);
  });

  it('names a missing tensor', () => {
    const f = new SafetensorsFile(writeSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: new Float32Array(1) }]), 'w.safetensors');
    expectError(() => f.float32('model.norm.weight'), /w\.safetensors: missing tensor "model\.norm\.weight"/);
  });

  it('refuses integer tensors as weights', () => {
    const f = new SafetensorsFile(writeSafetensors([{ name: 'a', dtype: 'U8', shape: [2], data: new Uint8Array(2) }]));
    expectError(() => f.float32('a'), /dtype U8 cannot be used as model weights/);
  });

  it('parses a header from a prefix of the file (for range requests)', () => {
    const bytes = writeSafetensors([{ name: 'a', dtype: 'F32', shape: [1000], data: new Float32Array(1000) }]);
    const len = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const h = parseSafetensorsHeader(bytes.subarray(0, 8 + len), bytes.length);
    expect(h.tensors.get('a')!.end).toBe(4000);
  });
});

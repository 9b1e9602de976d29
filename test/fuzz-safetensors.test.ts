/**
 * Mutation fuzzing of the safetensors reader: every mutated file must load or be refused
 * with a StudioError, quickly, without allocating more than the file justifies.
 * Larger run: FUZZ_CASES=100000 npx vitest run test/fuzz-safetensors
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DTYPE_BYTES,
  SafetensorsFile,
  parseSafetensorsHeader,
  writeSafetensors,
  type TensorToWrite,
} from '../src/engine/model/safetensors';
import { StudioError } from '../src/engine/errors';
import { Campaign, Rng, clone, deepNest, fuzzCases, fuzzSeed, interestingValue, mutateJson, mutateJsonText } from './support/fuzz';
import { BUNDLED_MODEL_DIR } from './support/paths';

const DTYPES = [...Object.keys(DTYPE_BYTES), 'F8_E4M3', 'f32', 'float32', '', 'BF16 ', 'Q4', 'U128'];

interface Base {
  header: Record<string, unknown>;
  data: Uint8Array;
}

function splitFile(bytes: Uint8Array): Base {
  const len = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len))) as Record<string, unknown>;
  return { header, data: bytes.subarray(8 + len) };
}

function assemble(headerText: string, data: Uint8Array, pad: boolean): Uint8Array {
  let text = headerText;
  const enc = new TextEncoder();
  if (pad) while (enc.encode(text).byteLength % 8 !== 0) text += ' ';
  const json = enc.encode(text);
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

function randomValidFile(r: Rng): Uint8Array {
  const tensors: TensorToWrite[] = [];
  const n = r.int(5);
  for (let i = 0; i < n; i++) {
    const dtype = r.pick(['F32', 'F32', 'F16', 'BF16', 'U8', 'I32'] as const);
    const shape = Array.from({ length: r.int(4) }, () => r.int(5));
    const count = shape.reduce((a, b) => a * b, 1);
    const data =
      dtype === 'F32'
        ? Float32Array.from({ length: count }, () => r.next() * 4 - 2)
        : Uint8Array.from({ length: count * DTYPE_BYTES[dtype] }, () => r.int(256));
    tensors.push({ name: r.pick([`t${i}`, `model.layers.${i}.weight`, `\u2581${i}`, `w.${i}`]), dtype, shape, data });
  }
  const metadata = r.chance(0.5) ? { format: 'pt', note: r.pick(['', 'x', '\u2581']) } : undefined;
  return writeSafetensors(tensors, metadata);
}

function entries(h: Record<string, unknown>): [string, Record<string, unknown>][] {
  return Object.entries(h).filter(([k, v]) => k !== '__metadata__' && typeof v === 'object' && v !== null && !Array.isArray(v)) as [
    string,
    Record<string, unknown>,
  ][];
}

/** A safetensors-aware mutation of the header object (returns the new root). */
function mutateHeader(h: Record<string, unknown>, r: Rng): unknown {
  const es = entries(h);
  const e = es.length > 0 ? r.pick(es)[1] : null;
  switch (r.int(12)) {
    case 0:
      if (e) e.dtype = r.pick(DTYPES);
      return h;
    case 1:
      if (e && Array.isArray(e.shape)) {
        const dims = e.shape as unknown[];
        const v = r.pick([2 ** 53, 2 ** 53 - 1, 2 ** 32, 1e300, -1, -(2 ** 31), 0.5, 1.5, '4', null, true, [2], {}, 0, 1, 2 ** 26]);
        if (dims.length > 0 && r.chance(0.7)) dims[r.int(dims.length)] = v;
        else dims.push(v);
      } else if (e) e.shape = interestingValue(r);
      return h;
    case 2: // shape whose product overflows or wraps
      if (e) e.shape = r.pick([[2 ** 32, 2 ** 32], [2 ** 26, 2 ** 26, 2 ** 26], [2 ** 53 - 1, 2], [0, 2 ** 53 - 1], [65536, 65536, 0], Array(100).fill(2), [1e308, 1e308]]);
      return h;
    case 3: // offsets: reversed, overlapping, out of range, non-integers
      if (e && Array.isArray(e.data_offsets)) {
        const [b, en] = e.data_offsets as number[];
        e.data_offsets = r.pick([
          [en, b], [0, en], [b, (en ?? 0) + 1], [b, 2 ** 53], [2 ** 53 - 8, 2 ** 53], [-4, en], [b, en, 0], [b], [b + 0.5, en], [String(b), en], [b, 2 ** 64], [b - 4, (en ?? 0) - 4],
        ]);
      }
      return h;
    case 4: // two tensors share a range
      if (es.length >= 2) {
        const [a, c] = [r.pick(es)[1], r.pick(es)[1]];
        a.data_offsets = clone(c.data_offsets);
        if (r.chance(0.5)) a.shape = clone(c.shape);
        if (r.chance(0.5)) a.dtype = c.dtype;
      }
      return h;
    case 5: // valid reshape with the same element count
      if (e && Array.isArray(e.shape)) {
        const count = (e.shape as number[]).reduce((x, y) => x * y, 1);
        e.shape = r.pick([[count], [1, count], [count, 1, 1], []]).filter(() => true);
        if ((e.shape as number[]).length === 0 && count !== 1) e.shape = [count];
      }
      return h;
    case 6: // non-object entry / header
      if (r.chance(0.3)) return r.pick([[], [h], 'header', 42, null, true]);
      if (e) h[r.pick(es)[0]] = r.pick([null, 1, 'F32', [], [e], e.dtype]);
      return h;
    case 7: // __metadata__ with non-strings
      h.__metadata__ = r.pick([null, 1, 'meta', [], { a: 1 }, { a: null }, { a: ['x'] }, { a: { b: 'c' } }, { __proto__: 'x' }, { a: 'ok' }, deepNest(1000, 'x', false)]);
      return h;
    case 8: // deep nesting somewhere
      if (e) (e as Record<string, unknown>)[r.pick(['shape', 'dtype', 'data_offsets', 'extra'])] = deepNest(r.pick([100, 1000]), r.pick([1, 'x', null]), r.chance(0.5));
      else h.x = deepNest(1000, 1, true);
      return h;
    case 9: // many extra zero-size tensors
      for (let i = 0; i < r.pick([1, 10, 1000]); i++) h[`z${i}`] = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };
      return h;
    case 10: // a big tensor the data cannot hold
      h[`big${r.int(9)}`] = { dtype: r.pick(['F32', 'BF16', 'F64']), shape: r.pick([[2 ** 20, 2 ** 10], [2 ** 30], [1e9]]), data_offsets: r.pick([[0, 4 * 2 ** 30], [0, 2 ** 32]]) };
      return h;
    default:
      return mutateJson(h, r, [...DTYPES, [0, 4], [4, 0], [1, 2, 3]], ['dtype', 'shape', 'data_offsets', '__metadata__']);
  }
}

const HUGE_LENGTHS = [0n, 1n, 2n, 7n, 8n, 100_000_000n, 100_000_001n, 2n ** 31n, 2n ** 32n, 2n ** 32n + 8n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];

function mutateFile(base: Base, baseBytes: Uint8Array, r: Rng): Uint8Array {
  const headerLen = baseBytes.byteLength - base.data.byteLength - 8;
  switch (r.int(6)) {
    case 0: {
      // byte flips, mostly in the prefix and header
      const b = baseBytes.slice();
      const n = r.range(1, 8);
      for (let i = 0; i < n; i++) {
        const at = r.chance(0.8) ? r.int(Math.min(b.length, 8 + headerLen)) : r.int(b.length);
        if (b.length > 0) b[at] = r.chance(0.5) ? b[at]! ^ (1 << r.int(8)) : r.int(256);
      }
      return b;
    }
    case 1:
      return baseBytes.slice(0, r.int(baseBytes.length + 1));
    case 2: {
      const extra = r.pick([1, 2, 4, 8, 100, r.int(5000)]);
      const b = new Uint8Array(baseBytes.length + extra);
      b.set(baseBytes);
      if (r.chance(0.5)) for (let i = baseBytes.length; i < b.length; i++) b[i] = r.int(256);
      return b;
    }
    case 3: {
      const b = baseBytes.slice();
      const len = BigInt(headerLen);
      const v = r.pick([...HUGE_LENGTHS, len + 1n, len - 1n, len + 8n, len - 8n, BigInt(b.length), BigInt(b.length - 8), BigInt(b.length - 7), BigInt(r.int(2 ** 30))]);
      new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
      return b;
    }
    default: {
      let h: unknown = clone(base.header);
      const n = r.range(1, 3);
      for (let i = 0; i < n; i++) h = typeof h === 'object' && h !== null && !Array.isArray(h) ? mutateHeader(h as Record<string, unknown>, r) : mutateJson(h, r);
      let text = JSON.stringify(h) ?? 'undefined';
      if (r.chance(0.3)) text = mutateJsonText(text, r);
      // Sometimes resize the data section to what the (mutated) offsets claim, when that is small.
      let data = base.data;
      if (r.chance(0.3) && typeof h === 'object' && h !== null && !Array.isArray(h)) {
        const ends = entries(h as Record<string, unknown>).map(([, e]) => (Array.isArray(e.data_offsets) ? Number(e.data_offsets[1]) : 0));
        const want = Math.max(0, ...ends.filter(Number.isFinite));
        if (want <= 4 * base.data.byteLength + 64) {
          data = new Uint8Array(want);
          data.set(base.data.subarray(0, want));
        }
      }
      return assemble(text, data, r.chance(0.7));
    }
  }
}

// Every Float32Array the reader allocates is recorded, to bound allocation by the file size.
const RealFloat32Array = globalThis.Float32Array;
let maxAllocated = 0;
let allocations = 0;
function watchAllocations(): void {
  globalThis.Float32Array = new Proxy(RealFloat32Array, {
    construct(target, args, newTarget) {
      const a = Reflect.construct(target, args, newTarget) as Float32Array;
      allocations++;
      if (a.length > maxAllocated) maxAllocated = a.length;
      return a;
    },
  });
}
afterEach(() => {
  globalThis.Float32Array = RealFloat32Array;
});

function checkFile(bytes: Uint8Array): void {
  const declared = bytes.byteLength >= 8 ? new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true) : null;
  maxAllocated = 0;
  let st: SafetensorsFile;
  try {
    st = new SafetensorsFile(bytes, 'fuzz.safetensors');
  } catch (e) {
    if (declared !== null && declared + 8n > BigInt(bytes.byteLength)) {
      // A header length beyond the file must be refused from the 8-byte prefix alone.
      if (!(e instanceof StudioError) || !/beyond the end of the file|exceeds the/.test(e.message)) {
        throw new Error(`invariant: header length ${declared} beyond a ${bytes.byteLength}-byte file was refused as: ${(e as Error).message}`);
      }
      let prefixRefused = false;
      try {
        parseSafetensorsHeader(bytes.subarray(0, 8), bytes.byteLength);
      } catch (e2) {
        prefixRefused = e2 instanceof StudioError && e2.message === e.message.replace('fuzz.safetensors', 'safetensors file');
      }
      if (!prefixRefused) throw new Error('invariant: the 8-byte prefix alone did not refuse an oversized header length');
    }
    throw e;
  }
  const again = parseSafetensorsHeader(bytes, bytes.byteLength);
  if (again.tensors.size !== st.header.tensors.size) throw new Error('invariant: parseSafetensorsHeader disagrees with SafetensorsFile');
  let covered = 0;
  for (const name of st.names) {
    const e = st.entry(name);
    covered += e.end - e.begin;
    try {
      const f = st.float32(name);
      const count = e.shape.reduce((a, b) => a * b, 1);
      if (f.length !== count) throw new Error(`invariant: tensor ${name} decoded ${f.length} values for shape [${e.shape}]`);
    } catch (err) {
      // Integer dtypes are refused as weights; that is a StudioError too.
      if (!(err instanceof StudioError) || !/cannot be used as model weights/.test(err.message)) throw err;
    }
  }
  if (st.header.dataStart + covered !== bytes.byteLength) throw new Error('invariant: tensors do not cover the data section');
  if (maxAllocated > bytes.byteLength / 2) throw new Error(`invariant: allocated a Float32Array of ${maxAllocated} for a ${bytes.byteLength}-byte file`);
}

describe('safetensors fuzzing', () => {
  it('every mutated file loads or is refused with a StudioError, in bounded time and memory', () => {
    const seed = fuzzSeed(0x5afe);
    const cases = fuzzCases(10_000);
    const r = new Rng(seed);
    const storiesBytes = new Uint8Array(readFileSync(path.join(BUNDLED_MODEL_DIR, 'model.safetensors')));
    const stories = splitFile(storiesBytes);
    const c = new Campaign('safetensors', seed);
    watchAllocations();
    for (let i = 0; i < cases; i++) {
      const fromStories = r.chance(0.12);
      const baseBytes = fromStories ? storiesBytes : randomValidFile(r);
      const base = fromStories ? stories : splitFile(baseBytes);
      const bytes = r.chance(0.03) ? baseBytes : mutateFile(base, baseBytes, r);
      c.run(i, () => checkFile(bytes));
    }
    globalThis.Float32Array = RealFloat32Array;
    console.log(`[fuzz] safetensors: ${allocations} Float32Arrays allocated while decoding, each within file bytes / 2`);
    c.assertClean(1000);
    expect(allocations).toBeGreaterThan(0);
    expect(c.cases).toBe(cases);
    expect(c.loaded).toBeGreaterThan(0);
    expect(c.refused).toBeGreaterThan(0);
  });
});

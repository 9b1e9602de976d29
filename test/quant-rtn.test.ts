/**
 * RTN on hand-computed cases for every mode, the packed (MatMulNBits) byte layout on a hand
 * example, pack/unpack round trips for every bit width, and L4Q's signed-integer entry.
 */
import { describe, expect, it } from 'vitest';
import { StudioError } from '../src/engine/errors';
import { dequantize, packedBytes, packLinear, packSigned, unpackCodes, zeroPoints } from '../src/engine/quant/pack';
import { roundHalfEven, rtnQuantize } from '../src/engine/quant/rtn';
import { randomArray } from './support/webgpu';

const f = (a: number[]) => Float32Array.from(a);

describe('round half to even', () => {
  it('rounds ties to the even neighbour and everything else to nearest', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6, -2.6, 3].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, -2, 2, 3, -3, 3]);
  });
});

describe('RTN by hand', () => {
  it('asymmetric 4-bit per channel: min-max scale, integer zero point, half-to-even tie', () => {
    // lo = −1, hi = 2, scale = f32(3/15) = f32(0.2), z = round(1/0.2) = 5.
    // 0.5/0.2 is the float32 2.5 exactly → half-to-even gives 2 (half-away would give 3).
    const p = rtnQuantize(f([-1, 0, 0.5, 2]), 1, 4, { bits: 4, groupSize: null, symmetric: false });
    expect(p.blockSize).toBe(4);
    expect(p.scales[0]).toBe(Math.fround(0.2));
    expect(Array.from(zeroPoints(p))).toEqual([5]);
    expect(Array.from(unpackCodes(p))).toEqual([0, 5, 7, 15]);
    expect(Array.from(dequantize(p))).toEqual([-1, 0, 2 * Math.fround(0.2), 2].map(Math.fround));
  });

  it('asymmetric range always holds 0; an all-zero group decodes to 0', () => {
    // Positive-only group: lo forced to 0, so z = 0 and scale = max/maxq.
    const p = rtnQuantize(f([1, 3, 0, 0, 0, 0]), 1, 6, { bits: 2, groupSize: 3, symmetric: false });
    expect(p.kBlocks).toBe(2);
    expect(Array.from(p.scales)).toEqual([1, Math.fround(2 / 3)]); // second group: GPTQ's lo = −1, hi = 1
    expect(Array.from(zeroPoints(p))).toEqual([0, 2]); // round(1.5) = 2 (half-to-even)
    expect(Array.from(unpackCodes(p))).toEqual([1, 3, 0, 2, 2, 2]);
    expect(Array.from(dequantize(p))).toEqual([1, 3, 0, 0, 0, 0]);
  });

  it('symmetric 4-bit: scale = e/−8 with e the signed extreme, z = 8 implicit', () => {
    const p = rtnQuantize(f([0.5, -2, 1, 0.25]), 1, 4, { bits: 4, groupSize: null, symmetric: true });
    expect(p.qzeros).toBeNull();
    expect(p.fzeros).toBeNull();
    expect(Array.from(p.scales)).toEqual([0.25]);
    expect(Array.from(unpackCodes(p))).toEqual([10, 0, 12, 9]);
    expect(Array.from(dequantize(p))).toEqual([0.5, -2, 1, 0.25]);
    // Positive extreme: negative scale; the extreme still maps to code 0.
    const q = rtnQuantize(f([2, -1]), 1, 2, { bits: 4, groupSize: null, symmetric: true });
    expect(Array.from(q.scales)).toEqual([-0.25]);
    expect(Array.from(unpackCodes(q))).toEqual([0, 12]);
    expect(Array.from(dequantize(q))).toEqual([2, -1]);
    // Opposite extreme of equal size clips one step short.
    const c = rtnQuantize(f([-2, 2]), 1, 2, { bits: 4, groupSize: null, symmetric: true });
    expect(Array.from(dequantize(c))).toEqual([-2, 1.75]);
  });

  it("symmetric, GPTQ's rule: scale = 2·max|w|/maxq, z = 8, the positive extreme clipped", () => {
    const p = rtnQuantize(f([1.5, -3, 3.5, 0]), 1, 4, { bits: 4, groupSize: null, symmetric: true, symmetricRule: 'gptq' });
    const s = Math.fround(7 / 15);
    expect(Array.from(p.scales)).toEqual([s]);
    expect(p.qzeros).toBeNull();
    expect(Array.from(unpackCodes(p))).toEqual([11, 2, 15, 8]);
    expect(Array.from(dequantize(p))).toEqual([3 * s, -6 * s, 7 * s, 0].map(Math.fround));
    expect(() => rtnQuantize(f([1]), 1, 1, { bits: 4, groupSize: null, symmetric: true, symmetricRule: 'x' as 'gptq' })).toThrow(/mlas or gptq/);
  });

  it('symmetric 3-bit per group of 2 with a short last group', () => {
    // groups [4, −1] [0.5, 0.5] [−3]: e = 4, 0.5, −3 → scales −1, −0.125, 0.75; z = 4.
    const p = rtnQuantize(f([4, -1, 0.5, 0.5, -3]), 1, 5, { bits: 3, groupSize: 2, symmetric: true });
    expect(p.kBlocks).toBe(3);
    expect(p.blobSize).toBe(1); // 2 codes × 3 bits
    expect(Array.from(p.scales)).toEqual([-1, -0.125, 0.75]);
    expect(Array.from(unpackCodes(p))).toEqual([0, 5, 0, 0, 0]);
    expect(Array.from(dequantize(p))).toEqual([4, -1, 0.5, 0.5, -3]);
  });

  it('8-bit asymmetric per group of 32 reproduces random weights to half a step', () => {
    const w = randomArray(4 * 96, 7, 0.1);
    const p = rtnQuantize(w, 4, 96, { bits: 8, groupSize: 32, symmetric: false });
    const d = dequantize(p);
    for (let i = 0; i < w.length; i++) {
      const s = p.scales[Math.floor(i / 96) * 3 + Math.floor((i % 96) / 32)]!;
      expect(Math.abs(d[i]! - w[i]!)).toBeLessThanOrEqual(s / 2 + 1e-9);
    }
  });

  it('a group larger than the row is the whole row (per-channel, no padding)', () => {
    const w = randomArray(2 * 64, 3);
    const g = rtnQuantize(w, 2, 64, { bits: 4, groupSize: 128, symmetric: false });
    const c = rtnQuantize(w, 2, 64, { bits: 4, groupSize: null, symmetric: false });
    expect(g.blockSize).toBe(64);
    expect(g.qweight).toEqual(c.qweight);
    expect(g.scales).toEqual(c.scales);
    expect(packedBytes(g)).toBe(2 * 32 + 2 * 4 + 2);
  });

  it('rejects bad settings with a StudioError', () => {
    const w = f([1, 2]);
    expect(() => rtnQuantize(w, 1, 2, { bits: 1, groupSize: null, symmetric: true })).toThrow(StudioError);
    expect(() => rtnQuantize(w, 1, 2, { bits: 9, groupSize: null, symmetric: true })).toThrow(/bits must be an integer from 2 to 8/);
    expect(() => rtnQuantize(w, 1, 2, { bits: 4, groupSize: 0, symmetric: true })).toThrow(/group size/);
    expect(() => rtnQuantize(w, 1, 3, { bits: 4, groupSize: null, symmetric: true })).toThrow(/2 values for a \[1, 3\]/);
  });
});

describe('packed layout', () => {
  it('4-bit: low nibble first per block, packed zero points block 2j low / 2j+1 high (hand example)', () => {
    const p = packLinear({
      rows: 2,
      cols: 6,
      bits: 4,
      blockSize: 4,
      codes: Uint8Array.from([1, 2, 3, 4, 5, 6, 15, 14, 13, 12, 11, 10]),
      scales: f([1, 2, 3, 4]),
      zeros: Uint8Array.from([5, 6, 7, 9]),
    });
    expect(p.kBlocks).toBe(2);
    expect(p.blobSize).toBe(2);
    // Row 0: block 0 = codes 1 2 3 4, block 1 = 5 6 + two pads with z = 6.
    // Row 1: block 0 = 15 14 13 12, block 1 = 11 10 + pads with z = 9.
    expect(Array.from(p.qweight)).toEqual([0x21, 0x43, 0x65, 0x66, 0xef, 0xcd, 0xab, 0x99]);
    expect(Array.from(p.qzeros!)).toEqual([0x65, 0x97]);
    expect(Array.from(dequantize(p))).toEqual([-4, -3, -2, -1, -2, 0, 24, 21, 18, 15, 8, 4]);
    expect(packedBytes(p)).toBe(8 + 16 + 2);
  });

  it('2-bit and 8-bit codes: four per byte lowest first, one per byte', () => {
    const two = packLinear({ rows: 1, cols: 4, bits: 2, blockSize: 4, codes: Uint8Array.from([1, 2, 3, 0]), scales: f([1]), zeros: null });
    expect(Array.from(two.qweight)).toEqual([0b00111001]);
    const eight = packLinear({ rows: 1, cols: 2, bits: 8, blockSize: 2, codes: Uint8Array.from([200, 7]), scales: f([1]), zeros: Uint8Array.from([128]) });
    expect(Array.from(eight.qweight)).toEqual([200, 7]);
    expect(Array.from(eight.qzeros!)).toEqual([128]);
  });

  it('round trip of codes and zero points for every bit width and odd block sizes', () => {
    let seed = 11;
    for (let bits = 2; bits <= 8; bits++) {
      for (const [cols, bs] of [[7, 3], [37, 16], [40, 40], [5, 8]] as const) {
        const rows = 3;
        const kb = Math.ceil(cols / bs);
        const maxq = (1 << bits) - 1;
        const codes = Uint8Array.from(randomArray(rows * cols, seed++), (u) => Math.floor(((u + 1) / 2) * (maxq + 1)) & maxq);
        const zeros = Uint8Array.from(randomArray(rows * kb, seed++), (u) => Math.floor(((u + 1) / 2) * (maxq + 1)) & maxq);
        const scales = randomArray(rows * kb, seed++);
        const p = packLinear({ rows, cols, bits, blockSize: Math.min(bs, cols), codes, scales, zeros });
        expect(p.qweight.length).toBe(rows * kb * Math.ceil((Math.min(bs, cols) * bits) / 8));
        expect(unpackCodes(p)).toEqual(codes);
        expect(Array.from(zeroPoints(p))).toEqual(Array.from(zeros));
        const d = dequantize(p);
        for (let n = 0; n < rows; n++) for (let k = 0; k < cols; k++) {
          const g = n * kb + Math.floor(k / Math.min(bs, cols));
          expect(d[n * cols + k]).toBe(Math.fround((codes[n * cols + k]! - zeros[g]!) * scales[g]!));
        }
      }
    }
  });

  it('refuses codes that do not fit the bit width', () => {
    expect(() => packLinear({ rows: 1, cols: 2, bits: 3, blockSize: 2, codes: Uint8Array.from([1, 8]), scales: f([1]), zeros: null })).toThrow(/code 8 .* does not fit 3 bits/);
  });
});

describe('L4Q merge entry (packSigned)', () => {
  it('signed q with step only: u = q + 8, no zero points stored, Ŵ = s·q', () => {
    const p = packSigned({ rows: 1, cols: 4, bits: 4, groupSize: 2, q: Int8Array.from([-8, 7, 0, -1]), step: f([0.5, 2]), offset: f([0, 0]) });
    expect(p.qzeros).toBeNull();
    expect(p.fzeros).toBeNull();
    expect(Array.from(unpackCodes(p))).toEqual([0, 15, 8, 7]);
    expect(Array.from(dequantize(p))).toEqual([-4, 3.5, 0, -2]);
  });

  it('with offsets: float zero points z = −Q_n − b/s so that (u − z)·s = s·q + b', () => {
    const step = f([0.5, 0.25]);
    const offset = f([0.1, -0.3]);
    const q = Int8Array.from([-4, 3, 1, -2]);
    const p = packSigned({ rows: 1, cols: 4, bits: 3, groupSize: 2, q, step, offset });
    expect(p.fzeros).not.toBeNull();
    const d = dequantize(p);
    for (let i = 0; i < 4; i++) expect(d[i]).toBeCloseTo(step[i >> 1]! * q[i]! + offset[i >> 1]!, 6);
    expect(() => packSigned({ rows: 1, cols: 2, bits: 3, groupSize: 2, q: Int8Array.from([4, 0]), step: f([1]), offset: null })).toThrow(/outside \[-4, 3\]/);
  });
});

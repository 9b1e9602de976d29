import { describe, expect, it } from 'vitest';
import { encodeF16, encodeF16Exact, f16ToF32, f32ToF16 } from '../src/engine/half';
import { randomArray } from './support/webgpu';

describe('binary16 encoding', () => {
  it('round-trips every half value bit for bit', () => {
    for (let h = 0; h < 0x10000; h++) {
      const x = f16ToF32(h);
      if (Number.isNaN(x)) expect(Number.isNaN(f16ToF32(f32ToF16(x)))).toBe(true);
      else expect(f32ToF16(x)).toBe(h);
    }
  });

  it('rounds to the nearest half, ties to even', () => {
    // Between two consecutive positive halves: below the midpoint rounds down, above rounds up,
    // the midpoint goes to the even pattern.
    for (const h of [0x0001, 0x0002, 0x03fe, 0x0400, 0x3c00, 0x3c01, 0x7000, 0x7bfe]) {
      const lo = f16ToF32(h);
      const hi = f16ToF32(h + 1);
      const mid = (lo + hi) / 2;
      expect(f32ToF16(Math.fround(lo + (hi - lo) * 0.25))).toBe(h);
      expect(f32ToF16(Math.fround(lo + (hi - lo) * 0.75))).toBe(h + 1);
      expect(f32ToF16(mid)).toBe(h % 2 === 0 ? h : h + 1);
      expect(f32ToF16(-mid)).toBe(0x8000 | (h % 2 === 0 ? h : h + 1));
    }
  });

  it('is the nearest half for random floats of every magnitude', () => {
    const xs = randomArray(20000, 7, 1);
    for (let i = 0; i < xs.length; i++) {
      const x = Math.fround(xs[i]! * 2 ** ((i % 40) - 28));
      const h = f32ToF16(x);
      const err = Math.abs(f16ToF32(h) - x);
      const up = f16ToF32((h & 0x7fff) + 1) * Math.sign(x || 1);
      const down = (h & 0x7fff) > 0 ? f16ToF32((h & 0x7fff) - 1) * Math.sign(x || 1) : 0;
      expect(err).toBeLessThanOrEqual(Math.abs(up - x));
      expect(err).toBeLessThanOrEqual(Math.abs(down - x));
    }
  });

  it('overflows to infinity, keeps signed zero, NaN and infinities', () => {
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00);
    expect(f32ToF16(1e10)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(1e-9)).toBe(0);
    expect(Number.isNaN(f16ToF32(f32ToF16(NaN)))).toBe(true);
    const over: number[] = [];
    encodeF16(new Float32Array([1, 70000, -2, Infinity]), (i) => over.push(i));
    expect(over).toEqual([1]);
  });

  it('encodes exactly only when nothing is lost', () => {
    expect(encodeF16Exact(new Float32Array([0.5, -3, 1024, 2 ** -24]))).not.toBeNull();
    expect(encodeF16Exact(new Float32Array([0.5, 0.1]))).toBeNull();
    expect(encodeF16Exact(new Float32Array([1e-8]))).toBeNull();
  });
});

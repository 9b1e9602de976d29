/**
 * RTN against an independent implementation: test/fixtures/rtn-reference.json holds small
 * random matrices rounded by bench/quant-rtn-reference.py (NumPy float32, np.round half to
 * even, written from docs/methods/rtn.md#rules / GPTQ, not from rtn.ts) for 2–8 bits, symmetric
 * (ONNX Runtime's and GPTQ's scale rules) and asymmetric, groups of 32/64/128 and per channel. The packed model must dequantize to
 * exactly the same float32 values.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dequantize } from '../src/engine/quant/pack';
import { rtnQuantize } from '../src/engine/quant/rtn';
import { REPO_ROOT } from './support/paths';

interface Fixture {
  rows: number;
  cols: number;
  weights: number[];
  cases: { bits: number; symmetric: boolean; symmetricRule?: 'gptq'; groupSize: number | null; dequantized: number[] }[];
}
const fx = JSON.parse(readFileSync(path.join(REPO_ROOT, 'test/fixtures/rtn-reference.json'), 'utf8')) as Fixture;

describe('RTN equals the NumPy reference', () => {
  it.each(fx.cases.map((c) => [`${c.bits}-bit ${c.symmetric ? `sym (${c.symmetricRule ?? 'mlas'})` : 'asym'} group ${c.groupSize ?? 'channel'}`, c] as const))('%s', (_, c) => {
    const p = rtnQuantize(Float32Array.from(fx.weights), fx.rows, fx.cols, { bits: c.bits, groupSize: c.groupSize, symmetric: c.symmetric, symmetricRule: c.symmetricRule });
    const got = Array.from(dequantize(p), (v) => (v === 0 ? 0 : v)); // −0 and 0 are the same weight
    expect(got).toEqual(c.dequantized.map((v) => (v === 0 ? 0 : v)));
  });
});

/**
 * Hand-computed cases for every score and selection rule: ties, odd sizes, N:M blocks,
 * the per-matrix threshold, Wanda's variant search, FLAP's metrics, standardization,
 * structure thresholds and head costs.
 */
import { describe, expect, it } from 'vitest';
import { ChannelStats } from '../src/engine/calibrate';
import type { HostTensor } from '../src/engine/model/weights';
import { alAmThreshold, attentionUnits, f16round, flapChannelScores, standardize } from '../src/engine/prune/flap';
import { magnitudeMask } from '../src/engine/prune/magnitude';
import { nmMask, parsePattern } from '../src/engine/prune/nm';
import { countOnes, matrixThresholdMask, rowLowestMask } from '../src/engine/prune/select';
import { wandaMask, wandaScores, wandaVariantMask } from '../src/engine/prune/wanda';

const t = (rows: number[][]): HostTensor => ({ shape: [rows.length, rows[0]!.length], data: Float32Array.from(rows.flat()) });
const ones = (m: Uint8Array, cols: number) => Array.from({ length: m.length / cols }, (_, r) => [...m.subarray(r * cols, (r + 1) * cols)]);

describe('per-row lowest k (Wanda, magnitude per row)', () => {
  it('prunes exactly k per row, ties in column order (stable sort)', () => {
    const s = Float32Array.from([1, 0, 1, 0, 2, /**/ 3, 3, 3, 3, 3]);
    expect(ones(rowLowestMask(s, 2, 5, 2), 5)).toEqual([
      [0, 1, 0, 1, 0],
      [1, 1, 0, 0, 0],
    ]);
    expect(ones(rowLowestMask(s, 2, 5, 3), 5)).toEqual([
      [1, 1, 0, 1, 0],
      [1, 1, 1, 0, 0],
    ]);
  });

  it('the comparator path (negative scores) follows the same rule', () => {
    const s = Float32Array.from([-1, 2, -1, 0]);
    expect(ones(rowLowestMask(s, 1, 4, 1), 4)).toEqual([[1, 0, 0, 0]]);
  });

  it('odd sizes: ⌊p·in⌋ per row', () => {
    const w = t([
      [7, 6, 5, 4, 3, 2, 1],
      [-1, 2, -3, 4, -5, 6, -7],
    ]);
    const m = magnitudeMask(w, { sparsity: 0.5, pattern: 'unstructured', granularity: 'row' });
    expect(ones(m, 7)).toEqual([
      [0, 0, 0, 0, 1, 1, 1],
      [1, 1, 1, 0, 0, 0, 0],
    ]);
  });
});

describe('per-matrix threshold (magnitude, official)', () => {
  it('prunes |W| ≤ the value at index ⌊numel·p⌋ of the ascending sort (k + 1 weights)', () => {
    const { mask, threshold } = matrixThresholdMask(Float32Array.from([0.1, 0.5, 0.2, 0.25, 0.9, 0.3]), 0.5);
    expect(threshold).toBeCloseTo(0.3, 6);
    expect([...mask]).toEqual([1, 0, 1, 1, 0, 1]);
  });

  it('includes every tie with the threshold', () => {
    expect(countOnes(matrixThresholdMask(Float32Array.from([1, 1, 1, 1]), 0.25).mask)).toBe(4);
    expect(countOnes(matrixThresholdMask(Float32Array.from([1, 2, 2, 3]), 0.25).mask)).toBe(3);
    expect(countOnes(matrixThresholdMask(Float32Array.from([1, 2, 3]), 0).mask)).toBe(0);
  });

  it('uses |W|', () => {
    const m = magnitudeMask(t([[-4, 1, -2, 3]]), { sparsity: 0.25, pattern: 'unstructured', granularity: 'matrix' });
    expect([...m]).toEqual([0, 1, 1, 0]);
  });
});

describe('N:M', () => {
  it('parses patterns', () => {
    expect(parsePattern('2:4')).toEqual({ n: 2, m: 4 });
    expect(parsePattern('unstructured')).toBe('unstructured');
    expect(() => parsePattern('5:4')).toThrow(/N ≤ M/);
    expect(() => parsePattern('half')).toThrow(/N:M/);
  });

  it('prunes the N lowest of each M-block, ties in index order', () => {
    const s = [4, 1, 3, 2, /**/ 5, 5, 5, 5];
    expect([...nmMask(s, 1, 8, { n: 2, m: 4 })]).toEqual([0, 1, 0, 1, 1, 1, 0, 0]);
  });

  it('partial last block: the N lowest of what remains (all of it at 4:8 with 4 left)', () => {
    const s = Array.from({ length: 12 }, (_, i) => 12 - i);
    // Block [0, 8): lowest four are columns 4…7; block [8, 12): 4 columns, all pruned.
    expect([...nmMask(s, 1, 12, { n: 4, m: 8 })]).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    // 2:4 over 6 columns: last block has 2 columns, both pruned; 3:4 over 5: last block of 1.
    expect([...nmMask([1, 2, 3, 4, 9, 8], 1, 6, { n: 2, m: 4 })]).toEqual([1, 1, 0, 0, 1, 1]);
    expect([...nmMask([1, 2, 3, 4, 9], 1, 5, { n: 3, m: 4 })]).toEqual([1, 1, 1, 0, 1]);
  });

  it('works on magnitudes', () => {
    expect([...magnitudeMask(t([[-4, 1, -2, 3]]), { sparsity: 0.5, pattern: '2:4', granularity: 'matrix' })]).toEqual([0, 1, 1, 0]);
  });
});

describe('Wanda', () => {
  it('scores |W|·√scaler per input column, compared within rows', () => {
    const w = t([
      [1, -2],
      [3, 4],
    ]);
    const scaler = Float32Array.from([4, 1]);
    expect([...wandaScores(w, scaler)]).toEqual([2, 2, 6, 4]);
    // Row 0 ties (2, 2): column 0 goes first; row 1: column 1 (4 < 6).
    expect([...wandaMask(w, scaler, { sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false }).mask]).toEqual([1, 0, 0, 1]);
    // Pure magnitude would have pruned column 0 in both rows.
    expect([...magnitudeMask(w, { sparsity: 0.5, pattern: 'unstructured', granularity: 'row' })]).toEqual([1, 0, 1, 0]);
  });

  it('variant: α from the official binary search', () => {
    // Scores 1,2,3,4 (total 10). p = 0.5: α = 0.4 → cumulative ≤ 4 → prune {1, 2} → 50 %: done.
    const s = Float32Array.from([1, 2, 3, 4]);
    let r = wandaVariantMask(s, 1, 4, 0.5);
    expect(r.alpha).toBe(0.4);
    expect([...r.mask]).toEqual([1, 1, 0, 0]);
    // p = 0.25: α = 0.4 gives 50 % > 25 % → α = 0.2 → cumulative ≤ 2 → prune {1} → 25 %.
    r = wandaVariantMask(s, 1, 4, 0.25);
    expect(r.alpha).toBe(0.2);
    expect([...r.mask]).toEqual([1, 0, 0, 0]);
    // Rows get different counts: row totals 10 and 40, α = 0.4.
    r = wandaVariantMask(Float32Array.from([1, 2, 3, 4, 1, 1, 1, 37]), 2, 4, 0.625);
    expect(r.alpha).toBe(0.4);
    expect([...r.mask]).toEqual([1, 1, 0, 0, 1, 1, 1, 0]);
  });
});

function statsWith(fields: { fluc?: number[]; scaler?: number[]; mean?: number[] }): ChannelStats {
  const n = (fields.fluc ?? fields.scaler ?? fields.mean)!.length;
  const st = new ChannelStats(n);
  if (fields.fluc) st.flapFluc.set(fields.fluc);
  if (fields.scaler) st.scaler.set(fields.scaler);
  if (fields.mean) st.flapMean.set(fields.mean);
  return st;
}

describe('FLAP', () => {
  const w = t([
    [1, -2, 0],
    [2, 2, -3],
  ]);

  it('IFV = fluctuation, WIFV = fluctuation · Σ_i W_ij², WIFN = mean_i |W_ij|·√S_j', () => {
    const st = statsWith({ fluc: [2, 3, 5], scaler: [4, 9, 1] });
    expect([...flapChannelScores(w, st, 'IFV', 'official')]).toEqual([2, 3, 5]);
    expect([...flapChannelScores(w, st, 'WIFV', 'official')]).toEqual([2 * 5, 3 * 8, 5 * 9]);
    expect([...flapChannelScores(w, st, 'WIFN', 'official')]).toEqual([(1 * 2 + 2 * 2) / 2, (2 * 3 + 2 * 3) / 2, (0 + 3) / 2]);
  });

  it('standardizes with the unbiased std (constant rows → 0)', () => {
    expect([...standardize(Float32Array.from([1, 2, 3]))]).toEqual([-1, 0, 1]);
    const z = standardize(Float32Array.from([0, 0, 0, 4]));
    // mean 1, std √(12/3) = 2.
    expect([...z]).toEqual([-0.5, -0.5, -0.5, 1.5]);
    expect([...standardize(Float32Array.from([7, 7]))]).toEqual([0, 0]);
  });

  it('AL-AM threshold: cumulative cost closest to (1 − p)·total, keep strictly greater', () => {
    // Units 0.5 and −1 (cost 2 each), channels 1, 0, −0.5, 2 (cost 1).
    // Descending: 2, 1, 0.5u, 0, −0.5, −1u → cumulative 1, 2, 4, 5, 6, 8; total 8.
    const scores = [0.5, -1, 1, 0, -0.5, 2];
    const costs = [2, 2, 1, 1, 1, 1];
    expect(alAmThreshold(scores, costs, 0.25, true)).toBe(-0.5); // target 6 → index 4
    expect(alAmThreshold(scores, costs, 0.5, true)).toBe(0.5); // target 4 → index 2
    expect(alAmThreshold(scores, costs, 0.55, false)).toBe(0.5); // target 3.6: |4 − 3.6| < |2 − 3.6|
    // First index among equal distances: target 3 is 1 from both 2 and 4 → index 1.
    expect(alAmThreshold(scores, costs, 0.625, true)).toBe(1);
  });

  it('head cost: 4·d/3 channel units on MHA (truncated: 170 for d = 128, 10 for d = 8)', () => {
    const layer = (heads: number, kv: number) => ({ numHeads: heads, numKvHeads: kv, kvHeadMap: null }) as unknown as Parameters<typeof attentionUnits>[0];
    const mha = attentionUnits(layer(32, 32), 128, 4096, 'head');
    expect(mha).toHaveLength(32);
    expect(mha[0]!.params / (3 * 4096)).toBeCloseTo(512 / 3, 10);
    expect(Math.trunc(mha[0]!.params / (3 * 4096))).toBe(170);
    const small = attentionUnits(layer(8, 8), 8, 64, 'head');
    expect(Math.trunc(small[0]!.params / (3 * 64))).toBe(10);
    // GQA 8/4, d = 8: a group = 2 query heads + its key/value head = 8·64·(2·2 + 2) parameters = 16 channels.
    const groups = attentionUnits(layer(8, 4), 8, 64, 'group');
    expect(groups.map((g) => g.queryHeads)).toEqual([[0, 1], [2, 3], [4, 5], [6, 7]]);
    expect(groups[1]!.channels).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]);
    expect(groups[0]!.params / (3 * 64)).toBe(16);
    // A single query head of a 2-head group: its q rows and o columns plus half the key/value head.
    const heads = attentionUnits(layer(8, 4), 8, 64, 'head');
    expect(heads[3]!.params).toBe(64 * 8 * 3);
    expect(heads[3]!.kvHeads).toEqual([]);
  });

  it('rounds means to fp16 like torch .half()', () => {
    expect(f16round(1 / 3)).toBe(0.333251953125);
    expect(f16round(65504)).toBe(65504);
    expect(f16round(65520)).toBe(Infinity);
    expect(f16round(2 ** -25)).toBe(0); // half of the smallest subnormal: ties to even
    expect(f16round(3 * 2 ** -25)).toBe(2 ** -23);
    expect(f16round(-2.0009765625)).toBe(-2); // halfway between 2 and 2.001953125 → even
  });
});

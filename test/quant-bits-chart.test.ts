/** The perplexity-vs-bits chart's data: one series per method/grouping, newest protocol only, re-runs replace. */
import { describe, expect, it } from 'vitest';
import { bitsSeries } from '../src/app/charts/bits';
import { parseBitsSweep } from '../src/app/components/QuantFields';
import type { ExperimentRecord } from '../src/engine/record';

let t = 0;
function rec(method: ExperimentRecord['method'], ppl: number, seqlen = 512): ExperimentRecord {
  t++;
  return {
    id: `r${t}`,
    createdAt: new Date(Date.UTC(2026, 10, 28, 0, 0, t)).toISOString(),
    model: { id: 'stories260K' },
    protocol: { dataset: { sha256: 'a'.repeat(64) }, seqlen, windows: { start: 0, end: 20 }, stream: 'bos+text' },
    method,
    ppl,
    baseline: { ppl: 4.0022, meanNll: 1, scoredTokens: 1, windowMeanNll: [] },
  } as unknown as ExperimentRecord;
}
const rtn = (bits: number, groupSize: number | null, symmetric = false) => ({ name: 'rtn' as const, bits, groupSize, symmetric });

describe('bitsSeries', () => {
  it('groups runs by method, group and symmetry, sorted by bits; the newest re-run wins', () => {
    const rs = [rec(rtn(4, 64), 4.4), rec(rtn(3, 64), 6.9), rec(rtn(8, 64), 4.006), rec(rtn(4, null, true), 4.5), rec(rtn(4, 64), 4.41), rec({ name: 'dense' }, 4.0022)];
    const b = bitsSeries(rs)!;
    expect(b.series.map((s) => s.label)).toEqual(['RTN g64 asym', 'RTN per channel sym']);
    expect(b.series[0]!.points.map((p) => [p.bits, p.ppl])).toEqual([
      [3, 6.9],
      [4, 4.41],
      [8, 4.006],
    ]);
    expect(b.dense).toBe(4.0022);
    expect(b.used).toHaveLength(4);
  });

  it('keeps only the newest protocol and ignores pruning runs', () => {
    const rs = [rec(rtn(4, 64), 4.4, 512), rec({ name: 'magnitude', sparsity: 0.5, pattern: 'unstructured', granularity: 'matrix' }, 9), rec(rtn(3, 64), 7, 256)];
    const b = bitsSeries(rs)!;
    expect(b.series).toHaveLength(1);
    expect(b.series[0]!.points).toEqual([{ bits: 3, ppl: 7, recordId: rs[2]!.id }]);
    expect(bitsSeries([rec({ name: 'dense' }, 4)])).toBeNull();
  });

  it('adds the RTN-then-LoRA baseline where L4Q runs trained it, as its own series', () => {
    const l4q = (bits: number) => ({ name: 'l4q', bits, groupSize: 32, symmetric: false }) as unknown as ExperimentRecord['method'];
    const ev = (ppl: number) => ({ ppl, meanNll: 1, scoredTokens: 1, windowMeanNll: [] });
    const withBase = (bits: number, ppl: number, base?: number) =>
      ({ ...rec(l4q(bits), ppl), training: base === undefined ? {} : { rtn: ev(base + 1), rtnLora: ev(base), rtnLoraMerged: ev(base + 0.4) } }) as unknown as ExperimentRecord;
    const rs = [rec(rtn(4, 32), 4.397), withBase(4, 3.8649, 3.8818), withBase(3, 4.8566, 5.0455), withBase(2, 9)];
    const b = bitsSeries(rs)!;
    expect(b.series.map((s) => s.label)).toEqual(['RTN g32 asym', 'L4Q g32 asym', 'RTN-then-LoRA g32 asym (float adapter)', 'RTN-then-LoRA g32 asym merged, rounded again']);
    expect(b.series[3]!.points.map((p) => p.ppl)).toEqual([5.0455 + 0.4, 3.8818 + 0.4]);
    // RTN: the RTN run's own point at 4 bits; at 3 bits, where no RTN run was made, the L4Q run's RTN score.
    expect(b.series[0]!.points).toEqual([
      { bits: 3, ppl: 5.0455 + 1, recordId: rs[2]!.id },
      { bits: 4, ppl: 4.397, recordId: rs[0]!.id },
    ]);
    expect(b.series[1]!.points.map((p) => [p.bits, p.ppl])).toEqual([
      [2, 9],
      [3, 4.8566],
      [4, 3.8649],
    ]);
    // The baseline's points come from the L4Q records (and link to them); the run without one adds none.
    expect(b.series[2]!.points).toEqual([
      { bits: 3, ppl: 5.0455, recordId: rs[2]!.id },
      { bits: 4, ppl: 3.8818, recordId: rs[1]!.id },
    ]);
  });
});

describe('parseBitsSweep (the RTN and L4Q panels\' bit widths)', () => {
  it('reads distinct whole widths from 2 to 8 in the given order, or says what is wrong', () => {
    expect(parseBitsSweep('4, 3')).toEqual([4, 3]);
    expect(parseBitsSweep(' 8;4 3,,4 ')).toEqual([8, 4, 3]);
    expect(parseBitsSweep('')).toMatch(/list the bit widths/);
    expect(parseBitsSweep('4, 9')).toBe('"9" is not a whole number of bits from 2 to 8.');
    expect(parseBitsSweep('3.5')).toMatch(/"3\.5" is not a whole number/);
  });
});

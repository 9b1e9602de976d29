/** The perplexity-vs-bits chart's data: one series per method/grouping, newest protocol only, re-runs replace. */
import { describe, expect, it } from 'vitest';
import { bitsSeries } from '../src/app/charts/bits';
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
});

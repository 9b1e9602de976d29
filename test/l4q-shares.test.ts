import { describe, expect, it } from 'vitest';
import { gapShare, l4qRecoveredShare, rtnLoraMergedKeptShare } from '../src/engine/quant/l4q-shares';
import type { ExperimentRecord } from '../src/engine/record';

/** Only the fields the shares read. */
function record(ppl: number, dense: number | undefined, training: Record<string, { ppl: number }>): ExperimentRecord {
  return { ppl, ...(dense === undefined ? {} : { baseline: { ppl: dense } }), training } as unknown as ExperimentRecord;
}

describe('L4Q shares', () => {
  it('gapShare is the part of the way from `from` to `to` reached', () => {
    expect(gapShare(6, 4, 5)).toBeCloseTo(0.5, 12);
    expect(gapShare(6, 4, 3)).toBeCloseTo(1.5, 12); // past the target
    expect(gapShare(6, 4, 7)).toBeCloseTo(-0.5, 12); // went the other way
    expect(gapShare(4, 4, 3)).toBeNull(); // no gap to share
    expect(gapShare(4, 5, 3)).toBeNull();
    expect(gapShare(Infinity, 4, 5)).toBeNull();
    expect(gapShare(6, 4, NaN)).toBeNull();
  });

  it('recovered: (RTN − L4Q) / (RTN − dense), from the record', () => {
    // docs/benchmarks.md, 4-bit seed 0: dense 4.0022, RTN 4.3970, L4Q 3.8649 → 134.8 %.
    expect(l4qRecoveredShare(record(3.8649, 4.0022, { rtn: { ppl: 4.397 } }))!).toBeCloseTo(1.348, 3);
    expect(l4qRecoveredShare(record(3.8649, undefined, { rtn: { ppl: 4.397 } }))).toBeNull();
    expect(l4qRecoveredShare(record(3.8649, 4.0022, {}))).toBeNull();
  });

  it('merged kept: (RTN − merged) / (RTN − unmerged), only with all three', () => {
    // docs/benchmarks.md, 4-bit seed 0: RTN 4.3970, RTN-then-LoRA 3.8818, merged 4.3205 → 14.8 %.
    const t = { rtn: { ppl: 4.397 }, rtnLora: { ppl: 3.8818 }, rtnLoraMerged: { ppl: 4.3205 } };
    expect(rtnLoraMergedKeptShare(record(3.8649, 4.0022, t))!).toBeCloseTo(0.1485, 3);
    expect(rtnLoraMergedKeptShare(record(3.8649, 4.0022, { rtn: t.rtn, rtnLora: t.rtnLora }))).toBeNull();
  });
});

/**
 * What the studio's charts draw, from real records (test/fixtures/share-records.json: a
 * 5-point Wanda sweep and a FLAP 20 % run of stories260K made by `studio prune --json`).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseExperimentRecord, type ExperimentRecord } from '../src/engine/record';
import {
  BYTES_PER_PARAMETER,
  flapStructureRows,
  matrixSparsityRows,
  paretoFlags,
  protocolCaption,
  sizeBytes,
  sizePoints,
  sweepOf,
  sweepRows,
  toCsv,
} from '../src/app/charts/data';

const records: ExperimentRecord[] = (JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'share-records.json'), 'utf8')) as unknown[]).map(parseExperimentRecord);
const wanda = records.filter((r) => r.method.name === 'wanda');
const flap = records.find((r) => r.method.name === 'flap')!;

/** A copy with another method setting and creation time (the numbers stay real). */
function variant(r: ExperimentRecord, patch: Partial<ExperimentRecord>): ExperimentRecord {
  return { ...structuredClone(r), ...patch };
}

describe('chart data', () => {
  it('sweep: one line per method, dense baseline at 0, sorted by sparsity, newest re-run wins', () => {
    const flap2 = variant(flap, { id: 'flap-0.4', createdAt: '2026-11-28T03:00:00.000Z', method: { ...(flap.method as Extract<ExperimentRecord['method'], { name: 'flap' }>), pruningRatio: 0.4 }, ppl: 30 });
    const sweep = sweepOf([...wanda].reverse().concat([flap, flap2]))!;
    expect(sweep.series.map((s) => s.label)).toEqual(['Wanda (sequential)', 'FLAP (WIFV, AL-AM)']);
    const w = sweep.series[0]!;
    expect(w.points.map((p) => p.sparsity)).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5]);
    expect(w.points[0]).toEqual({ sparsity: 0, ppl: wanda[0]!.baseline!.ppl, recordId: null });
    expect(w.points.slice(1).map((p) => p.ppl)).toEqual(wanda.map((r) => r.ppl));
    expect(sweep.series[1]!.points.map((p) => [p.sparsity, p.ppl])).toEqual([[0, flap.baseline!.ppl], [0.2, flap.ppl], [0.4, 30]]);
    // A newer run at 0.3 replaces the older point.
    const again = variant(wanda[2]!, { id: 'again', createdAt: '2026-11-28T05:00:00.000Z', ppl: 4.5 });
    expect(sweepOf([...wanda, again])!.series[0]!.points.find((p) => p.sparsity === 0.3)).toEqual({ sparsity: 0.3, ppl: 4.5, recordId: 'again' });
    expect(sweep.caption).toContain('seqlen 512 · windows 0:4');
    expect(sweep.caption).toContain('calibration tinystories · 64 × 128 tokens');
    expect(sweepRows(sweep)).toHaveLength(6 + 3);
  });

  it('sweep: no line with two sparsities, no chart', () => {
    expect(sweepOf([wanda[0]!, flap])).toBeNull();
    expect(sweepOf([])).toBeNull();
  });

  it('size: float32 parameters, FLAP smaller, zeros not counted as savings; Pareto front', () => {
    expect(sizeBytes(wanda[4]!)).toBe(260032 * BYTES_PER_PARAMETER);
    expect(sizeBytes(flap)).toBe(214912 * BYTES_PER_PARAMETER);
    const sp = sizePoints([...wanda, flap])!;
    const dense = sp.points.find((p) => p.label === 'dense')!;
    expect(dense.bytes).toBe(260032 * 4);
    // Dense beats every Wanda run (same bytes, lower ppl); FLAP is smaller, so it is on the front too.
    expect(sp.points.filter((p) => p.pareto).map((p) => p.label).sort()).toEqual(['FLAP 20% removed', 'dense']);
    expect(paretoFlags([{ bytes: 1, ppl: 5 }, { bytes: 2, ppl: 4 }, { bytes: 2, ppl: 6 }, { bytes: 1, ppl: 5 }])).toEqual([true, true, false, true]);
  });

  it('size of a quantized run: the bytes its record measured', () => {
    const rtn = variant(wanda[1]!, {
      method: { name: 'rtn', bits: 4, groupSize: 32, symmetric: false } as ExperimentRecord['method'],
      size: { bytesBefore: 1040128, bytesAfter: 4000, linearBytesBefore: 1, linearBytesAfter: 1, effectiveBits: 4 },
    });
    expect(sizeBytes(rtn)).toBe(4000);
  });

  it('structure rows: per-matrix sparsity for Wanda, kept heads and channels for FLAP', () => {
    const rows = matrixSparsityRows(wanda[4]!.layers!);
    expect(rows).toHaveLength(5);
    for (const r of rows) for (const k of ['q', 'k', 'v', 'o', 'gate', 'up', 'down']) expect(r[k]).toBeCloseTo(0.5, 6);
    const f = flapStructureRows(flap.layers!);
    expect(f).toHaveLength(5);
    for (const [i, r] of f.entries()) {
      expect(r.headsKept + r.headsRemoved).toBe(8);
      expect(r.channelsKept + r.channelsRemoved).toBe(172);
      expect(r.headsKept).toBe(flap.layers![i]!.heads.after);
    }
    expect(f.reduce((a, r) => a + r.channelsRemoved, 0)).toBe(flap.flap!.removedChannels);
  });

  it('captions name the protocol; CSV quotes what needs quoting', () => {
    expect(protocolCaption([flap])).toMatch(/^stories260K · tinystories · seqlen 512 · windows 0:4 · BOS \+ whole text/);
    expect(toCsv([{ a: 1, b: 'x,y' }, { a: 2, c: 'say "hi"' }])).toBe('a,b,c\r\n1,"x,y",\r\n2,,"say ""hi"""\r\n');
  });
});

/**
 * Hostile history files (issue 17, item 2): seeded mutations of a real history document,
 * with huge counts mixed in (10⁷ samples, 10¹⁵ tokens, 10¹² windows). Each file is read
 * or refused within a bounded time; whatever is read is a record that the result card
 * and the charts can compute from (overlap, text, chart rows) at once, and that can be
 * saved again unchanged (recordForSaving). FUZZ_CASES=30000 runs a larger campaign.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { calibrationOverlap, calibrationOverlapText } from '../src/engine/calibration-overlap';
import { windowCount } from '../src/engine/data';
import { recordForSaving, type ExperimentRecord } from '../src/engine/record';
import { parseHistoryJson } from '../src/app/history';
import { backendText, calibrationText, methodSettingsText, protocolLine, sparsityDetail, sparsityText } from '../src/app/format';
import { flapStructureRows, matrixSparsityRows, sizePoints, sweepOf, sweepRows } from '../src/app/charts/data';
import { Rng, clone, fuzzCases, fuzzSeed, mutateJson, mutateJsonText } from './support/fuzz';

const records = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'share-records.json'), 'utf8')) as unknown[];

/** What a result card and the charts compute from records. */
function render(rs: ExperimentRecord[]): void {
  for (const r of rs) {
    const o = calibrationOverlap(r);
    if (o) calibrationOverlapText(o);
    protocolLine(r);
    methodSettingsText(r.method);
    backendText(r.backend);
    windowCount(r.protocol.streamTokens, r.protocol.seqlen);
    if (r.calibration) calibrationText(r.calibration);
    if (r.sparsity) sparsityText(r.sparsity) + sparsityDetail(r.sparsity);
    if (r.layers) matrixSparsityRows(r.layers).length + flapStructureRows(r.layers).length;
    // Read back, saved again: the same schema on both sides.
    recordForSaving(r);
  }
  const s = sweepOf(rs);
  if (s) sweepRows(s);
  sizePoints(rs);
}

describe('hostile history files', () => {
  it(`reads or refuses ${fuzzCases(2000)} mutated history files in bounded time; what is read renders and saves`, () => {
    const seed = fuzzSeed(20261208);
    const r = new Rng(seed);
    const base = { schema: 'pq-studio/history', version: 1, records: records.slice(0, 3) };
    const KEYS = ['samples', 'seqlen', 'offset', 'seed', 'streamTokens', 'windows', 'start', 'end', 'sampling', 'steps', 'rank', 'batch', 'windowMeanNll', 'scoredTokens', 'fallbackReason', 'layers', 'calibration', 'protocol'];
    const EXTRA = [1e7, 1e12, 1e15, 2 ** 31, 100_001, 'random', 'contiguous', 'x'.repeat(600), { start: 0, end: 1e12 }, { start: 5, end: 2 }];
    let read = 0;
    let refused = 0;
    let skipped = 0;
    let maxMs = 0;
    const failures: string[] = [];
    const n = fuzzCases(2000);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      let text: string;
      if (r.int(5) === 0) text = mutateJsonText(JSON.stringify(base), r);
      else {
        let doc = clone(base) as unknown;
        const m = r.range(1, 4);
        for (let e = 0; e < m; e++) doc = mutateJson(doc, r, EXTRA, KEYS);
        text = JSON.stringify(doc) ?? 'null';
      }
      const t = performance.now();
      try {
        const batch = parseHistoryJson(text);
        read += batch.records.length;
        skipped += batch.skipped;
        render(batch.records);
      } catch (e) {
        // Not a history document at all: a plain Error naming why (the notice's message).
        if (e instanceof Error && /^(Not a JSON file|Not a studio history file|Unsupported history version|The history document has no)/.test(e.message)) refused++;
        else if (failures.length < 10) failures.push(`case ${i}: ${e instanceof Error ? `${e.name}: ${e.message.slice(0, 200)}` : String(e)}`);
      }
      maxMs = Math.max(maxMs, performance.now() - t);
    }
    console.log(`[fuzz] history files: ${n} cases (seed ${seed}): ${read} records read and rendered, ${skipped} entries skipped, ${refused} files refused, ${failures.length} failures; max ${maxMs.toFixed(1)} ms per file, ${((performance.now() - t0) / 1000).toFixed(1)} s total`);
    expect(failures).toEqual([]);
    expect(skipped).toBeGreaterThan(n / 4);
    // Generous for a shared machine; typical files take a few ms (the slowest replay 10⁵ random calibration offsets).
    expect(maxMs).toBeLessThan(2000);
  }, 120_000);
});

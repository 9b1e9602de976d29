/** Which evaluation windows contain calibration tokens (src/engine/calibration-overlap.ts). */
import { describe, expect, it } from 'vitest';
import { calibrationOffsets } from '../src/engine/calibrate';
import { calibrationOverlap, calibrationOverlapText } from '../src/engine/calibration-overlap';
import type { ExperimentRecord } from '../src/engine/record';

const SHA = 'a'.repeat(64);
const dataset = { name: 'tinystories', source: 'bundled' as const, chars: 1, sha256: SHA };
const STREAM = 393_019; // the bundled TinyStories sample's stream: 767 windows of 512

function record(windows: { start: number; end: number }, calibration: Partial<NonNullable<ExperimentRecord['calibration']>> = {}): Pick<ExperimentRecord, 'protocol' | 'calibration'> {
  return {
    protocol: { dataset, seqlen: 512, windows, streamTokens: STREAM, stream: 'bos+text' },
    calibration: { dataset, samples: 16, seqlen: 512, sampling: 'contiguous', offset: 200_000, streamTokens: STREAM, stream: 'bos+text', ...calibration },
  };
}

describe('calibrationOverlap', () => {
  it("finds L4Q's default training windows inside an evaluation of every window", () => {
    // Tokens 200,000 … 208,191 lie in windows ⌊200000/512⌋ = 390 … ⌊208191/512⌋ = 406.
    const o = calibrationOverlap(record({ start: 0, end: 767 }));
    expect(o).toEqual({ windows: 17, first: 390, last: 406, of: 767 });
    expect(calibrationOverlapText(o!)).toMatch(/^17 of the 767 evaluation windows \(windows 390–406\) contain calibration tokens/);
  });

  it('counts only the evaluated windows', () => {
    expect(calibrationOverlap(record({ start: 400, end: 402 }))).toEqual({ windows: 2, first: 400, last: 401, of: 2 });
    expect(calibrationOverlapText(calibrationOverlap(record({ start: 406, end: 500 }))!)).toMatch(/^1 of the 94 evaluation windows \(window 406\)/);
  });

  it('is null for held-out windows, another text, another stream, or no calibration', () => {
    expect(calibrationOverlap(record({ start: 0, end: 20 }))).toBeNull();
    expect(calibrationOverlap(record({ start: 0, end: 390 }))).toBeNull();
    expect(calibrationOverlap(record({ start: 407, end: 767 }))).toBeNull();
    expect(calibrationOverlap(record({ start: 0, end: 767 }, { dataset: { ...dataset, sha256: 'b'.repeat(64) } }))).toBeNull();
    expect(calibrationOverlap(record({ start: 0, end: 767 }, { stream: 'text' }))).toBeNull();
    expect(calibrationOverlap({ ...record({ start: 0, end: 767 }), calibration: undefined })).toBeNull();
  });

  it('replays random offsets (the seed) and says when the windows are not contiguous', () => {
    const r = record({ start: 0, end: 767 }, { sampling: 'random', offset: undefined, seed: 3, samples: 8, seqlen: 128 });
    const hit = new Set<number>();
    for (const o of calibrationOffsets(STREAM, { samples: 8, seqlen: 128, offset: 0, seed: 3 })) {
      hit.add(Math.floor(o / 512));
      hit.add(Math.floor((o + 127) / 512));
    }
    const got = calibrationOverlap(r)!;
    expect(got.windows).toBe(hit.size);
    expect([got.first, got.last]).toEqual([Math.min(...hit), Math.max(...hit)]);
    expect(calibrationOverlapText(got)).toContain(`between windows ${got.first} and ${got.last}`);
    // Without its seed a random sampling cannot be replayed: no answer rather than the contiguous one's.
    expect(calibrationOverlap(record({ start: 0, end: 767 }, { sampling: 'random', offset: 0, seed: undefined, samples: 8, seqlen: 128 }))).toBeNull();
    expect(calibrationOverlap(record({ start: 0, end: 1 }, { sampling: 'contiguous', offset: 0, samples: 8, seqlen: 128 }))).toEqual({ windows: 1, first: 0, last: 0, of: 1 });
  });
});

/**
 * Evaluation windows that contain calibration tokens. Pruning calibrates on, and L4Q trains
 * on, samples of a text; when the evaluation reads the same text (same content hash, same
 * stream), a window sharing tokens with a sample scores text the method has seen, and its
 * perplexity is no longer a held-out number. The official repositories avoid this with
 * separate splits (FLAP: WikiText-2 train vs test; Wanda: C4 vs WikiText-2); here the
 * bundled texts are single files, so the studio reports the overlap instead of hiding it.
 * Everything is derived from the record, so saved and shared records get the same answer.
 */
import { calibrationOffsets } from './calibrate';
import type { ExperimentRecord } from './record';

export interface CalibrationOverlap {
  /** Evaluation windows sharing at least one token with a calibration sample. */
  windows: number;
  /** The first and last of them (window indices). */
  first: number;
  last: number;
  /** Windows evaluated. */
  of: number;
}

/** The overlap, or null when there is none (or no calibration, or another text). */
export function calibrationOverlap(r: Pick<ExperimentRecord, 'protocol' | 'calibration'>): CalibrationOverlap | null {
  const c = r.calibration;
  const p = r.protocol;
  if (!c || c.dataset.sha256 !== p.dataset.sha256 || c.stream !== p.stream || c.streamTokens !== p.streamTokens) return null;
  // Random offsets without their seed cannot be replayed (read as contiguous they would name the wrong windows).
  if (c.sampling === 'random' && c.seed === undefined) return null;
  const L = p.seqlen;
  const S = c.seqlen;
  if (!(Number.isSafeInteger(c.samples) && c.samples >= 1 && Number.isSafeInteger(S) && S >= 1 && L >= 1)) return null;
  const { start, end } = p.windows;
  // Window indices met by the samples, as closed intervals [lo, hi]: counting them costs
  // one step per sample (at most RECORD_LIMITS.calibrationSamples), never one per window
  // or token, so a hand-edited record with huge counts cannot stall the page that renders it.
  let spans: [number, number][];
  if (c.sampling === 'contiguous') {
    // The samples tile [O, O + N·S) without gaps: one interval.
    const O = c.offset ?? 0;
    if (!Number.isSafeInteger(O + c.samples * S) || O + c.samples * S > c.streamTokens) return null; // not replayable (edited by hand)
    spans = [[Math.floor(O / L), Math.floor((O + c.samples * S - 1) / L)]];
  } else {
    let offsets: number[];
    try {
      offsets = calibrationOffsets(c.streamTokens, { samples: c.samples, seqlen: S, offset: 0, seed: c.seed! });
    } catch {
      return null; // a record whose sampling cannot be replayed (edited by hand): nothing to say
    }
    spans = offsets.map((o) => [Math.floor(o / L), Math.floor((o + S - 1) / L)]);
  }
  // Clip to the evaluated windows, then merge overlapping or touching intervals.
  const clipped = spans
    .map(([lo, hi]): [number, number] => [Math.max(start, lo), Math.min(end - 1, hi)])
    .filter(([lo, hi]) => lo <= hi)
    .sort((a, b) => a[0] - b[0]);
  if (clipped.length === 0) return null;
  let windows = 0;
  let [curLo, curHi] = clipped[0]!;
  for (let i = 1; i < clipped.length; i++) {
    const [lo, hi] = clipped[i]!;
    if (lo <= curHi + 1) curHi = Math.max(curHi, hi);
    else {
      windows += curHi - curLo + 1;
      [curLo, curHi] = [lo, hi];
    }
  }
  windows += curHi - curLo + 1;
  // Sorted by start and merged, the last interval ends furthest.
  return { windows, first: clipped[0]![0], last: curHi, of: end - start };
}

/** One line for the CLI and the studio. */
export function calibrationOverlapText(o: CalibrationOverlap): string {
  const which = o.windows === 1 ? `window ${o.first}` : o.last - o.first + 1 === o.windows ? `windows ${o.first}–${o.last}` : `between windows ${o.first} and ${o.last}`;
  return `${o.windows} of the ${o.of} evaluation windows (${which}) contain calibration tokens: their perplexity includes text the method saw; evaluate on other windows (e.g. before the calibration offset) for a held-out number`;
}

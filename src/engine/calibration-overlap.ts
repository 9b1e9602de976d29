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
  let offsets: number[];
  try {
    offsets = calibrationOffsets(c.streamTokens, { samples: c.samples, seqlen: c.seqlen, offset: c.offset ?? 0, seed: c.sampling === 'random' ? c.seed! : null });
  } catch {
    return null; // a record whose sampling cannot be replayed (edited by hand): nothing to say
  }
  const L = p.seqlen;
  const hit = new Set<number>();
  for (const o of offsets) {
    // Windows [w·L, (w+1)·L) meeting the sample [o, o + S).
    const lo = Math.max(p.windows.start, Math.floor(o / L));
    const hi = Math.min(p.windows.end - 1, Math.floor((o + c.seqlen - 1) / L));
    for (let w = lo; w <= hi; w++) hit.add(w);
  }
  if (hit.size === 0) return null;
  const ws = [...hit];
  return { windows: hit.size, first: Math.min(...ws), last: Math.max(...ws), of: p.windows.end - p.windows.start };
}

/** One line for the CLI and the studio. */
export function calibrationOverlapText(o: CalibrationOverlap): string {
  const which = o.windows === 1 ? `window ${o.first}` : o.last - o.first + 1 === o.windows ? `windows ${o.first}–${o.last}` : `between windows ${o.first} and ${o.last}`;
  return `${o.windows} of the ${o.of} evaluation windows (${which}) contain calibration tokens: their perplexity includes text the method saw; evaluate on other windows (e.g. before the calibration offset) for a held-out number`;
}

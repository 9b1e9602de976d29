/** Lines the commands' text summaries of an ExperimentRecord have in common, and the record output itself. */
import path from 'node:path';
import type { ExperimentRecord } from '../engine/record';
import type { Io } from './common';
import { calibrationOverlap, calibrationOverlapText } from '../engine/calibration-overlap';

export function modelLine(r: ExperimentRecord): string {
  return `model      ${r.model.id} (${r.model.architecture}, ${r.model.parameters.toLocaleString('en-US')} parameters)`;
}

export function windowsLine(r: ExperimentRecord): string {
  const w = r.protocol.windows;
  return `windows    ${w.start}:${w.end} of ${r.protocol.seqlen} tokens (${r.protocol.dataset.name}), ${r.scoredTokens} scored`;
}

/** A warning line when evaluation windows contain calibration (training) tokens; none otherwise. */
export function overlapLines(r: ExperimentRecord): string[] {
  const o = calibrationOverlap(r);
  return o ? [`warning    ${calibrationOverlapText(o)}`] : [];
}

/** Perplexity of the dense baseline (when evaluated) and of the changed model. */
export function beforeAfterLines(r: ExperimentRecord): string[] {
  return [
    ...(r.baseline ? [`before     perplexity ${r.baseline.ppl.toFixed(4)}  (mean NLL ${r.baseline.meanNll.toFixed(6)})`] : []),
    `after      perplexity ${r.ppl.toFixed(4)}  (mean NLL ${r.meanNll.toFixed(6)})`,
  ];
}

/** A timing in seconds; "-" for a phase that did not run. */
export function seconds(ms: number | undefined): string {
  return ms === undefined ? '-' : `${(ms / 1000).toFixed(2)} s`;
}

export function backendLine(r: ExperimentRecord): string {
  return `backend    ${r.backend.name} (${r.backend.device})`;
}

/** The record as JSON with --json, else the command's summary and where --out wrote the model. */
export function printRecord(io: Io, r: ExperimentRecord, v: { json?: boolean; out?: string }, summary: (r: ExperimentRecord) => string): void {
  io.out(v.json ? `${JSON.stringify(r)}\n` : summary(r) + (v.out ? `written    ${path.resolve(v.out)}\n` : ''));
}

/**
 * What each chart draws, picked out of ExperimentRecords. Only selection and arithmetic
 * on numbers the engine already produced (a size from a parameter count, which points are
 * not dominated); nothing here touches a model.
 */
import type { ExperimentRecord, LayerReport, MethodSpec } from '../../engine/record';
import { calibrationText, methodSettingsText, methodTitle, protocolLine } from '../format';

/**
 * Bytes per parameter as the studio holds and saves weights: float32. Unstructured zeros
 * (magnitude, Wanda) are stored densely — the studio writes no sparse format — so they do
 * not shrink the size; FLAP removes rows and columns, so its parameter count shrinks.
 */
export const BYTES_PER_PARAMETER = 4;

/** Model size after the run, in bytes: the record's measured bytes (quantized runs), else parameters at float32. */
export function sizeBytes(r: ExperimentRecord): number {
  return r.size?.bytesAfter ?? (r.parametersAfter ?? r.model.parameters) * BYTES_PER_PARAMETER;
}

/** The model, text, seqlen and windows: records compare only when these match. */
export function protocolKey(r: ExperimentRecord): string {
  const p = r.protocol;
  return `${r.model.id}|${p.dataset.sha256}|${p.seqlen}|${p.windows.start}:${p.windows.end}|${p.stream}`;
}

/** A chart's caption: the protocol (dataset, seqlen, windows) and the calibration used, if any. */
export function protocolCaption(records: readonly ExperimentRecord[]): string {
  if (records.length === 0) return '';
  const first = records[0]!;
  const calib = [...new Set(records.flatMap((r) => (r.calibration ? [calibrationText(r.calibration)] : [])))];
  const calibPart = calib.length === 0 ? 'no calibration' : calib.length === 1 ? `calibration ${calib[0]}` : `calibration: ${calib.join('; ')}`;
  return `${first.model.id} · ${protocolLine(first)} · ${calibPart}`;
}

/** The nominal sparsity a pruning method was asked for (FLAP: its pruning ratio); null for other methods. */
export function nominalSparsity(m: MethodSpec): number | null {
  switch (m.name) {
    case 'flap':
      return m.pruningRatio;
    case 'magnitude':
    case 'wanda': {
      if (m.pattern === 'unstructured') return m.sparsity;
      const [n, d] = m.pattern.split(':').map(Number) as [number, number];
      return n / d;
    }
    default:
      return null;
  }
}

/** A sweep line: one pruning method with all its other settings fixed (null: not a sweepable run). */
export function seriesOf(m: MethodSpec): { key: string; label: string } | null {
  switch (m.name) {
    case 'magnitude':
      return m.pattern === 'unstructured' ? { key: `magnitude|${m.granularity}`, label: `Magnitude (per ${m.granularity})` } : null;
    case 'wanda':
      return m.pattern === 'unstructured' ? { key: `wanda|${m.mode}|${m.variant}`, label: `Wanda (${m.mode}${m.variant ? ', α variant' : ''})` } : null;
    case 'flap': {
      const { pruningRatio: _r, name: _n, ...rest } = m;
      return { key: `flap|${JSON.stringify(rest)}`, label: `FLAP (${m.metric}, ${m.structure}${m.biasCompensation ? '' : ', no bias comp.'})` };
    }
    default:
      return null;
  }
}

export interface SweepSeries {
  key: string;
  label: string;
  method: string;
  /** x: nominal sparsity (0 = the dense baseline), ppl, and the record it came from. */
  points: { sparsity: number; ppl: number; recordId: string | null }[];
}

export interface Sweep {
  caption: string;
  series: SweepSeries[];
  records: ExperimentRecord[];
}

/**
 * Perplexity against sparsity for every method line under one protocol (the newest
 * pruning run's). A re-run at the same sparsity replaces the older point; the dense
 * baseline is the point at 0. Null when no line has two sparsities.
 */
export function sweepOf(records: readonly ExperimentRecord[]): Sweep | null {
  const pruned = records.filter((r) => r.baseline && seriesOf(r.method));
  if (pruned.length === 0) return null;
  const newest = [...pruned].sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0]!;
  const key = protocolKey(newest);
  const same = pruned.filter((r) => protocolKey(r) === key).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const bySeries = new Map<string, { label: string; method: string; at: Map<number, ExperimentRecord> }>();
  for (const r of same) {
    const s = seriesOf(r.method)!;
    const entry = bySeries.get(s.key) ?? { label: s.label, method: r.method.name as string, at: new Map<number, ExperimentRecord>() };
    entry.at.set(nominalSparsity(r.method)!, r); // oldest first, so the newest wins
    bySeries.set(s.key, entry);
  }
  const series: SweepSeries[] = [];
  for (const [k, e] of bySeries) {
    const runs = [...e.at.entries()].sort((a, b) => a[0] - b[0]);
    if (runs.filter(([x]) => x > 0).length < 2) continue;
    const dense = runs[runs.length - 1]![1].baseline!.ppl;
    const points: SweepSeries['points'] = runs.map(([x, r]) => ({ sparsity: x, ppl: r.ppl, recordId: r.id }));
    if (!e.at.has(0)) points.unshift({ sparsity: 0, ppl: dense, recordId: null });
    series.push({ key: k, label: e.label, method: e.method, points });
  }
  if (series.length === 0) return null;
  const used = same.filter((r) => series.some((s) => s.points.some((p) => p.recordId === r.id)));
  return { caption: protocolCaption(used), series, records: used };
}

/** Sweep points as flat rows for CSV/JSON. */
export function sweepRows(s: Sweep): Record<string, string | number>[] {
  return s.series.flatMap((line) => line.points.map((p) => ({ series: line.label, sparsity: p.sparsity, ppl: p.ppl, record: p.recordId ?? 'dense baseline' })));
}

export interface SizePoint {
  recordId: string;
  label: string;
  bytes: number;
  ppl: number;
  pareto: boolean;
}

/**
 * Which points no other point beats on both size and perplexity (ties count as beaten
 * only when the other point is strictly better in one of the two).
 */
export function paretoFlags(points: readonly { bytes: number; ppl: number }[]): boolean[] {
  return points.map((p) => !points.some((q) => q.bytes <= p.bytes && q.ppl <= p.ppl && (q.bytes < p.bytes || q.ppl < p.ppl)));
}

/** One point per run (the evaluated model) plus the dense baseline of each protocol. */
export function sizePoints(records: readonly ExperimentRecord[]): { caption: string; points: SizePoint[]; records: ExperimentRecord[] } | null {
  if (records.length === 0) return null;
  const key = protocolKey(records.reduce((a, b) => (b.createdAt > a.createdAt ? b : a)));
  const same = records.filter((r) => protocolKey(r) === key);
  const raw: Omit<SizePoint, 'pareto'>[] = [];
  let denseAdded = false;
  for (const r of same) {
    raw.push({ recordId: r.id, label: r.method.name === 'dense' ? 'dense' : `${methodTitle(r.method)} ${methodSettingsText(r.method).split(' · ')[0]}`, bytes: sizeBytes(r), ppl: r.ppl });
    if (r.method.name === 'dense') denseAdded = true;
  }
  const withBaseline = same.find((r) => r.baseline);
  if (!denseAdded && withBaseline)
    raw.push({ recordId: `${withBaseline.id}:baseline`, label: 'dense', bytes: withBaseline.size?.bytesBefore ?? withBaseline.model.parameters * BYTES_PER_PARAMETER, ppl: withBaseline.baseline!.ppl });
  const flags = paretoFlags(raw);
  return { caption: protocolCaption(same), points: raw.map((p, i) => ({ ...p, pareto: flags[i]! })), records: same };
}

const MATRICES = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const;

/** Per layer, the fraction of zeros in each decoder matrix (magnitude, Wanda). */
export function matrixSparsityRows(layers: readonly LayerReport[]): Record<string, number>[] {
  return layers.map((l) => {
    const row: Record<string, number> = { layer: l.layer };
    for (const name of MATRICES) {
      const m = l.matrices.find((x) => x.name === name);
      if (m) row[name] = m.sparsity;
    }
    return row;
  });
}
export const MATRIX_NAMES = MATRICES;

/** Per layer, kept and removed heads and MLP channels (FLAP). */
export function flapStructureRows(layers: readonly LayerReport[]): { layer: number; headsKept: number; headsRemoved: number; channelsKept: number; channelsRemoved: number }[] {
  return layers.map((l) => ({
    layer: l.layer,
    headsKept: l.heads.after,
    headsRemoved: l.heads.before - l.heads.after,
    channelsKept: l.channels.after,
    channelsRemoved: l.channels.before - l.channels.after,
  }));
}

/** RFC 4180 CSV of flat rows (header from the first row's keys, then any new keys). */
export function toCsv(rows: readonly Record<string, unknown>[]): string {
  const keys: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  const cell = (v: unknown) => {
    const s = v === undefined || v === null ? '' : typeof v === 'number' ? String(v) : String(v);
    return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [keys.map(cell).join(','), ...rows.map((r) => keys.map((k) => cell(r[k])).join(','))].join('\r\n') + '\r\n';
}

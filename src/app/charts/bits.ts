/**
 * The data of the perplexity-vs-bits chart (BitsChart): quantization runs (RTN, L4Q) under
 * the newest quantization run's protocol, one series per method, grouping and symmetry, and
 * one for the RTN-then-LoRA baseline where L4Q runs trained it; an L4Q run's own RTN score
 * fills the RTN series where no RTN run of those settings was made.
 */
import type { ExperimentRecord } from '../../engine/record';
import { protocolKey } from './data';

export interface BitsPoint {
  bits: number;
  ppl: number;
  recordId: string;
}

export interface BitsSeries {
  key: string;
  label: string;
  points: BitsPoint[];
}

export type QuantRecord = ExperimentRecord & { method: { name: 'rtn' | 'l4q'; bits: number; groupSize: number | null; symmetric: boolean; symmetricRule?: string } };

function isQuant(r: ExperimentRecord): r is QuantRecord {
  return r.method.name === 'rtn' || r.method.name === 'l4q';
}

/** The series of the newest protocol; a re-run at the same bits replaces the older point. */
export function bitsSeries(records: readonly ExperimentRecord[]): { series: BitsSeries[]; used: QuantRecord[]; dense: number | null } | null {
  const quant = records.filter(isQuant);
  if (quant.length === 0) return null;
  const newest = [...quant].sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0]!;
  const key = protocolKey(newest);
  const same = quant.filter((r) => protocolKey(r) === key).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  const by = new Map<string, { label: string; at: Map<number, { r: QuantRecord; ppl: number }> }>();
  const add = (k: string, label: string, r: QuantRecord, ppl: number) => {
    const e = by.get(k) ?? { label, at: new Map() };
    e.at.set(r.method.bits, { r, ppl });
    by.set(k, e);
  };
  const isGptq = (m: QuantRecord['method']) => m.symmetric && m.symmetricRule === 'gptq';
  const keyOf = (name: string, m: QuantRecord['method']) => `${name}|${m.groupSize}|${m.symmetric}|${isGptq(m)}`;
  const settingsOf = (m: QuantRecord['method']) => `${m.groupSize === null ? 'per channel' : `g${m.groupSize}`} ${m.symmetric ? (isGptq(m) ? 'sym (GPTQ)' : 'sym') : 'asym'}`;
  // RTN as an L4Q run scored it (same bits, group, symmetry; default rounding rule, as an L4Q
  // method has no symmetricRule) where no RTN run of those settings and bits is on the chart.
  const rtnRuns = new Set(same.filter((x) => x.method.name === 'rtn').map((x) => `${keyOf('rtn', x.method)}@${x.method.bits}`));
  for (const r of same) {
    const rtn = r.training?.rtn;
    const key = keyOf('rtn', r.method);
    if (r.method.name === 'l4q' && rtn && !rtnRuns.has(`${key}@${r.method.bits}`)) add(key, `RTN ${settingsOf(r.method)}`, r, rtn.ppl);
  }
  for (const r of same) {
    const m = r.method;
    const settings = settingsOf(m);
    add(keyOf(m.name, m), `${m.name === 'rtn' ? 'RTN' : 'L4Q'} ${settings}`, r, r.ppl);
    // An L4Q run that also trained the baseline carries its perplexity: a series of its own.
    const base = r.training?.rtnLora;
    if (m.name === 'l4q' && base) add(`rtn-lora|${m.groupSize}|${m.symmetric}`, `RTN-then-LoRA ${settings} (float adapter)`, r, base.ppl);
    const merged = r.training?.rtnLoraMerged;
    if (m.name === 'l4q' && merged) add(`rtn-lora-merged|${m.groupSize}|${m.symmetric}`, `RTN-then-LoRA ${settings} merged, rounded again`, r, merged.ppl);
  }
  const series = [...by.entries()].map(([k, e]) => ({
    key: k,
    label: e.label,
    points: [...e.at.entries()].sort((a, b) => a[0] - b[0]).map(([bits, { r, ppl }]) => ({ bits, ppl, recordId: r.id })),
  }));
  const used = same.filter((r) => series.some((s) => s.points.some((p) => p.recordId === r.id)));
  const dense = used.find((r) => r.baseline)?.baseline?.ppl ?? null;
  return { series, used, dense };
}


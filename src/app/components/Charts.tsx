/**
 * The charts of a set of runs (the page's results, or a share link's): perplexity
 * before/after, perplexity vs sparsity sweeps (log y), size vs perplexity with the Pareto
 * front, and the structure of one run (FLAP's kept heads and channels per layer, or the
 * per-matrix sparsity of magnitude and Wanda).
 */
import { useState } from 'react';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Line,
  LineChart,
  ResponsiveContainer,
  Scatter,
  ScatterChart,
  Tooltip,
  XAxis,
  YAxis,
  ZAxis,
} from 'recharts';
import type { ExperimentRecord } from '../../engine/record';
import {
  BYTES_PER_PARAMETER,
  MATRIX_NAMES,
  flapStructureRows,
  matrixSparsityRows,
  protocolCaption,
  protocolKey,
  sizePoints,
  sweepOf,
  sweepRows,
} from '../charts/data';
import { formatBytes, formatPpl, methodSettingsText, methodTitle } from '../format';
import { BitsChart } from './BitsChart';
import { ChartFrame } from './ChartFrame';
import { throwIfRenderFault } from '../render-faults';

export const METHOD_COLORS = {
  dense: '#8a94a6',
  magnitude: '#d97706',
  wanda: '#2563eb',
  flap: '#059669',
} as const;
const methodColor = (name: string): string => (METHOD_COLORS as Record<string, string>)[name] ?? '#9333ea';
const EXTRA_COLORS = ['#9333ea', '#db2777', '#0891b2', '#65a30d', '#b45309'];
const MATRIX_COLORS = ['#2563eb', '#0891b2', '#059669', '#65a30d', '#d97706', '#db2777', '#9333ea'];

const AXIS = { stroke: 'currentColor', tick: { fill: 'currentColor', fontSize: 14 } };
/** Log axes: a margin around the data so that no point sits on (or under) the frame. */
const LOG_DOMAIN: [(min: number) => number, (max: number) => number] = [(min) => min / 1.15, (max) => max * 1.15];
const LAYER_AXIS = { dataKey: 'layer', interval: 0 as const, label: { value: 'layer', position: 'insideBottomRight' as const, offset: -4, fill: 'currentColor' } };
const pct = (x: number) => `${Math.round(x * 100)}%`;

function runLabel(r: ExperimentRecord): string {
  return `${methodTitle(r.method)} ${methodSettingsText(r.method).split(' · ')[0]}`;
}

function BeforeAfter({ records }: { records: ExperimentRecord[] }) {
  const runs = records.filter((r) => r.baseline).slice(0, 12).reverse();
  if (runs.length === 0) return null;
  const rows = runs.map((r, i) => ({ run: `${i + 1}. ${runLabel(r)}`, before: r.baseline!.ppl, after: r.ppl, record: r.id }));
  return (
    <ChartFrame
      title="Perplexity before / after"
      testId="chart-before-after"
      caption={`Dense (before) and compressed (after) perplexity of each run, lower is better · ${protocolCaption(runs)}`}
      rows={rows}
      legend={[
        { label: 'before (dense)', color: METHOD_COLORS.dense },
        { label: 'after', color: '#1f5fd1' },
      ]}
      height={Math.max(160, 40 + rows.length * 56)}
    >
      {(h) => (
        <ResponsiveContainer width="100%" height={h}>
          <BarChart data={rows} layout="vertical" margin={{ top: 4, right: 56, bottom: 4, left: 8 }}>
            <CartesianGrid horizontal={false} stroke="currentColor" strokeOpacity={0.15} />
            <XAxis type="number" domain={[0, 'auto']} {...AXIS} />
            <YAxis type="category" dataKey="run" width={190} {...AXIS} />
            <Tooltip formatter={(v) => (typeof v === 'number' ? formatPpl(v) : String(v))} />
            <Bar dataKey="before" name="before (dense)" fill={METHOD_COLORS.dense} isAnimationActive={false} />
            <Bar dataKey="after" name="after" fill="#1f5fd1" isAnimationActive={false} />
          </BarChart>
        </ResponsiveContainer>
      )}
    </ChartFrame>
  );
}

function SweepChart({ records }: { records: ExperimentRecord[] }) {
  const sweep = sweepOf(records);
  if (!sweep) return null;
  const used = new Map<string, number>();
  const colorOf = (method: string) => {
    const n = used.get(method) ?? 0;
    used.set(method, n + 1);
    return n === 0 ? methodColor(method) : EXTRA_COLORS[n % EXTRA_COLORS.length]!;
  };
  const lines = sweep.series.map((s) => ({ ...s, color: colorOf(s.method) }));
  return (
    <ChartFrame
      title="Perplexity vs sparsity"
      testId="chart-sweep"
      caption={`Perplexity after pruning at each sparsity (FLAP: fraction of parameters removed), log scale; 0 is the dense model · ${sweep.caption}`}
      rows={sweepRows(sweep)}
      legend={lines.map((l) => ({ label: l.label, color: l.color }))}
    >
      {(h) => (
        <ResponsiveContainer width="100%" height={h}>
          <LineChart margin={{ top: 8, right: 24, bottom: 20, left: 8 }}>
            <CartesianGrid stroke="currentColor" strokeOpacity={0.15} />
            <XAxis type="number" dataKey="sparsity" domain={[0, 'dataMax']} tickFormatter={pct} label={{ value: 'sparsity', position: 'insideBottom', offset: -12, fill: 'currentColor' }} {...AXIS} />
            <YAxis type="number" dataKey="ppl" scale="log" domain={LOG_DOMAIN} tickFormatter={(v: number) => v.toPrecision(3)} width={64} {...AXIS} />
            <Tooltip formatter={(v) => (typeof v === 'number' ? formatPpl(v) : String(v))} labelFormatter={(v) => `sparsity ${typeof v === 'number' ? pct(v) : String(v)}`} />
            {lines.map((l) => (
              <Line key={l.key} data={l.points} dataKey="ppl" name={l.label} stroke={l.color} strokeWidth={3} dot={{ r: 5, fill: l.color }} isAnimationActive={false} />
            ))}
          </LineChart>
        </ResponsiveContainer>
      )}
    </ChartFrame>
  );
}

function SizeChart({ records }: { records: ExperimentRecord[] }) {
  const sp = sizePoints(records);
  if (!sp || sp.points.length < 2) return null;
  const front = sp.points.filter((p) => p.pareto).sort((a, b) => a.bytes - b.bytes);
  const others = sp.points.filter((p) => !p.pareto);
  const kib = (p: { bytes: number; ppl: number; label: string }) => ({ ...p, kib: p.bytes / 1024 });
  return (
    <ChartFrame
      title="Size vs perplexity"
      testId="chart-size"
      caption={`Each run's model size (parameters × ${BYTES_PER_PARAMETER} bytes, float32, stored densely: unstructured zeros do not shrink it, FLAP's removed heads and channels do; quantized runs: their packed bytes) against its perplexity; the Pareto front (no run both smaller and better) is joined · ${sp.caption}`}
      rows={sp.points.map((p) => ({ run: p.label, bytes: p.bytes, ppl: p.ppl, pareto: p.pareto, record: p.recordId }))}
      legend={[
        { label: 'Pareto front', color: '#b3261e' },
        { label: 'other runs', color: METHOD_COLORS.dense },
      ]}
    >
      {(h) => (
        <ResponsiveContainer width="100%" height={h}>
          <ScatterChart margin={{ top: 8, right: 24, bottom: 20, left: 8 }}>
            <CartesianGrid stroke="currentColor" strokeOpacity={0.15} />
            <XAxis type="number" dataKey="kib" name="size" domain={['auto', 'auto']} tickFormatter={(v: number) => v.toFixed(0)} label={{ value: 'size (KiB)', position: 'insideBottom', offset: -12, fill: 'currentColor' }} {...AXIS} />
            <YAxis type="number" dataKey="ppl" name="perplexity" scale="log" domain={LOG_DOMAIN} tickFormatter={(v: number) => v.toPrecision(3)} width={64} {...AXIS} />
            <ZAxis range={[90, 90]} />
            <Tooltip formatter={(v, name) => (name === 'size' && typeof v === 'number' ? formatBytes(v * 1024) : typeof v === 'number' ? formatPpl(v) : String(v))} />
            <Scatter name="other runs" data={others.map(kib)} fill={METHOD_COLORS.dense} isAnimationActive={false} />
            <Scatter name="Pareto front" data={front.map(kib)} fill="#b3261e" line={{ stroke: '#b3261e', strokeWidth: 2 }} isAnimationActive={false} />
          </ScatterChart>
        </ResponsiveContainer>
      )}
    </ChartFrame>
  );
}

const REMOVED_COLOR = '#d5dae2';

type FlapRow = ReturnType<typeof flapStructureRows>[number];

/** One stacked bar per layer: how many of `unit` FLAP kept and removed there. */
function KeptRemovedChart({
  title,
  testId,
  caption,
  rows,
  unit,
  keys: [kept, removed],
  yWidth,
}: {
  title: string;
  testId: string;
  caption: string;
  rows: FlapRow[];
  unit: 'heads' | 'channels';
  keys: [Exclude<keyof FlapRow, 'layer'>, Exclude<keyof FlapRow, 'layer'>];
  yWidth: number;
}) {
  const stackId = unit[0];
  return (
    <ChartFrame
      title={title}
      testId={testId}
      caption={caption}
      rows={rows.map((r) => ({ layer: r.layer, [kept]: r[kept], [removed]: r[removed] }))}
      legend={[
        { label: 'kept', color: METHOD_COLORS.flap },
        { label: 'removed', color: REMOVED_COLOR },
      ]}
      height={220}
    >
      {(h) => (
        <ResponsiveContainer width="100%" height={h}>
          <BarChart data={rows} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
            <CartesianGrid vertical={false} stroke="currentColor" strokeOpacity={0.15} />
            <XAxis {...LAYER_AXIS} {...AXIS} />
            <YAxis allowDecimals={false} width={yWidth} {...AXIS} />
            <Tooltip />
            <Bar dataKey={kept} name={`${unit} kept`} stackId={stackId} fill={METHOD_COLORS.flap} isAnimationActive={false} />
            <Bar dataKey={removed} name={`${unit} removed`} stackId={stackId} fill={REMOVED_COLOR} isAnimationActive={false} />
          </BarChart>
        </ResponsiveContainer>
      )}
    </ChartFrame>
  );
}

function StructureChart({ r }: { r: ExperimentRecord }) {
  const layers = r.layers ?? [];
  if (layers.length === 0) return null;
  const caption = `${runLabel(r)} · ${protocolCaption([r])}`;
  if (r.method.name === 'flap') {
    const rows = flapStructureRows(layers);
    return (
      <div className="chart-pair" data-testid="flap-structure">
        <KeptRemovedChart
          title="FLAP: attention heads kept per layer"
          testId="chart-flap-heads"
          caption={`Query heads kept and removed in each layer (the adaptive structure) · ${caption}`}
          rows={rows}
          unit="heads"
          keys={['headsKept', 'headsRemoved']}
          yWidth={40}
        />
        <KeptRemovedChart
          title="FLAP: MLP channels kept per layer"
          testId="chart-flap-channels"
          caption={`MLP intermediate channels kept and removed in each layer · ${caption}`}
          rows={rows}
          unit="channels"
          keys={['channelsKept', 'channelsRemoved']}
          yWidth={48}
        />
      </div>
    );
  }
  const rows = matrixSparsityRows(layers);
  return (
    <ChartFrame
      title="Sparsity per weight matrix"
      testId="chart-matrix-sparsity"
      caption={`Fraction of zero weights in each decoder matrix of each layer · ${caption}`}
      rows={rows}
      legend={MATRIX_NAMES.map((m, i) => ({ label: m, color: MATRIX_COLORS[i]! }))}
      height={240}
    >
      {(h) => (
        <ResponsiveContainer width="100%" height={h}>
          <BarChart data={rows} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
            <CartesianGrid vertical={false} stroke="currentColor" strokeOpacity={0.15} />
            <XAxis {...LAYER_AXIS} {...AXIS} />
            <YAxis domain={[0, 1]} tickFormatter={pct} width={52} {...AXIS} />
            <Tooltip formatter={(v) => (typeof v === 'number' ? `${(v * 100).toFixed(2)}%` : String(v))} />
            {MATRIX_NAMES.map((m, i) => (
              <Bar key={m} dataKey={m} fill={MATRIX_COLORS[i]} isAnimationActive={false} />
            ))}
          </BarChart>
        </ResponsiveContainer>
      )}
    </ChartFrame>
  );
}

/** The structure chart of one chosen run (newest first). */
function Structure({ records, idPrefix }: { records: ExperimentRecord[]; idPrefix: string }) {
  const runs = records.filter((r) => r.layers && r.layers.length > 0);
  const [chosen, setChosen] = useState<string | null>(null);
  if (runs.length === 0) return null;
  const r = runs.find((x) => x.id === chosen) ?? runs[0]!;
  return (
    <div className="structure">
      {runs.length > 1 && (
        <div className="field field-inline">
          <label htmlFor={`${idPrefix}-structure-run`}>Structure of run</label>
          <select id={`${idPrefix}-structure-run`} value={r.id} onChange={(e) => setChosen(e.target.value)}>
            {runs.map((x) => (
              <option key={x.id} value={x.id}>
                {runLabel(x)} · ppl {formatPpl(x.ppl)}
              </option>
            ))}
          </select>
        </div>
      )}
      <StructureChart r={r} />
    </div>
  );
}

/**
 * Every chart for these records (newest first); charts without enough runs are left out.
 * withBits: also perplexity vs bits (the page shows it in the Quantize panel; a shared
 * experiment shows it here).
 */
export function Charts({ records, idPrefix, withBits = false }: { records: ExperimentRecord[]; idPrefix: string; withBits?: boolean }) {
  if (records.length === 0) return null;
  throwIfRenderFault(`charts:${idPrefix}`);
  const newestKey = protocolKey(records[0]!);
  const sameProtocol = records.filter((r) => protocolKey(r) === newestKey);
  return (
    <div className="charts" data-testid={`${idPrefix}-charts`}>
      <BeforeAfter records={sameProtocol} />
      <SweepChart records={records} />
      {withBits && <BitsChart records={records} />}
      <SizeChart records={records} />
      <Structure records={records} idPrefix={idPrefix} />
    </div>
  );
}

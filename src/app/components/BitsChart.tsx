/**
 * Perplexity against bits for the quantization runs (RTN and L4Q) under one protocol (the
 * newest quantization run's), one line per method and grouping (and the RTN-then-LoRA
 * baselines where L4Q runs trained them); the dense perplexity as a reference line. Shown
 * from two points.
 */
import { CartesianGrid, Line, LineChart, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { ExperimentRecord } from '../../engine/record';
import { bitsSeries } from '../charts/bits';
import { protocolCaption } from '../charts/data';
import { ChartFrame } from './ChartFrame';

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

export function BitsChart({ records }: { records: readonly ExperimentRecord[] }) {
  const b = bitsSeries(records);
  // Two points at least (an L4Q run with its RTN-then-LoRA baseline is two).
  if (!b || b.series.reduce((n, s) => n + s.points.length, 0) < 2) return null;
  const lines = b.series.map((s, i) => ({ ...s, color: COLORS[i % COLORS.length]! }));
  const rows = lines.flatMap((l) => l.points.map((p) => ({ series: l.label, bits: p.bits, ppl: p.ppl, recordId: p.recordId })));
  return (
    <ChartFrame
      title="Perplexity vs bits"
      caption={`${protocolCaption(b.used)}${b.dense !== null ? ` · dense ${b.dense.toFixed(3)} (dashed)` : ''}`}
      rows={rows}
      legend={lines.map((l) => ({ label: l.label, color: l.color }))}
      testId="bits-chart"
    >
      {(height) => (
        <ResponsiveContainer width="100%" height={height}>
          <LineChart margin={{ top: 8, right: 24, bottom: 20, left: 8 }}>
            <CartesianGrid stroke="currentColor" strokeOpacity={0.15} />
            <XAxis type="number" dataKey="bits" domain={[2, 8]} ticks={[2, 3, 4, 5, 6, 7, 8]} label={{ value: 'bits per weight (codes)', position: 'insideBottom', offset: -12, fill: 'currentColor' }} stroke="currentColor" />
            <YAxis type="number" dataKey="ppl" scale="log" domain={['auto', 'auto']} tickFormatter={(v: number) => v.toPrecision(3)} width={64} stroke="currentColor" />
            <Tooltip formatter={(v) => (typeof v === 'number' ? v.toFixed(3) : String(v))} labelFormatter={(v) => `${String(v)} bits`} />
            {b.dense !== null && <ReferenceLine y={b.dense} stroke="currentColor" strokeDasharray="4 4" />}
            {lines.map((l) => (
              <Line key={l.key} data={l.points} dataKey="ppl" name={l.label} stroke={l.color} strokeWidth={3} dot={{ r: 5, fill: l.color }} isAnimationActive={false} />
            ))}
          </LineChart>
        </ResponsiveContainer>
      )}
    </ChartFrame>
  );
}

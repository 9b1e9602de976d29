import { useState } from 'react';
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { formatInt, methodSettingsText, methodTitle } from '../format';
import { useStudio } from '../store';
import { useHistogram } from '../teaching-store';
import { ChartFrame } from './ChartFrame';
import { LayerMatrixFields } from './LayerMatrixFields';

const DENSE = '#8a94a6';
const AFTER = '#1f5fd1';

const fmt = (x: number) => (Math.abs(x) >= 0.01 || x === 0 ? x.toFixed(3) : x.toExponential(1));

/** Weight histogram of one matrix: dense vs the last compressed model, on the same bins. */
export function WeightHistogram() {
  const model = useStudio((s) => s.model);
  const results = useStudio((s) => s.results);
  const { layer, matrix, bins, status, reply, error, set, load } = useHistogram();
  const [logY, setLogY] = useState(true);

  const record = reply?.recordId ? results.find((r) => r.id === reply.recordId) : undefined;
  const after = reply?.compressed ?? null;
  const rows =
    reply?.dense.counts.map((c, i) => ({
      bin: i,
      from: reply.edges[i]!,
      to: reply.edges[i + 1]!,
      dense: c,
      ...(after ? { compressed: after.counts[i]! } : {}),
    })) ?? [];
  // Log axes cannot show 0: empty bins are drawn as no bar.
  const plotted: Record<string, number | null>[] = logY ? rows.map((r) => ({ ...r, dense: r.dense || null, compressed: 'compressed' in r ? r.compressed || null : null })) : rows;
  const afterLabel = record ? `after: ${methodTitle(record.method)} ${methodSettingsText(record.method).split(' · ')[0]}` : 'after (last compressed model)';
  const caption = reply
    ? `${reply.modelId} · layer ${reply.layer} · ${reply.matrix}_proj · ${reply.edges.length - 1} equal bins over [${fmt(reply.edges[0]!)}, ${fmt(reply.edges.at(-1)!)}] shared by both · ` +
      `dense ${reply.dense.shape.join('×')}, ${formatInt(reply.dense.zeros)} exact zeros` +
      (after
        ? ` · ${afterLabel} ${after.shape.join('×')}, ${formatInt(after.zeros)} exact zeros of ${formatInt(after.elements)}${record ? ` · run on ${record.protocol.dataset.name}, seqlen ${record.protocol.seqlen}${record.calibration ? `, calibration ${record.calibration.dataset.name} ${record.calibration.samples}×${record.calibration.seqlen}` : ''}` : ''}`
        : ' · no compressed model yet: run a pruning method to compare') +
      (logY ? ' · log count axis' : '')
    : '';

  return (
    <section className="panel" aria-labelledby="hist-heading">
      <h2 id="hist-heading">Weight histogram</h2>
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          void load();
        }}
      >
        <div className="field-row">
          <LayerMatrixFields id="hist" label="Histogram" layers={model?.ref.layers ?? 1} layer={layer} matrix={matrix} set={set} noModel={!model} />
          <div className="field">
            <label htmlFor="hist-bins">Histogram bins</label>
            <input id="hist-bins" type="number" min={5} max={200} step={1} value={bins} onChange={(e) => set({ bins: Math.max(5, Math.min(200, Math.round(Number(e.target.value) || 60))) })} />
          </div>
        </div>
        <div className="actions">
          <button type="submit" className="primary" disabled={!model || status === 'loading'}>
            Show histogram
          </button>
          <label className="inline-check">
            <input type="checkbox" checked={logY} onChange={(e) => setLogY(e.target.checked)} /> Log count axis
          </label>
        </div>
        <p className="hint">Pruning sets weights to exactly 0, so they pile up in the bin holding 0; the caption counts them. FLAP removes whole rows and columns, so its matrix is smaller.</p>
      </form>
      {error && (
        <p className="gen-error" role="alert">
          {error}
        </p>
      )}
      {reply && (
        <ChartFrame
          title={`Weights of layer ${reply.layer} ${reply.matrix}_proj`}
          caption={caption}
          rows={rows}
          testId="weight-histogram"
          legend={[{ label: 'dense', color: DENSE }, ...(after ? [{ label: afterLabel, color: AFTER }] : [])]}
        >
          {(height) => (
            <ResponsiveContainer width="100%" height={height}>
              <BarChart data={plotted} margin={{ top: 8, right: 16, bottom: 8, left: 8 }} barGap={0} barCategoryGap="8%">
                <CartesianGrid vertical={false} stroke="#e3e7ee" />
                <XAxis dataKey="bin" tickFormatter={(i: number) => fmt(reply.edges[i] ?? 0)} tick={{ fontSize: 12 }} minTickGap={24} label={{ value: 'weight value (bin start)', position: 'insideBottom', offset: -4, fontSize: 12 }} height={40} />
                <YAxis scale={logY ? 'log' : 'auto'} domain={logY ? [1, 'auto'] : [0, 'auto']} allowDataOverflow tick={{ fontSize: 12 }} width={56} />
                <Tooltip
                  labelFormatter={(i) => `[${fmt(reply.edges[Number(i)] ?? 0)}, ${fmt(reply.edges[Number(i) + 1] ?? 0)})`}
                  formatter={(v) => (v === null ? 0 : (v as number))}
                />
                <Bar dataKey="dense" name="dense" fill={DENSE} isAnimationActive={false} />
                {after && <Bar dataKey="compressed" name={afterLabel} fill={AFTER} isAnimationActive={false} />}
              </BarChart>
            </ResponsiveContainer>
          )}
        </ChartFrame>
      )}
    </section>
  );
}

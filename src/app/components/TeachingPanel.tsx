import { useEffect, useRef, type FormEvent } from 'react';
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { BUNDLED_DATASETS, type BundledDatasetName } from '../../engine/data';
import type { PooledImage } from '../../engine/inspect/pool-image';
import { formatInt, methodSettingsText, methodTitle } from '../format';
import { useStudio } from '../store';
import { MATRICES, useTeaching, type MatrixName, type TeachMethod } from '../teaching-store';
import type { LayerInspection } from '../../worker/protocol';

/** Viridis stops (matplotlib), for scores: dark = low, yellow = high. */
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];

function viridis(t: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [VIRIDIS[i]!, VIRIDIS[i + 1]!];
  return [0, 1, 2].map((k) => Math.round(a[k]! + (b[k]! - a[k]!) * f)) as [number, number, number];
}

/** A pooled matrix drawn one canvas pixel per cell, scaled up without smoothing. */
function MatrixImage({ image, palette, label, testId }: { image: PooledImage; palette: 'viridis' | 'mask'; label: string; testId: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const c = ref.current;
    const ctx = c?.getContext('2d');
    if (!c || !ctx) return;
    const img = ctx.createImageData(image.cols, image.rows);
    const span = image.max - image.min || 1;
    image.values.forEach((v, i) => {
      // Mask: white = kept, red = pruned (fraction of the cell pruned).
      const [r, g, b] = palette === 'mask' ? [255 - Math.round(75 * v), 255 - Math.round(215 * v), 255 - Math.round(215 * v)] : viridis((v - image.min) / span);
      img.data.set([r, g, b, 255], i * 4);
    });
    ctx.putImageData(img, 0, 0);
  }, [image, palette]);
  const aspect = image.rows === 1 ? 24 / image.cols : image.rows / image.cols;
  return <canvas ref={ref} width={image.cols} height={image.rows} className="matrix-image" style={{ aspectRatio: `${1 / aspect}` }} role="img" aria-label={label} data-testid={testId} />;
}

function poolingText(im: PooledImage): string {
  if (im.blockRows === 1 && im.blockCols === 1) return `${im.sourceRows} × ${im.sourceCols}, one pixel per entry`;
  return `${im.sourceRows} × ${im.sourceCols} shown as ${im.rows} × ${im.cols}: each pixel is the mean of a ${im.blockRows} × ${im.blockCols} block (edge blocks may be smaller)`;
}

const STEPS = ['Input statistics', 'Scores', 'Mask', 'Structure kept', 'Output change'] as const;

function StatsChart({ r }: { r: LayerInspection }) {
  const data = r.input.l2.map((l2, j) => ({ j, l2, mean: r.input.mean[j]!, variance: r.input.variance[j]! }));
  const chart = (key: 'l2' | 'mean' | 'variance', name: string, color: string) => (
    <div className="stat-chart">
      <p className="hint">{name}</p>
      <ResponsiveContainer width="100%" height={120}>
        <LineChart data={data} margin={{ top: 4, right: 8, bottom: 4, left: 4 }}>
          <CartesianGrid vertical={false} stroke="#e3e7ee" />
          <XAxis dataKey="j" tick={{ fontSize: 11 }} minTickGap={20} />
          <YAxis tick={{ fontSize: 11 }} width={52} tickFormatter={(v: number) => v.toPrecision(2)} />
          <Tooltip labelFormatter={(j) => `channel ${j}`} formatter={(v) => Number(v).toPrecision(4)} />
          <Line dataKey={key} name={name} stroke={color} dot={false} strokeWidth={1.5} isAnimationActive={false} />
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
  return (
    <>
      {chart('l2', '‖X_j‖₂ = √(Σ_t x_tj²)', '#2563eb')}
      {chart('mean', 'mean_t x_tj', '#059669')}
      {chart('variance', 'variance of x_tj over tokens (unbiased)', '#d97706')}
    </>
  );
}

function StepView({ r, step }: { r: LayerInspection; step: number }) {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  switch (step) {
    case 0:
      return (
        <div>
          <p>
            The input X of <code>{r.matrix}_proj</code> (read by {r.input.readBy.map((n) => `${n}_proj`).join(', ')}) on {formatInt(r.input.tokens)} calibration tokens ({r.input.samples}{' '}
            samples), through the dense model. Each input channel j is one column of W. Wanda weighs weights by ‖X_j‖₂; FLAP measures how much a channel <em>fluctuates</em> around its mean, because a steady channel can be replaced by its mean.
          </p>
          <StatsChart r={r} />
        </div>
      );
    case 1:
      return (
        <div>
          <p>
            Score: <strong className="formula">{r.scores.formula}</strong>
            {r.scores.kind === 'channel' ? ` — one score per input channel of ${r.scores.of}_proj (a channel is a head dimension or an MLP channel), not per weight.` : ' — one score per weight; low scores are pruned first.'}
          </p>
          <MatrixImage image={r.scores.image} palette="viridis" label={`Scores of layer ${r.layer} ${r.scores.of}_proj`} testId="teach-scores" />
          <p className="hint">
            {poolingText(r.scores.image)}. Colour: linear from the lowest (dark purple, {r.scores.image.min.toPrecision(3)}) to the highest (yellow, {r.scores.image.max.toPrecision(3)}) shown value.
          </p>
        </div>
      );
    case 2:
      return (
        <div>
          <p>
            The mask the method chose for <code>{r.matrix}_proj</code>: <strong data-testid="teach-pruned">{formatInt(r.mask.pruned)}</strong> of {formatInt(r.mask.total)} weights pruned ({pct(r.mask.pruned / r.mask.total)}).{' '}
            {r.method === 'wanda' && 'Wanda compares scores within each output row and removes the same number from every row.'}
            {r.method === 'magnitude' && 'Magnitude removes the smallest |W| of the whole matrix (or of each row).'}
            {r.method === 'flap' && 'FLAP removes whole heads (rows of q, k, v and columns of o) and whole MLP channels (rows of gate, up and columns of down).'}
          </p>
          <MatrixImage image={r.mask.image} palette="mask" label={`Pruning mask of layer ${r.layer} ${r.matrix}_proj`} testId="teach-mask" />
          <p className="hint">{poolingText(r.mask.image)}. White = kept, red = pruned; a pixel's shade is the fraction of its block that is pruned.</p>
        </div>
      );
    case 3:
      return r.flap ? (
        <div>
          <p>
            Layer {r.layer} keeps <strong data-testid="teach-kept-heads">{r.flap.keptHeads.length}</strong> of {r.flap.heads} query heads ({r.flap.keptKvHeads.length} of {r.flap.kvHeads} key/value heads) and{' '}
            <strong>{formatInt(r.flap.keptChannels)}</strong> of {formatInt(r.flap.channels)} MLP channels. The removed parts are cut out of the matrices; their average contribution is folded into the output bias (bias compensation).
          </p>
          <ol className="head-grid" aria-label="Query heads">
            {Array.from({ length: r.flap.heads }, (_, h) => {
              const kept = r.flap!.keptHeads.includes(h);
              return (
                <li key={h} className={kept ? 'head-kept' : 'head-removed'}>
                  head {h}: {kept ? 'kept' : 'removed'}
                </li>
              );
            })}
          </ol>
        </div>
      ) : (
        <p>
          {r.method === 'wanda' ? 'Wanda' : 'Magnitude pruning'} keeps every head and every channel: it zeroes single weights ({pct(r.mask.pruned / r.mask.total)} of this matrix), so the shapes stay the same and the
          saving comes from sparse storage or sparse kernels.
        </p>
      );
    default:
      return (
        <div>
          <p>
            The whole decoder layer {r.layer}, run on the same {formatInt(r.output.tokens)} calibration tokens, dense (Y) and with all seven of its matrices pruned by this method (Y′):
          </p>
          <dl className="facts">
            <div>
              <dt>relative error ‖Y′ − Y‖ / ‖Y‖</dt>
              <dd data-testid="teach-rel-error">{pct(r.output.relError)}</dd>
            </div>
            <div>
              <dt>change of the layer's own contribution ‖Y′ − Y‖ / ‖Y − X‖</dt>
              <dd>{pct(r.output.blockChange)}</dd>
            </div>
          </dl>
          <p className="hint">Y includes the residual X that the layer adds to, which pruning does not touch; the second number compares the change with what the layer itself adds.</p>
        </div>
      );
  }
}

/** Teaching mode: one layer, step by step, on the live model. */
export function TeachingPanel() {
  const model = useStudio((s) => s.model);
  const results = useStudio((s) => s.results);
  const t = useTeaching();
  const f = t.form;
  const latest = results.find((r) => r.method.name === 'magnitude' || r.method.name === 'wanda' || r.method.name === 'flap');
  const running = t.status === 'running';
  const r = t.result;
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void t.inspect();
  };

  return (
    <section className="panel" aria-labelledby="teach-heading">
      <h2 id="teach-heading">Teaching mode: one layer, step by step</h2>
      <form className="form" onSubmit={onSubmit} noValidate>
        <div className="field-row">
          <div className="field">
            <label htmlFor="teach-method">Teaching method</label>
            <select id="teach-method" value={f.method} onChange={(e) => t.setForm({ method: e.target.value as TeachMethod })} disabled={running}>
              <option value="magnitude">Magnitude</option>
              <option value="wanda">Wanda</option>
              <option value="flap">FLAP</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="teach-percent">{f.method === 'flap' ? 'Teaching pruning ratio (%)' : 'Teaching sparsity (%)'}</label>
            <input id="teach-percent" type="number" min={0} max={99} step={5} value={f.percent} onChange={(e) => t.setForm({ percent: e.target.value })} disabled={running} />
          </div>
          <div className="field">
            <label htmlFor="teach-layer">Teaching layer</label>
            <select id="teach-layer" value={f.layer} onChange={(e) => t.setForm({ layer: Number(e.target.value) })} disabled={running || !model}>
              {Array.from({ length: model?.ref.layers ?? 1 }, (_, i) => (
                <option key={i} value={i}>
                  {i}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="teach-matrix">Teaching matrix</label>
            <select id="teach-matrix" value={f.matrix} onChange={(e) => t.setForm({ matrix: e.target.value as MatrixName })} disabled={running}>
              {MATRICES.map((m) => (
                <option key={m} value={m}>
                  {m}_proj
                </option>
              ))}
            </select>
          </div>
        </div>
        <div className="field-row">
          <div className="field">
            <label htmlFor="teach-calib">Teaching calibration text</label>
            <select id="teach-calib" value={f.dataset} onChange={(e) => t.setForm({ dataset: e.target.value as BundledDatasetName })} disabled={running}>
              {Object.entries(BUNDLED_DATASETS).map(([name, d]) => (
                <option key={name} value={name}>
                  {d.title}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="teach-samples">Teaching samples</label>
            <input id="teach-samples" type="number" min={1} max={256} step={1} value={f.samples} onChange={(e) => t.setForm({ samples: e.target.value })} disabled={running} />
          </div>
          <div className="field">
            <label htmlFor="teach-seqlen">Teaching tokens per sample</label>
            <input id="teach-seqlen" type="number" min={2} step={1} value={f.seqlen} onChange={(e) => t.setForm({ seqlen: e.target.value })} disabled={running} />
          </div>
          <div className="field">
            <label htmlFor="teach-offset">Teaching offset</label>
            <input id="teach-offset" type="number" min={0} step={1} value={f.offset} onChange={(e) => t.setForm({ offset: e.target.value })} disabled={running} />
          </div>
        </div>
        <div className="actions">
          <button type="submit" className="primary" disabled={!model || running}>
            Inspect layer
          </button>
          {latest && (
            <button type="button" onClick={() => t.copyRun(latest)} disabled={running}>
              Use the latest run's settings ({methodTitle(latest.method)} {methodSettingsText(latest.method).split(' · ')[0]})
            </button>
          )}
          {running && (
            <button type="button" onClick={() => void t.cancel()}>
              Cancel
            </button>
          )}
          {running && (
            <span className="hint" aria-live="polite">
              {t.progress ? `${t.progress.phase}${t.progress.total ? ` ${t.progress.done}/${t.progress.total}` : '…'}` : 'Starting…'}
            </span>
          )}
        </div>
      </form>
      {t.error && (
        <p className="gen-error" role="alert">
          {t.error}
        </p>
      )}
      {r && t.resultFor && (
        <div className="teach-steps" data-testid="teaching-steps">
          <p className="protocol">
            {methodTitle(t.resultFor.method)} {methodSettingsText(t.resultFor.method)} · layer {r.layer} · {r.matrix}_proj [{r.shape.join(' × ')}] · calibration {t.resultFor.dataset}, {t.resultFor.samples} samples × {t.resultFor.seqlen} tokens from
            token {formatInt(t.resultFor.offset)} · statistics from the dense model
          </p>
          {r.notes.map((n) => (
            <p key={n} className="hint">
              {n}
            </p>
          ))}
          <nav className="step-nav" aria-label="Teaching steps">
            <button type="button" onClick={() => t.setStep(t.step - 1)} disabled={t.step === 0}>
              ← Back
            </button>
            <h3 aria-live="polite" data-testid="teach-step-title">
              Step {t.step + 1} of {STEPS.length}: {STEPS[t.step]}
            </h3>
            <button type="button" onClick={() => t.setStep(t.step + 1)} disabled={t.step === STEPS.length - 1}>
              Next →
            </button>
          </nav>
          <StepView r={r} step={t.step} />
        </div>
      )}
    </section>
  );
}

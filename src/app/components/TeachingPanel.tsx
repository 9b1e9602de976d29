import { useEffect, useRef, type FormEvent } from 'react';
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { BUNDLED_DATASETS, type BundledDatasetName } from '../../engine/data';
import type { PooledImage } from '../../engine/inspect/pool-image';
import { formatInt, methodSettingsText, methodTitle } from '../format';
import { useStudio } from '../store';
import { useTeaching, type TeachMethod } from '../teaching-store';
import type { LayerInspection } from '../../worker/protocol';
import { ChartFrame } from './ChartFrame';
import { LayerMatrixFields } from './LayerMatrixFields';

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

type Palette = 'viridis' | 'mask';

/** Paints the pooled matrix one pixel per cell onto a canvas of image.cols × image.rows. */
function paint(ctx: CanvasRenderingContext2D, image: PooledImage, palette: Palette): void {
  const img = ctx.createImageData(image.cols, image.rows);
  const span = image.max - image.min || 1;
  image.values.forEach((v, i) => {
    // Mask: white = kept, red = pruned (fraction of the cell pruned).
    const [r, g, b] = palette === 'mask' ? [255 - Math.round(75 * v), 255 - Math.round(215 * v), 255 - Math.round(215 * v)] : viridis((v - image.min) / span);
    img.data.set([r, g, b, 255], i * 4);
  });
  ctx.putImageData(img, 0, 0);
}

/** A pooled matrix drawn one canvas pixel per cell, scaled up without smoothing. */
function MatrixImage({ image, palette, label, testId, maxHeight }: { image: PooledImage; palette: Palette; label: string; testId?: string; maxHeight?: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const ctx = ref.current?.getContext('2d');
    if (ctx) paint(ctx, image, palette);
  }, [image, palette]);
  const aspect = image.rows === 1 ? 24 / image.cols : image.rows / image.cols;
  return (
    <canvas
      ref={ref}
      width={image.cols}
      height={image.rows}
      className="matrix-image"
      style={{ aspectRatio: `${1 / aspect}`, ...(maxHeight && image.rows > 1 ? { height: maxHeight, maxHeight: 'none', width: '100%', objectFit: 'contain' as const } : {}) }}
      role="img"
      aria-label={label}
      data-testid={testId}
    />
  );
}

/** Splits text into lines of at most `width` pixels in the context's font. */
function wrap(ctx: CanvasRenderingContext2D, text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    const next = line ? `${line} ${word}` : word;
    if (line && ctx.measureText(next).width > width) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

/** The matrix image as PNG: scaled up without smoothing, with the title and caption under it. */
function matrixPng(image: PooledImage, palette: Palette, title: string, caption: string): Promise<Blob> {
  const src = document.createElement('canvas');
  src.width = image.cols;
  src.height = image.rows;
  const sctx = src.getContext('2d');
  if (!sctx) return Promise.reject(new Error('This browser cannot draw on a canvas.'));
  paint(sctx, image, palette);
  const width = Math.max(640, Math.min(1600, image.cols * Math.max(1, Math.floor(1024 / image.cols))));
  const imgHeight = Math.max(24, Math.round(width * (image.rows === 1 ? 24 / image.cols : image.rows / image.cols)));
  const out = document.createElement('canvas');
  const ctx = out.getContext('2d');
  if (!ctx) return Promise.reject(new Error('This browser cannot draw on a canvas.'));
  const pad = 16;
  ctx.font = '14px sans-serif';
  const lines = wrap(ctx, caption, width);
  out.width = width + 2 * pad;
  out.height = pad + 24 + imgHeight + 8 + lines.length * 18 + pad;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.fillStyle = '#111111';
  ctx.font = 'bold 16px sans-serif';
  ctx.textBaseline = 'top';
  ctx.fillText(title, pad, pad);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(src, pad, pad + 24, width, imgHeight);
  ctx.font = '14px sans-serif';
  lines.forEach((l, i) => ctx.fillText(l, pad, pad + 24 + imgHeight + 8 + i * 18));
  return new Promise((resolve, reject) => out.toBlob((b) => (b ? resolve(b) : reject(new Error('The canvas could not be encoded as PNG.'))), 'image/png'));
}

/** A matrix image in the chart frame: presenter view, PNG of the picture, CSV/JSON of the pooled cells. */
function MatrixFigure({ image, palette, title, label, caption, testId, frameTestId }: { image: PooledImage; palette: Palette; title: string; label: string; caption: string; testId: string; frameTestId: string }) {
  const rows = Array.from(image.values, (value, i) => ({ row: Math.floor(i / image.cols), col: i % image.cols, value }));
  return (
    <ChartFrame title={title} caption={caption} rows={rows} testId={frameTestId} height={0} png={() => matrixPng(image, palette, title, caption)}>
      {(height) => (height > 0 ? <MatrixImage image={image} palette={palette} label={label} maxHeight={height} /> : <MatrixImage image={image} palette={palette} label={label} testId={testId} />)}
    </ChartFrame>
  );
}

function poolingText(im: PooledImage): string {
  if (im.blockRows === 1 && im.blockCols === 1) return `${im.sourceRows} × ${im.sourceCols}, one pixel per entry`;
  return `${im.sourceRows} × ${im.sourceCols} shown as ${im.rows} × ${im.cols}: each pixel is the mean of a ${im.blockRows} × ${im.blockCols} block (edge blocks may be smaller)`;
}

const STEPS = ['Input statistics', 'Scores', 'Mask', 'Structure kept', 'Output change'] as const;

function StatsChart({ r, protocol }: { r: LayerInspection; protocol: string }) {
  const data = r.input.l2.map((l2, j) => ({ j, l2, mean: r.input.mean[j]!, variance: r.input.variance[j]! }));
  const where = `layer ${r.layer} ${r.matrix}_proj input`;
  const chart = (key: 'l2' | 'mean' | 'variance', name: string, color: string) => (
    <div className="stat-chart">
      <ChartFrame
        title={`${name} (${where})`}
        caption={`${name} per input channel j of ${r.matrix}_proj in layer ${r.layer}, over ${formatInt(r.input.tokens)} calibration tokens · ${protocol}`}
        rows={data.map((d) => ({ channel: d.j, [key]: d[key] }))}
        legend={[{ label: name, color }]}
        testId={`teach-stat-${key}`}
        height={120}
      >
        {(height) => (
          <ResponsiveContainer width="100%" height={height}>
            <LineChart data={data} margin={{ top: 4, right: 8, bottom: 4, left: 4 }}>
              <CartesianGrid vertical={false} stroke="#e3e7ee" />
              <XAxis dataKey="j" tick={{ fontSize: 11 }} minTickGap={20} />
              <YAxis tick={{ fontSize: 11 }} width={52} tickFormatter={(v: number) => v.toPrecision(2)} />
              <Tooltip labelFormatter={(j) => `channel ${j}`} formatter={(v) => Number(v).toPrecision(4)} />
              <Line dataKey={key} name={name} stroke={color} dot={false} strokeWidth={1.5} isAnimationActive={false} />
            </LineChart>
          </ResponsiveContainer>
        )}
      </ChartFrame>
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

function StepView({ r, step, protocol }: { r: LayerInspection; step: number; protocol: string }) {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  switch (step) {
    case 0:
      return (
        <div>
          <p>
            The input X of <code>{r.matrix}_proj</code> (read by {r.input.readBy.map((n) => `${n}_proj`).join(', ')}) on {formatInt(r.input.tokens)} calibration tokens ({r.input.samples}{' '}
            samples), through the dense model. Each input channel j is one column of W. Wanda weighs weights by ‖X_j‖₂; FLAP measures how much a channel <em>fluctuates</em> around its mean, because a steady channel can be replaced by its mean.
          </p>
          <StatsChart r={r} protocol={protocol} />
        </div>
      );
    case 1:
      return (
        <div>
          <p>
            Score: <strong className="formula">{r.scores.formula}</strong>
            {r.scores.kind === 'channel' ? ` — one score per input channel of ${r.scores.of}_proj (a channel is a head dimension or an MLP channel), not per weight.` : ' — one score per weight; low scores are pruned first.'}
          </p>
          <MatrixFigure
            image={r.scores.image}
            palette="viridis"
            title={`Scores of layer ${r.layer} ${r.scores.of}_proj`}
            label={`Scores of layer ${r.layer} ${r.scores.of}_proj`}
            caption={`${r.scores.formula} · ${poolingText(r.scores.image)} · viridis from ${r.scores.image.min.toPrecision(3)} (dark) to ${r.scores.image.max.toPrecision(3)} (yellow) · ${protocol}`}
            testId="teach-scores"
            frameTestId="teach-scores-frame"
          />
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
          <MatrixFigure
            image={r.mask.image}
            palette="mask"
            title={`Pruning mask of layer ${r.layer} ${r.matrix}_proj`}
            label={`Pruning mask of layer ${r.layer} ${r.matrix}_proj`}
            caption={`${formatInt(r.mask.pruned)} of ${formatInt(r.mask.total)} weights pruned · ${poolingText(r.mask.image)} · white = kept, red = pruned · ${protocol}`}
            testId="teach-mask"
            frameTestId="teach-mask-frame"
          />
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
  const protocol =
    r && t.resultFor
      ? `${methodTitle(t.resultFor.method)} ${methodSettingsText(t.resultFor.method)} · layer ${r.layer} · ${r.matrix}_proj [${r.shape.join(' × ')}] · calibration ${t.resultFor.dataset}, ${t.resultFor.samples} samples × ${t.resultFor.seqlen} tokens from token ${formatInt(t.resultFor.offset)} · statistics from the dense model`
      : '';
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
          <LayerMatrixFields id="teach" label="Teaching" layers={model?.ref.layers ?? 1} layer={f.layer} matrix={f.matrix} set={t.setForm} busy={running} noModel={!model} />
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
          <p className="protocol">{protocol}</p>
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
          <StepView r={r} step={t.step} protocol={protocol} />
        </div>
      )}
    </section>
  );
}

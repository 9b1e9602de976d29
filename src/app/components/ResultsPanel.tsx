import { Bar, BarChart, CartesianGrid, Cell, LabelList, ResponsiveContainer, XAxis, YAxis } from 'recharts';
import { windowCount } from '../../engine/data';
import type { ExperimentRecord, LayerReport } from '../../engine/record';
import {
  backendText,
  calibrationText,
  formatDuration,
  formatInt,
  formatPpl,
  methodSettingsText,
  methodTitle,
  protocolLine,
  sparsityDetail,
  sparsityText,
  windowsText,
} from '../format';
import { useStudio } from '../store';

const SOURCE_TEXT: Record<ExperimentRecord['protocol']['dataset']['source'], string> = {
  bundled: 'bundled',
  file: 'uploaded file',
  paste: 'pasted',
};

function phaseTimes(r: ExperimentRecord): string {
  const t = r.timings;
  const parts: [string, number | undefined][] = [
    ['dense eval', t.baselineEvalMs],
    ['calibrate', t.calibrateMs],
    ['prune', t.pruneMs],
    ['eval', t.evalMs],
  ];
  return parts
    .filter((p): p is [string, number] => p[1] !== undefined)
    .map(([name, ms]) => `${name} ${formatDuration(ms)}`)
    .join(' · ');
}

const BEFORE_COLOR = '#8a94a6';
const AFTER_COLOR = '#1f5fd1';

function PplChart({ r, baselinePpl }: { r: ExperimentRecord; baselinePpl: number }) {
  const data = [
    { name: 'before (dense)', ppl: baselinePpl, color: BEFORE_COLOR },
    { name: `after (${methodTitle(r.method)})`, ppl: r.ppl, color: AFTER_COLOR },
  ];
  return (
    <figure className="ppl-chart" data-testid="ppl-chart">
      <div className="ppl-chart-plot" role="img" aria-label={`Perplexity before ${formatPpl(baselinePpl)}, after ${formatPpl(r.ppl)}`}>
        <ResponsiveContainer width="100%" height={190}>
          <BarChart data={data} layout="vertical" margin={{ top: 4, right: 72, bottom: 4, left: 8 }} barCategoryGap="22%">
            <CartesianGrid horizontal={false} stroke="#e3e7ee" />
            <XAxis type="number" domain={[0, 'auto']} tick={{ fontSize: 14, fill: '#4f5866' }} stroke="#9aa3b1" />
            <YAxis type="category" dataKey="name" width={150} tick={{ fontSize: 15, fill: '#14171c' }} stroke="#9aa3b1" />
            <Bar dataKey="ppl" isAnimationActive={false}>
              {data.map((d) => (
                <Cell key={d.name} fill={d.color} />
              ))}
              <LabelList dataKey="ppl" position="right" formatter={(v: unknown) => (typeof v === 'number' ? formatPpl(v) : String(v))} style={{ fontSize: 15, fontWeight: 700, fill: '#14171c' }} />
            </Bar>
          </BarChart>
        </ResponsiveContainer>
      </div>
      <figcaption>
        <strong>Perplexity before/after</strong> (lower is better) · {protocolLine(r)}
      </figcaption>
    </figure>
  );
}

function LayerTable({ layers }: { layers: LayerReport[] }) {
  const ratio = (x: { before: number; after: number }) => `${x.after} / ${x.before}`;
  return (
    <div className="layer-table-wrap">
      <table className="layer-table" data-testid="layer-table">
        <caption>Kept per layer (kept / original)</caption>
        <thead>
          <tr>
            <th scope="col">Layer</th>
            <th scope="col">Heads</th>
            <th scope="col">KV heads</th>
            <th scope="col">MLP channels</th>
            <th scope="col">Kept head indices</th>
          </tr>
        </thead>
        <tbody>
          {layers.map((l) => (
            <tr key={l.layer}>
              <th scope="row">{l.layer}</th>
              <td>{ratio(l.heads)}</td>
              <td>{ratio(l.kvHeads)}</td>
              <td>{ratio(l.channels)}</td>
              <td className="kept-list">{l.keptHeads ? (l.keptHeads.length > 0 ? l.keptHeads.join(', ') : 'none') : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Before/after of a method run: method, settings, sparsity, chart, FLAP's per-layer sizes. */
function PruneSummary({ r, baselinePpl }: { r: ExperimentRecord; baselinePpl: number }) {
  return (
    <div className="prune-summary">
      <dl className="facts facts-compact">
        <div className="wide">
          <dt>Method</dt>
          <dd data-testid="method-text">
            <strong>{methodTitle(r.method)}</strong> <span className="muted">· {methodSettingsText(r.method)}</span>
          </dd>
        </div>
        {r.sparsity && (
          <div className="wide">
            <dt>Achieved sparsity</dt>
            <dd>
              <span className="sparsity-value" data-testid="sparsity-value">
                {sparsityText(r.sparsity)}
              </span>{' '}
              <span className="muted">· {sparsityDetail(r.sparsity)}</span>
            </dd>
          </div>
        )}
        {r.calibration && (
          <div className="wide">
            <dt>Calibration</dt>
            <dd>{calibrationText(r.calibration)}</dd>
          </div>
        )}
        {r.modelTransform === 'mha-expanded' && (
          <div className="wide">
            <dt>Model transform</dt>
            <dd>GQA key/value heads expanded to one per query head before pruning</dd>
          </div>
        )}
      </dl>
      <PplChart r={r} baselinePpl={baselinePpl} />
      {r.method.name === 'flap' && r.layers && r.layers.length > 0 && <LayerTable layers={r.layers} />}
    </div>
  );
}

function ResultCard({ r, latest }: { r: ExperimentRecord; latest: boolean }) {
  const p = r.protocol;
  const time = new Date(r.createdAt);
  return (
    <article className={`result${latest ? ' result-latest' : ''}`} data-testid="result-card">
      <div className="result-head">
        {r.baseline ? (
          <div className="ppl">
            <span className="ppl-label">Perplexity before → after</span>
            <span className="ppl-pair">
              <span className="ppl-before" data-testid="ppl-before" title="dense model">
                {formatPpl(r.baseline.ppl)}
              </span>
              <span className="ppl-arrow" aria-hidden="true">
                →
              </span>
              <span className="ppl-value" data-testid="ppl-value" title={`after ${methodTitle(r.method)}`}>
                {formatPpl(r.ppl)}
              </span>
            </span>
          </div>
        ) : (
          <div className="ppl">
            <span className="ppl-label">Perplexity</span>
            <span className="ppl-value" data-testid="ppl-value">
              {formatPpl(r.ppl)}
            </span>
          </div>
        )}
        <div className="result-meta">
          <span className="result-model">{r.model.id}</span>
          <span className="muted">{methodTitle(r.method)}</span>
          <time className="muted" dateTime={r.createdAt}>
            {Number.isNaN(time.getTime()) ? r.createdAt : time.toLocaleTimeString()}
          </time>
        </div>
      </div>
      <p className="protocol" data-testid="protocol">
        {protocolLine(r)}
      </p>
      {r.baseline && <PruneSummary r={r} baselinePpl={r.baseline.ppl} />}
      <dl className="facts facts-compact">
        <div>
          <dt>Mean NLL</dt>
          <dd>{r.meanNll.toFixed(4)} nats/token</dd>
        </div>
        <div>
          <dt>Scored tokens</dt>
          <dd>{formatInt(r.scoredTokens)}</dd>
        </div>
        <div>
          <dt>Dataset</dt>
          <dd>
            {p.dataset.name} <span className="muted">({SOURCE_TEXT[p.dataset.source]}, {formatInt(p.dataset.chars)} chars)</span>
          </dd>
        </div>
        <div>
          <dt>Seqlen</dt>
          <dd>{p.seqlen}</dd>
        </div>
        <div>
          <dt>Windows</dt>
          <dd>
            {windowsText(p.windows)} <span className="muted">of {formatInt(windowCount(p.streamTokens, p.seqlen))}</span>
          </dd>
        </div>
        <div>
          <dt>Wall time</dt>
          <dd>{formatDuration(r.timings.wallMs)}</dd>
        </div>
        {r.baseline && (
          <div className="wide">
            <dt>Phases</dt>
            <dd>{phaseTimes(r)}</dd>
          </div>
        )}
        <div className="wide">
          <dt>Backend</dt>
          <dd>
            {backendText(r.backend)} <span className="muted">· {r.runtime}</span>
          </dd>
        </div>
      </dl>
      {r.backend.fallbackReason && <p className="hint">Fallback: {r.backend.fallbackReason}</p>}
    </article>
  );
}

export function ResultsPanel() {
  const results = useStudio((s) => s.results);
  return (
    <section className="panel" aria-labelledby="results-heading">
      <div className="panel-head">
        <h2 id="results-heading">Results</h2>
        {results.length > 0 && (
          <span className="muted">
            {results.length} run{results.length === 1 ? '' : 's'}, newest first
          </span>
        )}
      </div>
      {results.length === 0 ? (
        <p className="empty">No runs yet. Choose a dataset and press Evaluate, or prune the model in Method.</p>
      ) : (
        <div className="results">
          {results.map((r, i) => (
            <ResultCard key={r.id} r={r} latest={i === 0} />
          ))}
        </div>
      )}
    </section>
  );
}

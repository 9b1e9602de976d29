import { useRef, useState, type ChangeEvent } from 'react';
import { Bar, BarChart, CartesianGrid, Cell, LabelList, ResponsiveContainer, XAxis, YAxis } from 'recharts';
import { calibrationOverlap, calibrationOverlapText } from '../../engine/calibration-overlap';
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
import { throwIfRenderFault } from '../render-faults';
import { Charts } from './Charts';
import { ErrorBoundary } from './ErrorBoundary';
import { useExportHistory } from './HistoryRescue';
import { ShareBox } from './ShareBox';

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
            <XAxis type="number" domain={[0, 'auto']} tick={{ fontSize: 14, fill: 'currentColor' }} stroke="#9aa3b1" />
            <YAxis type="category" dataKey="name" width={150} tick={{ fontSize: 15, fill: 'currentColor' }} stroke="#9aa3b1" />
            <Bar dataKey="ppl" isAnimationActive={false}>
              {data.map((d) => (
                <Cell key={d.name} fill={d.color} />
              ))}
              <LabelList dataKey="ppl" position="right" formatter={(v: unknown) => (typeof v === 'number' ? formatPpl(v) : String(v))} style={{ fontSize: 15, fontWeight: 700, fill: 'currentColor' }} />
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
  const overlap = calibrationOverlap(r);
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
        {overlap && (
          <div className="wide">
            <dt>Held out?</dt>
            <dd className="overlap-warning" data-testid="calibration-overlap">
              ⚠ {calibrationOverlapText(overlap)}
            </dd>
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

function ResultCard({ r, latest, compared, onCompare }: { r: ExperimentRecord; latest: boolean; compared: boolean; onCompare: (id: string) => void }) {
  const p = r.protocol;
  const time = new Date(r.createdAt);
  const removeResult = useStudio((s) => s.removeResult);
  const when = Number.isNaN(time.getTime()) ? r.createdAt : time.toLocaleString();
  throwIfRenderFault(`result:${r.id}`);
  return (
    <article className={`result${latest ? ' result-latest' : ''}`} data-testid="result-card" data-record-id={r.id}>
      <div className="result-tools">
        <label className="compare-toggle">
          <input type="checkbox" checked={compared} onChange={() => onCompare(r.id)} data-testid="compare-toggle" />
          Compare
        </label>
        <button
          type="button"
          className="result-remove"
          onClick={() => void removeResult(r.id)}
          aria-label={`Remove result: ${methodTitle(r.method)}, ${r.model.id}, ${when}`}
          title="Remove from history"
          data-testid="result-remove"
        >
          ×
        </button>
      </div>
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
            {when}
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

/** History header: count, where it is kept, export/import/clear. */
function HistoryBar({ count }: { count: number }) {
  const historyStatus = useStudio((s) => s.historyStatus);
  const importHistoryFile = useStudio((s) => s.importHistoryFile);
  const pendingImport = useStudio((s) => s.pendingImport);
  const resolveImport = useStudio((s) => s.resolveImport);
  const clearHistory = useStudio((s) => s.clearHistory);
  const reportError = useStudio((s) => s.reportError);
  const [confirming, setConfirming] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);

  const onExport = useExportHistory();

  const onImport = async (e: ChangeEvent<HTMLInputElement>) => {
    const input = e.currentTarget;
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    try {
      // The size is checked before the file is read; the records are validated before anything is stored.
      await importHistoryFile(file);
    } catch (err) {
      reportError(`Could not import ${file.name}`, err instanceof Error ? err.message : String(err));
    }
  };

  const where = historyStatus === 'memory' ? 'kept on this page only' : historyStatus === 'loading' ? 'loading saved history…' : 'saved in this browser';
  return (
    <div className="history-bar" data-testid="history-bar">
      <h3 className="history-title">History</h3>
      <span className="muted" data-testid="history-count">
        {count} run{count === 1 ? '' : 's'}, newest first · {where}
      </span>
      <div className="history-actions">
        <button type="button" onClick={() => void onExport()} disabled={count === 0}>
          Export history (JSON)
        </button>
        <button type="button" onClick={() => fileInput.current?.click()}>
          Import…
        </button>
        <input ref={fileInput} type="file" accept=".json,application/json" hidden onChange={(e) => void onImport(e)} aria-label="History file to import" data-testid="history-import-input" />
        {confirming ? (
          <>
            <button
              type="button"
              className="danger"
              onClick={() => {
                setConfirming(false);
                void clearHistory();
              }}
            >
              Confirm clear
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep history
            </button>
          </>
        ) : (
          <button type="button" onClick={() => setConfirming(true)} disabled={count === 0}>
            Clear history
          </button>
        )}
      </div>
      {confirming && (
        <p className="hint" data-testid="clear-warning">
          This removes all {count} run{count === 1 ? '' : 's'} from this browser. Export first to keep a copy.
        </p>
      )}
      {pendingImport && <ImportConfirm p={pendingImport} onChoose={(c) => void resolveImport(c)} />}
    </div>
  );
}

/** An import whose ids are in the history already: replace those runs, import only the new ones, or nothing. */
function ImportConfirm({ p, onChoose }: { p: NonNullable<ReturnType<typeof useStudio.getState>['pendingImport']>; onChoose: (c: 'replace' | 'new-only' | 'cancel') => void }) {
  const n = p.existing.length;
  const total = p.batch.records.length;
  const fresh = total - n;
  return (
    <div className="confirm" role="group" aria-label="Confirm import" data-testid="import-confirm">
      <p data-testid="import-confirm-text">
        {n} of the {total} record{total === 1 ? '' : 's'} in {p.fileName} {n === 1 ? 'has the id of a run' : 'have the ids of runs'} already in the history (perhaps saved by another
        tab); importing {n === 1 ? 'it replaces that run' : 'them replaces those runs'}.
      </p>
      <button type="button" className="danger" onClick={() => onChoose('replace')}>
        Replace {n} run{n === 1 ? '' : 's'}
      </button>
      <button type="button" onClick={() => onChoose('new-only')} disabled={fresh === 0}>
        Import only the {fresh} new
      </button>
      <button type="button" onClick={() => onChoose('cancel')}>
        Cancel import
      </button>
    </div>
  );
}

function windowsKey(r: ExperimentRecord): string {
  return `${r.protocol.windows.start}:${r.protocol.windows.end}`;
}

/** What differs between two records' evaluation protocols (empty when they compare). */
function protocolDifferences(a: ExperimentRecord, b: ExperimentRecord): string[] {
  const out: string[] = [];
  if (a.protocol.dataset.sha256 !== b.protocol.dataset.sha256) out.push('dataset text (sha256)');
  if (a.protocol.seqlen !== b.protocol.seqlen) out.push('seqlen');
  if (windowsKey(a) !== windowsKey(b)) out.push('windows');
  return out;
}

function CompareTable({ a, b, onClose }: { a: ExperimentRecord; b: ExperimentRecord; onClose: () => void }) {
  const diffs = protocolDifferences(a, b);
  const rows: [string, (r: ExperimentRecord) => string][] = [
    ['Model', (r) => r.model.id],
    ['Method', (r) => methodTitle(r.method)],
    ['Settings', (r) => methodSettingsText(r.method)],
    ['Dataset', (r) => `${r.protocol.dataset.name} (${r.protocol.dataset.sha256.slice(0, 12)}…)`],
    ['Seqlen', (r) => String(r.protocol.seqlen)],
    ['Windows', (r) => windowsText(r.protocol.windows)],
    ['Perplexity before (dense)', (r) => (r.baseline ? formatPpl(r.baseline.ppl) : '—')],
    ['Perplexity after', (r) => formatPpl(r.ppl)],
    ['Sparsity', (r) => (r.sparsity ? sparsityText(r.sparsity) : '—')],
    ['Backend', (r) => backendText(r.backend)],
    ['Run at', (r) => {
      const t = new Date(r.createdAt);
      return Number.isNaN(t.getTime()) ? r.createdAt : t.toLocaleString();
    }],
  ];
  return (
    <div className="compare" data-testid="compare">
      <div className="compare-head">
        <h3>Comparison</h3>
        <button type="button" onClick={onClose}>
          Close comparison
        </button>
      </div>
      {diffs.length > 0 ? (
        <p className="compare-warning" data-testid="compare-warning">
          Different protocols: <span data-testid="compare-diffs">{diffs.join(', ')}</span> {diffs.length === 1 ? 'differs' : 'differ'}, so these perplexities are
          not comparable. Numbers compare only under the same protocol (same dataset text, seqlen and windows).
        </p>
      ) : (
        <p className="hint" data-testid="compare-same">
          Same protocol (dataset text, seqlen, windows): the numbers compare.
        </p>
      )}
      <div className="layer-table-wrap">
        <table className="compare-table" data-testid="compare-table">
          <thead>
            <tr>
              <th scope="col" />
              <th scope="col">A</th>
              <th scope="col">B</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(([name, value]) => {
              const va = value(a);
              const vb = value(b);
              return (
                <tr key={name} className={va !== vb ? 'differs' : undefined}>
                  <th scope="row">{name}</th>
                  <td>{va}</td>
                  <td>{vb}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}

export function ResultsPanel() {
  const results = useStudio((s) => s.results);
  const removeResult = useStudio((s) => s.removeResult);
  const [compareIds, setCompareIds] = useState<string[]>([]);
  // Selections of removed results drop out.
  const compared = compareIds.map((id) => results.find((r) => r.id === id)).filter((r): r is ExperimentRecord => r !== undefined);
  const toggleCompare = (id: string) =>
    setCompareIds((prev) => {
      const live = prev.filter((x) => results.some((r) => r.id === x));
      return live.includes(id) ? live.filter((x) => x !== id) : [...live, id].slice(-2);
    });
  return (
    <section className="panel" aria-labelledby="results-heading">
      <div className="panel-head">
        <h2 id="results-heading">Results</h2>
      </div>
      <HistoryBar count={results.length} />
      <ShareBox results={results} />
      {compared.length === 1 && <p className="hint">Tick a second result to compare it with the first.</p>}
      {compared.length === 2 && <CompareTable a={compared[0]} b={compared[1]} onClose={() => setCompareIds([])} />}
      <ErrorBoundary what="The charts">
        <Charts records={results} idPrefix="results" />
      </ErrorBoundary>
      {results.length === 0 ? (
        <p className="empty">No runs yet. Choose a dataset and press Evaluate, or prune the model in Method.</p>
      ) : (
        <div className="results">
          {results.map((r, i) => (
            <ErrorBoundary key={r.id} what={`The result card ${JSON.stringify(r.id)} (${r.model?.id ?? 'unknown model'})`} onRemove={() => void removeResult(r.id)} removeLabel="Remove this result">
              <ResultCard r={r} latest={i === 0} compared={compared.some((c) => c.id === r.id)} onCompare={toggleCompare} />
            </ErrorBoundary>
          ))}
        </div>
      )}
    </section>
  );
}

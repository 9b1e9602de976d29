import { windowCount } from '../../engine/data';
import type { ExperimentRecord } from '../../engine/record';
import { backendText, formatDuration, formatInt, formatPpl, protocolLine, windowsText } from '../format';
import { useStudio } from '../store';

const SOURCE_TEXT: Record<ExperimentRecord['protocol']['dataset']['source'], string> = {
  bundled: 'bundled',
  file: 'uploaded file',
  paste: 'pasted',
};

function ResultCard({ r, latest }: { r: ExperimentRecord; latest: boolean }) {
  const p = r.protocol;
  const time = new Date(r.createdAt);
  return (
    <article className={`result${latest ? ' result-latest' : ''}`} data-testid="result-card">
      <div className="result-head">
        <div className="ppl">
          <span className="ppl-label">Perplexity</span>
          <span className="ppl-value" data-testid="ppl-value">
            {formatPpl(r.ppl)}
          </span>
        </div>
        <div className="result-meta">
          <span className="result-model">{r.model.id}</span>
          <span className="muted">{r.method.name}</span>
          <time className="muted" dateTime={r.createdAt}>
            {Number.isNaN(time.getTime()) ? r.createdAt : time.toLocaleTimeString()}
          </time>
        </div>
      </div>
      <p className="protocol" data-testid="protocol">
        {protocolLine(r)}
      </p>
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
        <p className="empty">No runs yet. Choose a dataset and press Evaluate.</p>
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

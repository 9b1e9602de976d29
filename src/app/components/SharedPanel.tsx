/**
 * A share link's experiment: its charts at once, what was run, and "re-run here". A link
 * that cannot be read shows why, and nothing of it is shown.
 */
import { useState } from 'react';
import { windowsText } from '../format';
import { methodSettingsText, methodTitle } from '../format';
import { rerunProblem, useStudio } from '../store';
import { Charts } from './Charts';
import { ErrorBoundary } from './ErrorBoundary';

function clearHash() {
  history.replaceState(null, '', location.pathname + location.search);
}

export function SharedPanel() {
  const shared = useStudio((s) => s.shared);
  const shareError = useStudio((s) => s.shareError);
  const model = useStudio((s) => s.model);
  const job = useStudio((s) => s.job);
  const closeShared = useStudio((s) => s.closeShared);
  const rerunShared = useStudio((s) => s.rerunShared);
  const declineRerun = useStudio((s) => s.declineRerun);
  const reportError = useStudio((s) => s.reportError);
  const hubLoader = useStudio((s) => s.loadHubModel);
  const [askHub, setAskHub] = useState(false);

  const close = () => {
    closeShared();
    clearHash();
  };

  if (shareError)
    return (
      <section className="panel shared shared-error" role="alert" aria-labelledby="share-error-heading" data-testid="share-error">
        <h2 id="share-error-heading">This share link could not be opened</h2>
        <p data-testid="share-error-message">{shareError}</p>
        <p className="hint">Nothing from the link was loaded. Ask the sender for the whole link (chat tools sometimes cut long ones); the rest of the studio works as usual.</p>
        <button type="button" onClick={close}>
          Dismiss
        </button>
      </section>
    );
  if (!shared) return null;

  const { doc } = shared;
  const x = doc.experiment;
  const problem = rerunProblem(doc, model);
  const needsHub = model !== null && x.model.source === 'hub' && model.ref.id !== x.model.id;

  const loadFromHub = async () => {
    setAskHub(false);
    try {
      await hubLoader(x.model.id, x.model.revision);
    } catch (e) {
      reportError(`Could not load ${x.model.id}`, e instanceof Error ? e.message : String(e));
    }
  };

  return (
    <section className="panel shared" aria-labelledby="shared-heading" data-testid="shared-panel">
      <div className="panel-head">
        <h2 id="shared-heading">Shared experiment{doc.title ? `: ${doc.title}` : ''}</h2>
        <button type="button" onClick={close}>
          Close
        </button>
      </div>
      <p className="hint">
        These results came with the link, as the sender saw them; they are not in your history. “Re-run here” runs the same settings in this browser.
      </p>
      <dl className="facts facts-compact">
        <div>
          <dt>Model</dt>
          <dd data-testid="shared-model">
            {x.model.id} <span className="muted">({x.model.source}{x.model.revision ? `, ${x.model.revision}` : ''})</span>
          </dd>
        </div>
        <div className="wide">
          <dt>Data</dt>
          <dd>
            {x.data.dataset.name} · seqlen {x.data.seqlen} · windows {windowsText(x.data.windows)}
          </dd>
        </div>
        <div className="wide">
          <dt>Runs</dt>
          <dd>
            <ol className="shared-runs">
              {x.runs.map((r, i) => (
                <li key={i}>
                  <strong>{methodTitle(r.method)}</strong> <span className="muted">{methodSettingsText(r.method)}</span>
                </li>
              ))}
            </ol>
          </dd>
        </div>
      </dl>
      <div className="actions">
        <button type="button" className="primary" onClick={() => rerunShared()} disabled={problem !== null || shared.confirmWork !== undefined} data-testid="rerun">
          Re-run here
        </button>
        {needsHub && !askHub && (
          <button type="button" onClick={() => setAskHub(true)}>
            Load {x.model.id} from the Hub…
          </button>
        )}
        {shared.rerunQueued && !job && <span className="muted">Re-run done: the new results are under Results.</span>}
        {shared.rerunQueued && job && <span className="muted">Re-run queued: see Runs.</span>}
      </div>
      {shared.confirmWork && (
        <div className="confirm" role="group" aria-label="Confirm a large re-run" data-testid="rerun-confirm">
          <p>
            This re-run is large: about <strong>{Math.round(shared.confirmWork.total).toLocaleString('en-US')} tokens</strong> through the model, which can take hours in a
            browser tab.
          </p>
          <ul className="shared-runs">
            {shared.confirmWork.lines.map((l, i) => (
              <li key={i}>{l}</li>
            ))}
          </ul>
          <button type="button" className="primary" onClick={() => rerunShared({ confirmed: true })}>
            Queue anyway
          </button>
          <button type="button" onClick={declineRerun}>
            Not now
          </button>
        </div>
      )}
      {askHub && (
        <div className="confirm" role="group" aria-label="Confirm download">
          <p>
            This downloads <strong>{x.model.id}</strong>
            {x.model.revision ? ` (revision ${x.model.revision})` : ''} from huggingface.co into this browser. Continue?
          </p>
          <button type="button" className="primary" onClick={() => void loadFromHub()}>
            Download
          </button>
          <button type="button" onClick={() => setAskHub(false)}>
            Not now
          </button>
        </div>
      )}
      {problem && (
        <p className="hint" data-testid="rerun-problem">
          {problem}
        </p>
      )}
      <ErrorBoundary what="The shared experiment's charts">
        <Charts records={[...doc.results].sort((a, b) => b.createdAt.localeCompare(a.createdAt))} idPrefix="shared" withBits />
      </ErrorBoundary>
    </section>
  );
}

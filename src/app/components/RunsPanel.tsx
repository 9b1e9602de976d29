/**
 * The run queue: the job running now (phase, progress bar, ETA, Cancel) and the runs
 * waiting behind it, each removable. The next run starts when one ends, however it ends.
 */
import { useStudio } from '../store';
import { JobProgress } from './JobProgress';

export function RunsPanel() {
  const job = useStudio((s) => s.job);
  const queue = useStudio((s) => s.queue);
  const cancelRun = useStudio((s) => s.cancelRun);
  // A model load shows its progress in the Model panel.
  const run = job && job.kind !== 'load' ? job : null;
  const loading = job?.kind === 'load';

  return (
    <section className="panel runs" aria-labelledby="runs-heading" data-testid="runs-panel">
      <div className="panel-head">
        <h2 id="runs-heading">Runs</h2>
        <span className="muted" data-testid="runs-count">
          {run ? 1 : 0} running · {queue.length} queued
        </span>
      </div>
      {!run && queue.length === 0 && <p className="empty">Nothing running. Evaluate, prune or sweep: runs queue here and start one after another.</p>}
      {run && (
        <div className="run run-active" data-testid="run-active">
          <div className="run-line">
            <strong className="run-label" data-testid="run-label">
              {run.label ?? run.subject}
            </strong>
            <button type="button" onClick={() => void cancelRun(run.id)} disabled={run.cancelling}>
              {run.cancelling ? 'Cancelling…' : 'Cancel'}
            </button>
          </div>
          <JobProgress job={run} />
        </div>
      )}
      {queue.length > 0 && (
        <>
          {loading && <p className="hint">Queued runs start when the model has loaded.</p>}
          <ol className="run-queue" aria-label="Queued runs">
            {queue.map((q, i) => (
              <li key={q.id} className="run run-queued" data-testid="run-queued">
                <span className="run-pos muted">{i + 1}.</span>
                <span className="run-label">{q.label}</span>
                <span className="muted">waiting</span>
                <button type="button" onClick={() => void cancelRun(q.id)} aria-label={`Remove from the queue: ${q.label}`}>
                  Remove
                </button>
              </li>
            ))}
          </ol>
        </>
      )}
    </section>
  );
}

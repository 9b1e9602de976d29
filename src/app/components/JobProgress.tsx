import { useEffect, useState } from 'react';
import { formatBytes, formatDuration } from '../format';
import type { Job } from '../store';

function useNow(active: boolean, everyMs = 250): number {
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(performance.now()), everyMs);
    return () => clearInterval(t);
  }, [active, everyMs]);
  return now;
}

/** The progress line's words for each of the engine's phases (ExperimentPhase, engine/experiment-phases.ts). */
function phaseLabel(job: Job): string {
  switch (job.phase) {
    case 'download':
      return job.kind === 'load' ? `Downloading ${job.subject}` : `Fetching ${job.subject}`;
    case 'parse':
      return 'Reading weights';
    case 'tokenize':
      return `Tokenizing ${job.subject}`;
    case 'baseline':
      return 'Evaluating the dense model';
    case 'calibrate':
      return 'Calibrating (collecting activation statistics)';
    case 'prune':
      return 'Pruning';
    case 'quantize':
      return 'Quantizing (rounding and packing the weights)';
    case 'train-baseline':
      return 'Training the RTN-then-LoRA baseline (LoRA on the rounded model)';
    case 'train':
      return 'Training (L4Q: LoRA and step sizes)';
    case 'merge':
      return 'Merging into packed integers';
    case 'evaluate':
      return 'Evaluating windows';
  }
}

function countText(job: Job): string {
  if (job.unit === 'bytes') return job.total !== null ? `${formatBytes(job.done)} / ${formatBytes(job.total)}` : formatBytes(job.done);
  if (job.total === null) return '';
  return `${job.done} / ${job.total} ${job.unit}`;
}

/** Remaining time from the rate so far in this phase; null until there is a rate. */
function etaMs(job: Job, now: number): number | null {
  if (job.total === null || job.done <= 0 || job.done >= job.total) return null;
  const perUnit = (job.lastEventAt - job.phaseStartedAt) / job.done;
  return Math.max(0, perUnit * (job.total - job.done) - (now - job.lastEventAt));
}

export function JobProgress({ job }: { job: Job }) {
  const now = useNow(true);
  const eta = etaMs(job, now);
  const determinate = job.total !== null && job.total > 0;
  const label = phaseLabel(job);
  return (
    <div className="job">
      <div className="job-line">
        <span className="job-phase" data-testid="job-phase" aria-live="polite">
          {label}
          {job.cancelling ? ' — cancelling…' : ''}
        </span>
        <span className="job-count">{countText(job)}</span>
      </div>
      <progress
        data-testid="job-progress"
        className="job-bar"
        aria-label={label}
        max={determinate ? job.total ?? 1 : undefined}
        value={determinate ? job.done : undefined}
      />
      <div className="job-line job-times">
        <span>elapsed {formatDuration(now - job.startedAt)}</span>
        <span data-testid="job-eta">
          {eta !== null ? `about ${formatDuration(eta)} left` : job.phase === 'evaluate' && job.total !== null ? 'estimating time left…' : ''}
        </span>
      </div>
    </div>
  );
}

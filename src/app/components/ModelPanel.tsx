import { backendText, backendWhy, formatBytes, formatCompact, formatDuration, formatInt } from '../format';
import type { BackendPreference } from '../../engine/backend/select';
import { BUNDLED_MODEL, useStudio, type LoadStatus } from '../store';
import { JobProgress } from './JobProgress';
import { HubLoader, DownloadSpeed } from './HubLoader';
import { LocalModelPicker } from './LocalModelPicker';

const STATUS_TEXT: Record<LoadStatus, string> = {
  idle: 'starting…',
  loading: 'loading…',
  loaded: 'loaded',
  error: 'load failed',
};

export function ModelPanel() {
  const model = useStudio((s) => s.model);
  const status = useStudio((s) => s.loadStatus);
  const loadError = useStudio((s) => s.loadError);
  const job = useStudio((s) => s.job);
  const reload = useStudio((s) => s.loadBundledModel);
  const localFiles = useStudio((s) => s.localFiles);
  const loadJob = job?.kind === 'load' ? job : null;

  return (
    <section className="panel" data-testid="model-panel" aria-labelledby="model-heading">
      <div className="panel-head">
        <h2 id="model-heading">Model</h2>
        <span className={`badge badge-${status}`} data-testid="model-status">
          {STATUS_TEXT[status]}
        </span>
      </div>

      {loadJob && <JobProgress job={loadJob} />}
      {loadJob && <DownloadSpeed job={loadJob} />}

      {status === 'error' && (
        <div className="load-error">
          <p>The model could not be loaded: {loadError}</p>
          <button type="button" onClick={() => void reload()} disabled={job !== null}>
            Load {BUNDLED_MODEL.id}
          </button>
        </div>
      )}

      {model && (
        <>
          <p className="model-id">
            <span className="model-name">{model.ref.id}</span>
            <span className="model-arch">{model.ref.architecture}</span>
          </p>
          <dl className="facts">
            <div>
              <dt>Parameters</dt>
              <dd title={`${formatInt(model.ref.parameters)} parameters`}>
                {formatCompact(model.ref.parameters)} <span className="muted">({formatInt(model.ref.parameters)})</span>
              </dd>
            </div>
            <div>
              <dt>Layers</dt>
              <dd data-testid="model-layers">{model.ref.layers}</dd>
            </div>
            <div>
              <dt>Hidden size</dt>
              <dd>{model.ref.hiddenSize}</dd>
            </div>
            <div>
              <dt>Attention heads</dt>
              <dd>
                {model.ref.heads} <span className="muted">× {model.headDim} dims</span>
              </dd>
            </div>
            <div>
              <dt>KV heads</dt>
              <dd>{model.ref.kvHeads}</dd>
            </div>
            <div>
              <dt>Intermediate (MLP)</dt>
              <dd>{model.ref.intermediateSize}</dd>
            </div>
            <div>
              <dt>Vocabulary</dt>
              <dd>{formatInt(model.ref.vocabSize)} tokens</dd>
            </div>
            <div>
              <dt>Max positions</dt>
              <dd>{formatInt(model.maxPositionEmbeddings)}</dd>
            </div>
            <div>
              <dt>Weights</dt>
              <dd>{formatBytes(model.weightBytes)}</dd>
            </div>
            <div>
              <dt>Load time</dt>
              <dd>{formatDuration(model.loadMs)}</dd>
            </div>
          </dl>
          <BackendChooser />
          {model.ref.source === 'hub' && (
            <p className="hint" data-testid="model-hub-ref">
              From the Hub: {model.ref.id} at revision {model.ref.revision ?? 'main'}.{' '}
              <button type="button" className="link-button" onClick={() => void reload()} disabled={job !== null}>
                Back to {BUNDLED_MODEL.id}
              </button>
            </p>
          )}
          {model.ref.source === 'local' && (
            <p className="hint" data-testid="model-local-ref">
              {model.ref.id}: {localFiles} files from your disk.{' '}
              <button type="button" className="link-button" onClick={() => void reload()} disabled={job !== null}>
                Back to {BUNDLED_MODEL.id}
              </button>
            </p>
          )}
        </>
      )}
      <HubLoader />
      <LocalModelPicker />
    </section>
  );
}

const BACKEND_CHOICES: { value: BackendPreference; label: string }[] = [
  { value: 'auto', label: 'Auto (WebGPU on a hardware GPU, else CPU WebAssembly SIMD)' },
  { value: 'webgpu', label: 'WebGPU' },
  { value: 'wasm', label: 'CPU (WebAssembly SIMD)' },
  { value: 'cpu', label: 'CPU reference (JavaScript)' },
];

/** Which engine backend runs the jobs, the adapter in use, why (Auto's rule or the menu), and why WebGPU is not, if so. */
function BackendChooser() {
  const preference = useStudio((s) => s.backendPreference);
  const status = useStudio((s) => s.backendStatus);
  const busy = useStudio((s) => s.job !== null);
  const setPreference = useStudio((s) => s.setBackendPreference);
  return (
    <div className="backend-chooser">
      <label htmlFor="backend-select">Backend</label>
      <select id="backend-select" value={preference} disabled={busy} onChange={(e) => void setPreference(e.target.value as BackendPreference)}>
        {BACKEND_CHOICES.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label}
          </option>
        ))}
      </select>
      {status && (
        <p className="backend-status" data-testid="model-backend">
          {backendText(status.backend)}
          {backendWhy(status) && <span data-testid="backend-reason"> · {backendWhy(status)}</span>}
        </p>
      )}
      {status?.fallbackReason && (
        <p className="hint" data-testid="backend-fallback">
          WebGPU is not in use: {status.fallbackReason}
          {status.softwareAdapter ? '; choose WebGPU in the Backend menu to use it anyway.' : ''}
        </p>
      )}
    </div>
  );
}

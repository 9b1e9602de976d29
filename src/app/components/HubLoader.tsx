/**
 * "Load from the Hub" in the Model panel: id + revision, the preview before any weight is
 * downloaded (parameters, download size, memory needs against the backend's limits, with
 * refuse/warn), the download with speed and cancel, the cache and the token field. The
 * token input is a password field that is never put in the page URL or in notices.
 */
import { useState } from 'react';
import { formatBytes, formatCompact, formatInt } from '../format';
import { useStudio, type Job } from '../store';

/** Bytes per second over the download so far, and a cancel button (Hub and bundled loads). */
export function DownloadSpeed({ job }: { job: Job }) {
  const cancel = useStudio((s) => s.cancel);
  if (job.unit !== 'bytes') return null;
  const seconds = (job.lastEventAt - job.phaseStartedAt) / 1000;
  const rate = seconds > 0 ? job.done / seconds : null;
  return (
    <div className="job-line" data-testid="download-stats">
      <span data-testid="download-speed">{rate !== null && job.done > 0 ? `${formatBytes(rate)}/s` : 'starting…'}</span>
      <button type="button" onClick={() => void cancel()} disabled={job.cancelling} data-testid="download-cancel">
        {job.cancelling ? 'Cancelling…' : 'Cancel download'}
      </button>
    </div>
  );
}

export function HubLoader() {
  const hubUrl = useStudio((s) => s.hubUrl);
  const token = useStudio((s) => s.hubToken);
  const remember = useStudio((s) => s.hubRememberToken);
  const preview = useStudio((s) => s.hubPreview);
  const usage = useStudio((s) => s.hubCacheUsage);
  const busy = useStudio((s) => s.job !== null);
  const ready = useStudio((s) => s.client !== null);
  const setHubUrl = useStudio((s) => s.setHubUrl);
  const setHubToken = useStudio((s) => s.setHubToken);
  const check = useStudio((s) => s.previewHubModel);
  const load = useStudio((s) => s.loadHubModel);
  const clearCache = useStudio((s) => s.clearHubCache);
  const [id, setId] = useState('');
  const [revision, setRevision] = useState('');
  let host = hubUrl;
  try {
    host = new URL(hubUrl).host;
  } catch {
    /* shown as typed; checked when used */
  }

  const reply = preview?.status === 'ready' ? preview.reply : undefined;
  const verdict = reply?.check.verdict;
  const sameAsTyped = preview !== null && preview.id === id.trim() && preview.revision === (revision.trim() || 'main');

  return (
    <details className="hub-loader" data-testid="hub-loader">
      <summary>Load a model from the Hugging Face Hub</summary>
      <form
        className="hub-form"
        onSubmit={(e) => {
          e.preventDefault();
          void check(id, revision);
        }}
      >
        <label>
          Model id
          <input data-testid="hub-id" value={id} placeholder="HuggingFaceTB/SmolLM2-135M" onChange={(e) => setId(e.target.value)} spellCheck={false} autoComplete="off" />
        </label>
        <label>
          Revision
          <input data-testid="hub-revision" value={revision} placeholder="main" onChange={(e) => setRevision(e.target.value)} spellCheck={false} autoComplete="off" />
        </label>
        <button type="submit" data-testid="hub-check" disabled={!ready || id.trim() === '' || preview?.status === 'loading'}>
          {preview?.status === 'loading' ? 'Checking…' : 'Check size'}
        </button>
      </form>

      <details className="hub-settings">
        <summary>Access token and Hub URL</summary>
        <label>
          Hub access token (gated models)
          <input
            data-testid="hub-token"
            type="password"
            value={token}
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => setHubToken(e.target.value, remember)}
          />
        </label>
        <label className="inline">
          <input data-testid="hub-remember" type="checkbox" checked={remember} onChange={(e) => setHubToken(token, e.target.checked)} /> remember for this tab
        </label>
        <p className="hint">
          The token stays in this tab ({remember ? 'session storage, cleared when the tab closes' : 'memory only, cleared on reload'}) and is sent only to {host}, never in links,
          history or to other hosts.
        </p>
        <label>
          Hub URL
          <input data-testid="hub-url" value={hubUrl} spellCheck={false} onChange={(e) => setHubUrl(e.target.value)} />
        </label>
        <p className="hint">The site's security policy lets the page fetch only from the Hub host it was built for (STUDIO_HUB_URL); another host needs a rebuild.</p>
      </details>

      {preview?.status === 'error' && (
        <p className="hub-error" role="alert" data-testid="hub-preview-error">
          {preview.error}
        </p>
      )}

      {reply && (
        <div className="hub-preview" data-testid="hub-preview">
          <p className="model-id">
            <span className="model-name">{reply.preview.repo.id}</span>
            <span className="model-arch">
              {reply.preview.config.architecture} · {reply.preview.repo.revision}
            </span>
          </p>
          <dl className="facts">
            <div>
              <dt>Parameters</dt>
              <dd data-testid="hub-parameters" title={`${formatInt(reply.preview.parameters)} parameters`}>
                {formatCompact(reply.preview.parameters)}
              </dd>
            </div>
            <div>
              <dt>Stored as</dt>
              <dd>
                {reply.preview.dtypes.join(', ')} · {reply.preview.files.length} file{reply.preview.files.length === 1 ? '' : 's'}
              </dd>
            </div>
            <div>
              <dt>Download</dt>
              <dd data-testid="hub-download">
                {reply.preview.downloadBytes === 0 ? `cached (${formatBytes(reply.preview.totalBytes)})` : formatBytes(reply.preview.downloadBytes)}
              </dd>
            </div>
            <div>
              <dt>Weights in memory (float32)</dt>
              <dd data-testid="hub-memory">{formatBytes(reply.memory.weights)}</dd>
            </div>
            <div>
              <dt>Evaluate (seqlen {reply.memory.seqlen})</dt>
              <dd>{formatBytes(reply.memory.evaluate.gpu)}</dd>
            </div>
            <div>
              <dt>Prune and compare</dt>
              <dd>up to {formatBytes(reply.memory.prune.gpu)}</dd>
            </div>
            <div>
              <dt>Largest buffer</dt>
              <dd>
                {formatBytes(reply.memory.largestTensorBytes)}
                {reply.limits.maxBufferSize !== undefined && <span className="muted"> of {formatBytes(reply.limits.maxBufferSize)} allowed</span>}
              </dd>
            </div>
          </dl>
          <ul className={`hub-verdict hub-verdict-${verdict}`} data-testid="hub-verdict" data-verdict={verdict}>
            {verdict === 'ok' && <li>Fits this {reply.limits.backend === 'webgpu' ? 'GPU' : 'CPU backend'}.</li>}
            {reply.check.messages.map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
          <button
            type="button"
            data-testid="hub-load"
            disabled={busy || verdict === 'refuse' || !sameAsTyped}
            onClick={() => void load(reply.preview.repo.id, reply.preview.repo.revision)}
          >
            {verdict === 'refuse' ? 'Does not fit' : verdict === 'warn' ? 'Load anyway' : reply.preview.downloadBytes === 0 ? 'Load from cache' : `Download ${formatBytes(reply.preview.downloadBytes)} and load`}
          </button>
        </div>
      )}

      <div className="hub-cache">
        <button type="button" data-testid="hub-clear-cache" disabled={busy || !ready} onClick={() => void clearCache()}>
          Clear Hub cache
        </button>
        {usage && (
          <span className="hint" data-testid="hub-cache-usage">
            {usage.cache === null
              ? 'This browser offers no cache storage; models are downloaded at each load.'
              : `${usage.cache}: ${usage.used !== null ? formatBytes(usage.used) : '?'} used${usage.quota !== null ? ` of ${formatBytes(usage.quota)}` : ''}`}
          </span>
        )}
      </div>
      <p className="hint">
        Llama, Mistral and Qwen2 checkpoints in safetensors (f32, f16 or bf16). Only config.json and the file headers are read until you press the download button; a
        downloaded model is kept in this browser's cache for offline use.
      </p>
    </details>
  );
}

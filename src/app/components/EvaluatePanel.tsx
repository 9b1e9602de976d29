import type { FormEvent } from 'react';
import { BUNDLED_DATASETS, isBundledDataset } from '../../engine/data';
import { formatBytes, formatInt } from '../format';
import { useStudio, type DataSource } from '../store';

const SOURCES: { value: DataSource; label: string }[] = [
  ...Object.entries(BUNDLED_DATASETS).map(([name, d]) => ({ value: name as DataSource, label: d.title })),
  { value: 'paste', label: 'Paste text…' },
  { value: 'file', label: 'Upload a .txt file…' },
];

export function EvaluatePanel() {
  const model = useStudio((s) => s.model);
  const job = useStudio((s) => s.job);
  const dataSource = useStudio((s) => s.dataSource);
  const pasteText = useStudio((s) => s.pasteText);
  const upload = useStudio((s) => s.upload);
  const seqlenText = useStudio((s) => s.seqlenText);
  const windows = useStudio((s) => s.windows);
  const setDataSource = useStudio((s) => s.setDataSource);
  const setPasteText = useStudio((s) => s.setPasteText);
  const setUpload = useStudio((s) => s.setUpload);
  const setSeqlenText = useStudio((s) => s.setSeqlenText);
  const setWindows = useStudio((s) => s.setWindows);
  const evaluate = useStudio((s) => s.evaluate);

  const maxSeqlen = model?.maxPositionEmbeddings;
  const canEvaluate = model !== null;

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void evaluate();
  };

  return (
    <section className="panel" aria-labelledby="data-heading">
      <h2 id="data-heading">Data &amp; evaluate</h2>
      <form className="form" onSubmit={onSubmit} noValidate>
        <div className="field">
          <label htmlFor="dataset">Dataset</label>
          <select id="dataset" value={dataSource} onChange={(e) => setDataSource(e.target.value as DataSource)}>
            {SOURCES.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
          {isBundledDataset(dataSource) && <p className="hint">Bundled with the studio · licence {BUNDLED_DATASETS[dataSource].licence}</p>}
        </div>

        {dataSource === 'paste' && (
          <div className="field">
            <label htmlFor="paste-text">Text to evaluate</label>
            <textarea
              id="paste-text"
              rows={6}
              value={pasteText}
              onChange={(e) => setPasteText(e.target.value)}
              placeholder="Once upon a time, there was a little girl named Lily…"
             
            />
            <p className="hint">{formatInt(pasteText.length)} characters. It needs at least one full window of tokens.</p>
          </div>
        )}

        {dataSource === 'file' && (
          <div className="field">
            <label htmlFor="upload">Text file (.txt, UTF-8)</label>
            <input
              id="upload"
              type="file"
              accept=".txt,text/plain"
              onChange={(e) => void setUpload(e.target.files?.[0] ?? null)}
             
            />
            <p className="hint">
              {upload ? `${upload.name} · ${formatBytes(upload.bytes)} · ${formatInt(upload.text.length)} characters` : 'The file is read here in the browser; it is not uploaded anywhere.'}
            </p>
          </div>
        )}

        <div className="field-row">
          <div className="field">
            <label htmlFor="seqlen">Sequence length</label>
            <input
              id="seqlen"
              type="number"
              inputMode="numeric"
              min={2}
              max={maxSeqlen}
              step={1}
              value={seqlenText}
              onChange={(e) => setSeqlenText(e.target.value)}
              aria-describedby="seqlen-hint"
             
            />
            <p className="hint" id="seqlen-hint">
              Tokens per window, 2 to {maxSeqlen ?? '…'}
            </p>
          </div>
          <div className="field">
            <label htmlFor="windows">Windows</label>
            <input
              id="windows"
              type="text"
              spellCheck={false}
              autoComplete="off"
              value={windows}
              onChange={(e) => setWindows(e.target.value)}
              aria-describedby="windows-hint"
             
            />
            <p className="hint" id="windows-hint">
              A:B = windows A to B−1; also A:, N, all. About 1 s per window on the CPU backend.
            </p>
          </div>
        </div>

        <div className="actions">
          <button type="submit" className="primary" disabled={!canEvaluate}>
            Evaluate
          </button>
          {job && job.kind !== 'load' && <span className="hint">A run is in progress: new runs queue behind it (see Runs).</span>}
          {!model && !job && <span className="hint">Waiting for the model…</span>}
        </div>
      </form>
    </section>
  );
}

import { useState } from 'react';
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { ExportReply, ExportRequest, OrtRunReply, OrtRunRequest } from '../../worker/protocol';
import { downloadBlob, downloadText } from '../download';
import { methodSettingsText, methodTitle } from '../format';
import { useStudio } from '../store';
import { ChartFrame } from './ChartFrame';

/** The File System Access API's folder picker, where the browser has it (Chromium). */
type DirectoryHandle = {
  name: string;
  getDirectoryHandle(name: string, o: { create: boolean }): Promise<DirectoryHandle>;
  getFileHandle(name: string, o: { create: boolean }): Promise<{ createWritable(): Promise<{ write(d: BlobPart): Promise<void>; close(): Promise<void> }> }>;
};
type PickerWindow = Window & { showDirectoryPicker?: (o?: { mode?: 'readwrite' }) => Promise<DirectoryHandle> };

async function writeFolder(root: DirectoryHandle, reply: ExportReply): Promise<string> {
  const dir = await root.getDirectoryHandle(reply.name, { create: true });
  for (const f of reply.files) {
    const w = await (await dir.getFileHandle(f.name, { create: true })).createWritable();
    await w.write(f.bytes as Uint8Array<ArrayBuffer>);
    await w.close();
  }
  return `${root.name}/${reply.name}`;
}

const mib = (n: number) => `${(n / 1048576).toFixed(n < 10 * 1048576 ? 2 : 1)} MiB`;

/**
 * Downloads: the dense or the last compressed model as safetensors (Hub layout) or ONNX
 * (onnxruntime-web / transformers.js), as a zip or into a folder; and a run's JSON report.
 * The files are built in the engine worker; the page only saves the bytes.
 */
export function ExportPanel() {
  const client = useStudio((s) => s.client);
  const model = useStudio((s) => s.model);
  const results = useStudio((s) => s.results);
  const [which, setWhich] = useState<ExportRequest['which']>('compressed');
  const [format, setFormat] = useState<ExportRequest['format']>('onnx');
  const [dtype, setDtype] = useState<ExportRequest['dtype']>('f32');
  const [dequantize, setDequantize] = useState(false);
  const [busy, setBusy] = useState(false);
  const [status, setStatus] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [reportId, setReportId] = useState<string>('');
  const picker = typeof window !== 'undefined' ? (window as PickerWindow).showDirectoryPicker : undefined;

  const run = async (container: ExportRequest['container']) => {
    if (!client) return;
    setBusy(true);
    setStatus(null);
    try {
      // Ask for the folder first: the picker needs the click's user activation.
      const root = container === 'files' && picker ? await picker.call(window, { mode: 'readwrite' }) : null;
      const reply = await client.exportModel({ which, format, dtype, dequantize, container });
      let where: string;
      if (reply.zip) {
        downloadBlob(new Blob([reply.zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }), `${reply.name}.zip`);
        where = `${reply.name}.zip`;
      } else {
        where = await writeFolder(root!, reply);
      }
      const q = reply.matMulNBits ? `, ${reply.matMulNBits} linears as MatMulNBits 4-bit` : '';
      const fb = reply.floatFallback.length ? `; ${reply.floatFallback.length} quantized linears written as float (${reply.floatFallback[0]})` : '';
      setStatus({ kind: 'ok', text: `Saved ${where}: ${mib(reply.totalBytes)} built in ${reply.ms.toFixed(0)} ms${q}${fb}.` });
    } catch (e) {
      // A closed folder picker is not an error.
      if (e instanceof DOMException && e.name === 'AbortError') setStatus(null);
      else setStatus({ kind: 'error', text: e instanceof Error ? e.message : String(e) });
    } finally {
      setBusy(false);
    }
  };

  const report = results.find((r) => r.id === reportId) ?? results[0];
  const downloadReport = () => {
    if (!report) return;
    downloadText(`${JSON.stringify(report, null, 2)}\n`, `${report.model.id.replace(/[^A-Za-z0-9._-]+/g, '_')}-${report.method.name}-${report.id}.json`, 'application/json');
  };

  return (
    <section className="panel" aria-labelledby="export-heading" data-testid="export-panel">
      <h2 id="export-heading">Export</h2>
      <p className="hint">
        Safetensors in Hub layout (per-layer FLAP sizes in config.json, packed integers for quantized layers) or ONNX with
        past_key_values for onnxruntime-web and transformers.js (4-bit layers as com.microsoft.MatMulNBits).
      </p>
      <div className="form">
        <div className="field-row">
          <div className="field">
            <label htmlFor="export-which">Model</label>
            <select id="export-which" value={which} onChange={(e) => setWhich(e.target.value as ExportRequest['which'])} disabled={busy}>
              <option value="compressed">Last compressed model (this tab)</option>
              <option value="dense">Dense {model ? model.ref.id : ''}</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="export-format">Format</label>
            <select id="export-format" value={format} onChange={(e) => setFormat(e.target.value as ExportRequest['format'])} disabled={busy}>
              <option value="onnx">ONNX (model.onnx)</option>
              <option value="safetensors">safetensors (Hub layout)</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="export-dtype">Weights</label>
            <select id="export-dtype" value={dtype} onChange={(e) => setDtype(e.target.value as ExportRequest['dtype'])} disabled={busy}>
              <option value="f32">f32</option>
              <option value="f16">f16</option>
            </select>
          </div>
        </div>
        <label className="check">
          <input type="checkbox" checked={dequantize} onChange={(e) => setDequantize(e.target.checked)} disabled={busy} /> Quantized layers as float (dequantized variant)
        </label>
        <div className="actions">
          <button type="button" className="primary" onClick={() => void run('zip')} disabled={!client || !model || busy} data-testid="export-zip">
            {busy ? 'Exporting…' : 'Download zip'}
          </button>
          {picker && (
            <button type="button" onClick={() => void run('files')} disabled={!client || !model || busy} data-testid="export-folder">
              Save to folder…
            </button>
          )}
        </div>
        {status && (
          <p className={status.kind === 'error' ? 'gen-error' : 'hint'} role={status.kind === 'error' ? 'alert' : 'status'} data-testid="export-status">
            {status.text}
          </p>
        )}
        <div className="field-row">
          <div className="field">
            <label htmlFor="export-report">Experiment report</label>
            <select id="export-report" value={report?.id ?? ''} onChange={(e) => setReportId(e.target.value)} disabled={results.length === 0}>
              {results.length === 0 && <option value="">no runs yet</option>}
              {results.map((r) => (
                <option key={r.id} value={r.id}>
                  {methodTitle(r.method)} · {methodSettingsText(r.method)} · ppl {r.ppl.toFixed(3)}
                </option>
              ))}
            </select>
          </div>
        </div>
        <div className="actions">
          <button type="button" onClick={downloadReport} disabled={!report} data-testid="export-report">
            Download JSON report
          </button>
        </div>
      </div>
      <OrtRun />
    </section>
  );
}

const AXIS = { stroke: 'currentColor', tick: { fill: 'currentColor', fontSize: 14 } };

/**
 * The export running in onnxruntime-web in this tab: dense and last compressed model,
 * greedy generation with the cache, ms/token and the model's bytes on one chart.
 */
function OrtRun() {
  const client = useStudio((s) => s.client);
  const model = useStudio((s) => s.model);
  const results = useStudio((s) => s.results);
  const [prompt, setPrompt] = useState('Once upon a time');
  const [newTokens, setNewTokens] = useState('32');
  const [ep, setEp] = useState<OrtRunRequest['ep']>('auto');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [reply, setReply] = useState<OrtRunReply | null>(null);

  const run = async () => {
    if (!client) return;
    const n = Number(newTokens);
    if (!Number.isInteger(n) || n < 1 || n > 512) {
      setError('New tokens must be a whole number from 1 to 512.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      setReply(await client.ortRun({ jobId: `ort-${Date.now()}`, prompt, newTokens: n, ep }));
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  const label = (which: string, recordId: string | null) => {
    if (which === 'dense') return `dense ${model?.ref.id ?? ''}`;
    const r = results.find((x) => x.id === recordId);
    return r ? `${methodTitle(r.method)} ${methodSettingsText(r.method).split(' · ')[0]}` : 'compressed';
  };
  const rows = (reply?.results ?? []).map((r) => ({
    model: label(r.which, r.recordId),
    'ms/token': Number(r.msPerToken.toFixed(2)),
    MiB: Number((r.modelBytes / 1048576).toFixed(3)),
    ep: r.ep,
    'first token ms': Number(r.prefillMs.toFixed(1)),
  }));

  return (
    <div className="form" data-testid="ort-run">
      <h3>Run the export in onnxruntime-web</h3>
      <p className="hint">
        Exports the dense and the last compressed model to ONNX in the worker and generates greedily with onnxruntime-web (WebGPU EP, else
        wasm), feeding past_key_values back as transformers.js does.
      </p>
      <div className="field">
        <label htmlFor="ort-prompt">ONNX prompt</label>
        <input id="ort-prompt" value={prompt} onChange={(e) => setPrompt(e.target.value)} disabled={busy} />
      </div>
      <div className="field-row">
        <div className="field">
          <label htmlFor="ort-tokens">ONNX new tokens</label>
          <input id="ort-tokens" inputMode="numeric" value={newTokens} onChange={(e) => setNewTokens(e.target.value)} disabled={busy} />
        </div>
        <div className="field">
          <label htmlFor="ort-ep">Execution provider</label>
          <select id="ort-ep" value={ep} onChange={(e) => setEp(e.target.value as OrtRunRequest['ep'])} disabled={busy}>
            <option value="auto">Auto (WebGPU, else wasm)</option>
            <option value="webgpu">WebGPU</option>
            <option value="wasm">wasm</option>
          </select>
        </div>
      </div>
      <div className="actions">
        <button type="button" onClick={() => void run()} disabled={!client || !model || busy} data-testid="ort-run-button">
          {busy ? 'Running…' : 'Run in onnxruntime-web'}
        </button>
      </div>
      {error && (
        <p className="gen-error" role="alert">
          {error}
        </p>
      )}
      {reply && (
        <>
          {reply.results.map((r) => (
            <p key={r.which} className="hint" data-testid={`ort-result-${r.which}`}>
              <strong>{label(r.which, r.recordId)}</strong> on {r.ep === 'webgpu' ? 'WebGPU EP' : 'wasm EP'}: {r.msPerToken.toFixed(2)} ms/token, first
              token {r.prefillMs.toFixed(1)} ms ({reply.promptTokens} prompt tokens), {(r.modelBytes / 1048576).toFixed(2)} MiB
              {r.matMulNBits ? `, ${r.matMulNBits} MatMulNBits` : ''}
              {r.note ? ` — ${r.note}` : ''}. “{r.text}”
            </p>
          ))}
          <ChartFrame
            title="onnxruntime-web: ms/token and model size"
            testId="chart-ort"
            caption={`Greedy decoding with the cache, ${reply.results[0]?.newTokens ?? 0} new tokens after ${reply.promptTokens} prompt tokens, one run each in this tab; size = model.onnx bytes`}
            rows={rows}
            legend={[
              { label: 'ms/token', color: '#1f5fd1' },
              { label: 'MiB', color: '#059669' },
            ]}
            height={Math.max(160, 40 + rows.length * 64)}
          >
            {(h) => (
              <ResponsiveContainer width="100%" height={h}>
                <BarChart data={rows} layout="vertical" margin={{ top: 4, right: 56, bottom: 4, left: 8 }}>
                  <CartesianGrid horizontal={false} stroke="currentColor" strokeOpacity={0.15} />
                  <XAxis type="number" domain={[0, 'auto']} {...AXIS} />
                  <YAxis type="category" dataKey="model" width={170} {...AXIS} />
                  <Tooltip />
                  <Bar dataKey="ms/token" fill="#1f5fd1" isAnimationActive={false} />
                  <Bar dataKey="MiB" fill="#059669" isAnimationActive={false} />
                </BarChart>
              </ResponsiveContainer>
            )}
          </ChartFrame>
        </>
      )}
    </div>
  );
}

import type { FormEvent } from 'react';
import { useGeneration, type GenerationSide } from '../generation-store';
import { methodSettingsText, methodTitle } from '../format';
import { useStudio } from '../store';

const STOP_TEXT = { length: 'token budget reached', eos: 'the model ended the text', context: "the model's context is full" } as const;

function SideView({ title, subtitle, side, promptText, testId }: { title: string; subtitle: string; side: GenerationSide; promptText: string; testId: string }) {
  const r = side.reply;
  // The prompt is shown dimmed and the continuation plain; both as React text nodes.
  const prompt = r?.promptText ?? promptText;
  const hasPrompt = side.text.startsWith(prompt);
  return (
    <article className="gen-side" aria-live="polite" aria-busy={side.status === 'running'}>
      <h3>{title}</h3>
      <p className="hint">{subtitle}</p>
      {side.status === 'error' ? (
        <p className="gen-error" role="alert">
          {side.error}
        </p>
      ) : (
        <p className="gen-text" data-testid={testId}>
          {hasPrompt ? (
            <>
              <span className="gen-prompt">{prompt}</span>
              {side.text.slice(prompt.length)}
            </>
          ) : (
            side.text
          )}
          {side.status === 'running' && <span className="gen-cursor" aria-hidden="true">▍</span>}
        </p>
      )}
      <p className="gen-stats">
        {side.status === 'running' && `${side.tokens} tokens…`}
        {side.status === 'cancelled' && 'Cancelled.'}
        {r && (
          <>
            <strong>{r.tokensPerSecond.toFixed(1)} tokens/s</strong> · {r.ids.length} new tokens after {r.promptTokens} prompt tokens · first token after {r.prefillMs.toFixed(0)} ms · {STOP_TEXT[r.stop]} · {r.backend.name === 'webgpu' ? 'WebGPU' : r.backend.name === 'wasm' ? 'CPU (WebAssembly SIMD)' : 'CPU reference'}
          </>
        )}
      </p>
    </article>
  );
}

/** One prompt through the dense and the last compressed model, side by side. */
export function GenerationPanel() {
  const model = useStudio((s) => s.model);
  const results = useStudio((s) => s.results);
  const form = useGeneration((s) => s.form);
  const sides = useGeneration((s) => s.sides);
  const running = useGeneration((s) => s.running);
  const formError = useGeneration((s) => s.formError);
  const setForm = useGeneration((s) => s.setForm);
  const run = useGeneration((s) => s.run);
  const cancel = useGeneration((s) => s.cancel);

  const compressedRecord = sides.compressed.reply?.recordId ? results.find((r) => r.id === sides.compressed.reply!.recordId) : undefined;
  const compressedSubtitle = compressedRecord
    ? `${methodTitle(compressedRecord.method)} · ${methodSettingsText(compressedRecord.method)}`
    : sides.compressed.reply?.recordId
      ? 'the model of the last pruning run'
      : 'the model of the last pruning run in this tab';
  const sampled = form.mode === 'sampled';
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void run();
  };

  return (
    <section className="panel" aria-labelledby="gen-heading">
      <h2 id="gen-heading">Generate: dense vs compressed</h2>
      <form className="form" onSubmit={onSubmit} noValidate>
        <div className="field">
          <label htmlFor="gen-prompt">Generation prompt</label>
          <textarea id="gen-prompt" rows={2} value={form.prompt} onChange={(e) => setForm({ prompt: e.target.value })} disabled={running !== null} />
        </div>
        <div className="field-row">
          <div className="field">
            <label htmlFor="gen-max">New tokens</label>
            <input id="gen-max" type="number" min={1} max={1024} step={1} value={form.maxNewTokens} onChange={(e) => setForm({ maxNewTokens: e.target.value })} disabled={running !== null} />
          </div>
          <div className="field">
            <label htmlFor="gen-mode">Decoding</label>
            <select id="gen-mode" value={form.mode} onChange={(e) => setForm({ mode: e.target.value as 'greedy' | 'sampled' })} disabled={running !== null}>
              <option value="greedy">Greedy (most likely token)</option>
              <option value="sampled">Sampled (seeded)</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="gen-seed">Sampling seed</label>
            <input id="gen-seed" type="number" step={1} value={form.seed} onChange={(e) => setForm({ seed: e.target.value })} disabled={running !== null || !sampled} />
          </div>
        </div>
        {sampled && (
          <div className="field-row">
            <div className="field">
              <label htmlFor="gen-temp">Temperature</label>
              <input id="gen-temp" type="number" min={0.05} max={5} step={0.05} value={form.temperature} onChange={(e) => setForm({ temperature: e.target.value })} disabled={running !== null} />
            </div>
            <div className="field">
              <label htmlFor="gen-topk">Top-k</label>
              <input id="gen-topk" type="number" min={0} step={1} value={form.topK} onChange={(e) => setForm({ topK: e.target.value })} disabled={running !== null} />
            </div>
            <div className="field">
              <label htmlFor="gen-topp">Top-p</label>
              <input id="gen-topp" type="number" min={0.01} max={1} step={0.01} value={form.topP} onChange={(e) => setForm({ topP: e.target.value })} disabled={running !== null} />
            </div>
          </div>
        )}
        <p className="hint">
          {sampled
            ? 'Each step draws the next token from p(token) ∝ exp(logit / T), kept to the k most likely tokens and to the smallest set whose probability reaches p. The same seed gives the same text for the same model.'
            : 'Each step takes the most likely next token (argmax of the logits). A KV cache keeps the keys and values of earlier tokens, so each new token costs one row of work per layer.'}
        </p>
        <div className="actions">
          <button type="submit" className="primary" disabled={!model || running !== null}>
            Generate both
          </button>
          {running !== null && (
            <button type="button" onClick={() => void cancel()}>
              Cancel
            </button>
          )}
          {formError && (
            <span className="gen-error" role="alert">
              {formError}
            </span>
          )}
        </div>
      </form>
      <div className="gen-sides">
        <SideView title="Dense" subtitle={model ? `${model.ref.id}, unchanged` : 'the loaded model'} side={sides.dense} promptText={form.prompt} testId="gen-text-dense" />
        <SideView title="Compressed" subtitle={compressedSubtitle} side={sides.compressed} promptText={form.prompt} testId="gen-text-compressed" />
      </div>
    </section>
  );
}

import { useStudio } from '../store';

// React passes unknown lowercase attributes through; folder pickers need this non-standard one.
const FOLDER_PICKER = { webkitdirectory: '' } as Record<string, string>;

/**
 * A model from the user's own disk: the files of a Hub-layout folder, read by the engine's
 * worker straight from the chosen files (nothing is uploaded anywhere).
 */
export function LocalModelPicker() {
  const busy = useStudio((s) => s.job !== null);
  const load = useStudio((s) => s.loadLocalModel);
  const choose = (input: HTMLInputElement) => {
    const files = [...(input.files ?? [])];
    input.value = '';
    if (files.length > 0) void load(files);
  };
  return (
    <details className="local-model" data-testid="local-model">
      <summary>Load a model from your disk</summary>
      <p className="hint">
        A folder in Hugging Face layout: <code>config.json</code>, <code>model.safetensors</code> (or its shards with{' '}
        <code>model.safetensors.index.json</code>), <code>tokenizer.json</code> and, if present, <code>tokenizer_config.json</code> — for
        example what <code>studio prune --out</code> or <code>studio quantize --out</code> wrote. The files are read in this browser;
        nothing is uploaded.
      </p>
      <div className="local-model-inputs">
        <label htmlFor="local-model-folder">Model folder</label>
        <input id="local-model-folder" type="file" {...FOLDER_PICKER} disabled={busy} onChange={(e) => choose(e.currentTarget)} />
        <label htmlFor="local-model-files">Or its files</label>
        <input id="local-model-files" type="file" multiple disabled={busy} onChange={(e) => choose(e.currentTarget)} />
      </div>
    </details>
  );
}

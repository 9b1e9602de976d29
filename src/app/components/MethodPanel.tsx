import { useState, type FormEvent } from 'react';
import { DEFAULT_CALIBRATION } from '../../engine/calibrate';
import { BUNDLED_DATASETS, type BundledDatasetName } from '../../engine/data';
import type { FlapMethod, MagnitudeMethod, MethodSpec, WandaMethod } from '../../engine/record';
import { isPruneFraction, PRUNE_FRACTION, PRUNE_FRACTION_INPUT_MAX } from '../../engine/rules';
import { FLAP_DEFAULTS } from '../../engine/prune/flap';
import { useStudio } from '../store';

type MethodName = 'magnitude' | 'wanda' | 'flap';
type Pattern = 'unstructured' | '2:4' | '4:8';

const METHODS: { value: MethodName; label: string }[] = [
  { value: 'magnitude', label: 'Magnitude' },
  { value: 'wanda', label: 'Wanda' },
  { value: 'flap', label: 'FLAP' },
];

/** One paragraph per method, with the score it ranks weights by. */
const EXPLANATIONS: Record<MethodName, { formula: string; text: string }> = {
  magnitude: {
    formula: 'score(W_ij) = |W_ij|',
    text:
      'Sets the smallest weights to zero. No data is needed: every weight of a decoder linear layer is ranked by its absolute value, and the lowest fraction is zeroed — with one threshold per weight matrix (the official baseline) or per output row. The matrices keep their shape; only zeros are added.',
  },
  wanda: {
    formula: 'score(W_ij) = |W_ij| · ‖X_j‖₂, compared within each output row i',
    text:
      'Pruning by Weights and activations. A short calibration run measures the norm ‖X_j‖₂ of every input channel j over the calibration tokens; a weight matters when it is large and its input is large. Exactly the lowest fraction of each output row is zeroed. Sequential mode (the official default) calibrates layer i on the outputs of the already pruned layers before it.',
  },
  flap: {
    formula: 'score(j) = fluctuation(X_j) · ‖W_:,j‖₂²',
    text:
      'FLuctuation-based Adaptive structured Pruning. It removes whole attention heads and MLP channels, so the matrices really shrink. An input channel whose value hardly fluctuates over the calibration tokens (its variance) times the squared norm of its weight column can be replaced by a constant: the scores are standardized per layer and compared globally, so each layer keeps a different number of heads and channels (adaptive structure), and the removed channels’ mean contribution is added to the output bias (bias compensation).',
  },
};

const METRIC_HINT: Record<FlapMethod['metric'], string> = {
  WIFV: 'Fluctuation of X_j × ‖W_:,j‖₂²',
  WIFN: 'Input norm ‖X_j‖₂ × ‖W_:,j‖₂',
  IFV: 'Fluctuation of X_j alone',
};

const STRUCTURE_HINT: Record<FlapMethod['structure'], string> = {
  'AL-AM': 'Adaptive over layers and modules: one global threshold',
  'UL-UM': 'The same ratio in every layer and module',
  'UL-MM': 'Uniform layers; heads removed by count',
  'AL-MM': 'Adaptive layers; heads removed by count',
};

const PATTERNS: { value: Pattern; label: string }[] = [
  { value: 'unstructured', label: 'Unstructured' },
  { value: '2:4', label: '2:4 (2 of every 4 pruned)' },
  { value: '4:8', label: '4:8 (4 of every 8 pruned)' },
];

const CALIB_DATASETS = Object.entries(BUNDLED_DATASETS).map(([name, d]) => ({ value: name as BundledDatasetName, label: d.title }));

interface Form {
  method: MethodName;
  sparsity: string;
  pattern: Pattern;
  granularity: MagnitudeMethod['granularity'];
  mode: WandaMethod['mode'];
  variant: boolean;
  ratio: string;
  metric: FlapMethod['metric'];
  structure: FlapMethod['structure'];
  removeHeads: string;
  headCost: FlapMethod['headCost'];
  gqaUnit: FlapMethod['gqaUnit'];
  biasCompensation: boolean;
  fluctuation: FlapMethod['fluctuation'];
  baselineFp16: boolean;
  calibDataset: BundledDatasetName;
  calibSamples: string;
  calibSeqlen: string;
  calibOffset: string;
}

const DEFAULT_FORM: Form = {
  method: 'wanda',
  sparsity: '0.5',
  pattern: 'unstructured',
  granularity: 'matrix',
  mode: 'sequential',
  variant: false,
  ratio: String(FLAP_DEFAULTS.pruningRatio),
  metric: FLAP_DEFAULTS.metric,
  structure: FLAP_DEFAULTS.structure,
  removeHeads: '',
  headCost: FLAP_DEFAULTS.headCost,
  gqaUnit: FLAP_DEFAULTS.gqaUnit,
  biasCompensation: FLAP_DEFAULTS.biasCompensation,
  fluctuation: FLAP_DEFAULTS.fluctuation,
  baselineFp16: FLAP_DEFAULTS.baselineDtype === 'fp16',
  calibDataset: 'tinystories',
  calibSamples: String(DEFAULT_CALIBRATION.samples),
  calibSeqlen: String(DEFAULT_CALIBRATION.seqlen),
  calibOffset: String(DEFAULT_CALIBRATION.offset),
};

function patternRatio(p: Pattern): number | null {
  if (p === 'unstructured') return null;
  const [n, m] = p.split(':').map(Number) as [number, number];
  return n / m;
}

/** A fraction to prune (rules.ts: in [0, 1)) from the text field, or null. */
function parseRatio(text: string): number | null {
  const t = text.trim();
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(t)) return null;
  const x = Number(t);
  return Number.isFinite(x) && isPruneFraction(x) ? x : null;
}

function parseCount(text: string, min: number): number | null {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return null;
  const x = Number(t);
  return Number.isSafeInteger(x) && x >= min ? x : null;
}

const DEFAULT_SWEEP = '0.1, 0.2, 0.3, 0.4, 0.5';
const MAX_SWEEP = 20;

/** "0.1, 0.2 0.3" → [0.1, 0.2, 0.3]: distinct values in [0, 1), at most MAX_SWEEP, or the problem. */
export function parseSweep(text: string): number[] | string {
  const parts = text.split(/[\s,;]+/).filter((p) => p !== '');
  if (parts.length === 0) return 'list the sparsities to sweep, for example 0.1, 0.2, 0.3.';
  if (parts.length > MAX_SWEEP) return `a sweep runs at most ${MAX_SWEEP} values, not ${parts.length}.`;
  const out: number[] = [];
  for (const p of parts) {
    const x = parseRatio(p);
    if (x === null) return `"${p}" is not a number from 0 to below 1.`;
    if (!out.includes(x)) out.push(x);
  }
  return out;
}

type Built = { method: Exclude<MethodSpec, { name: 'dense' }>; calibration: { dataset: BundledDatasetName; sampling: { samples: number; seqlen: number; offset: number; seed: null } } };

/** The method and calibration settings from the form, or the first problem found. */
function build(f: Form, maxSeqlen: number): Built | string {
  let method: Built['method'];
  if (f.method === 'flap') {
    const ratio = parseRatio(f.ratio);
    if (ratio === null) return `pruning ratio "${f.ratio}" must be a number from 0 to below 1 (0.2 = remove 20% of the decoder linear parameters).`;
    const needsHeads = f.structure === 'UL-MM' || f.structure === 'AL-MM';
    let removeHeads: number | null = null;
    if (needsHeads) {
      removeHeads = parseCount(f.removeHeads, 0);
      if (removeHeads === null) return `structure ${f.structure} needs the number of heads to remove (a whole number ≥ 0).`;
    }
    method = {
      name: 'flap',
      pruningRatio: ratio,
      metric: f.metric,
      structure: f.structure,
      removeHeads,
      headCost: f.headCost,
      gqaUnit: f.gqaUnit,
      biasCompensation: f.biasCompensation,
      fluctuation: f.fluctuation,
      baselineDtype: f.baselineFp16 ? 'fp16' : 'fp32',
    };
  } else {
    const implied = patternRatio(f.pattern);
    const sparsity = implied ?? parseRatio(f.sparsity);
    if (sparsity === null) return `sparsity "${f.sparsity}" must be a number from 0 to below 1 (0.5 = half of the weights zero).`;
    method =
      f.method === 'magnitude'
        ? { name: 'magnitude', sparsity, pattern: f.pattern, granularity: f.granularity }
        : { name: 'wanda', sparsity, pattern: f.pattern, mode: f.mode, variant: f.pattern === 'unstructured' && f.variant };
  }
  const samples = parseCount(f.calibSamples, 1);
  if (samples === null) return `calibration samples "${f.calibSamples}" must be a whole number ≥ 1.`;
  const seqlen = parseCount(f.calibSeqlen, 1);
  if (seqlen === null || seqlen > maxSeqlen) return `calibration tokens per sample "${f.calibSeqlen}" must be a whole number from 1 to ${maxSeqlen}.`;
  const offset = parseCount(f.calibOffset, 0);
  if (offset === null) return `calibration offset "${f.calibOffset}" must be a whole number ≥ 0.`;
  return { method, calibration: { dataset: f.calibDataset, sampling: { samples, seqlen, offset, seed: null } } };
}

export function MethodPanel() {
  const model = useStudio((s) => s.model);
  const job = useStudio((s) => s.job);
  const prune = useStudio((s) => s.prune);
  const sweep = useStudio((s) => s.sweep);
  const [sweepText, setSweepText] = useState(DEFAULT_SWEEP);
  const [form, setForm] = useState<Form>(DEFAULT_FORM);
  const reportError = useStudio((s) => s.reportError);

  const set = <K extends keyof Form>(key: K, value: Form[K]) => {
    setForm((f) => ({ ...f, [key]: value }));
  };

  // Runs copy the settings when they are queued, so the form stays editable while they run.
  const canPrune = model !== null;
  const maxSeqlen = model?.maxPositionEmbeddings ?? 512;
  const implied = patternRatio(form.pattern);
  const sweepable = form.method === 'flap' || implied === null;
  const explanation = EXPLANATIONS[form.method];
  const calibrated = form.method !== 'magnitude';
  const isGqa = model ? model.ref.kvHeads < model.ref.heads : false;

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const built = build(form, maxSeqlen);
    if (typeof built === 'string') {
      reportError('Invalid method settings', built);
      return;
    }
    void prune(built.method, built.calibration);
  };

  const onSweep = () => {
    const values = parseSweep(sweepText);
    if (typeof values === 'string') {
      reportError('Invalid sweep', values);
      return;
    }
    const runs: Built[] = [];
    for (const v of values) {
      const built = build(form.method === 'flap' ? { ...form, ratio: String(v) } : { ...form, sparsity: String(v) }, maxSeqlen);
      if (typeof built === 'string') {
        reportError('Invalid method settings', built);
        return;
      }
      runs.push(built);
    }
    void sweep(
      runs.map((r) => r.method),
      runs[0]!.calibration,
    );
  };

  return (
    <section className="panel" aria-labelledby="method-heading" data-testid="method-panel">
      <h2 id="method-heading">Method</h2>
      <form className="form" onSubmit={onSubmit} noValidate>
        <div className="field">
          <label htmlFor="method">Pruning method</label>
          <select id="method" value={form.method} onChange={(e) => set('method', e.target.value as MethodName)}>
            {METHODS.map((m) => (
              <option key={m.value} value={m.value}>
                {m.label}
              </option>
            ))}
          </select>
        </div>

        <div className="method-explain" data-testid="method-explanation">
          <p className="formula">{explanation.formula}</p>
          <p>{explanation.text}</p>
        </div>

        {form.method !== 'flap' && (
          <div className="field-row field-row-even">
            <div className="field">
              <label htmlFor="sparsity">Sparsity</label>
              <input
                id="sparsity"
                type="number"
                inputMode="decimal"
                min={PRUNE_FRACTION.min}
                max={PRUNE_FRACTION_INPUT_MAX}
                step={0.05}
                value={implied !== null ? String(implied) : form.sparsity}
                onChange={(e) => set('sparsity', e.target.value)}
                disabled={implied !== null}
                aria-describedby="sparsity-hint"
              />
              <p className="hint" id="sparsity-hint">
                {implied !== null ? `${form.pattern} fixes it at ${implied}` : `Fraction of weights set to zero, ${PRUNE_FRACTION.min} to ${PRUNE_FRACTION_INPUT_MAX}`}
              </p>
            </div>
            <div className="field">
              <label htmlFor="pattern">Pattern</label>
              <select id="pattern" value={form.pattern} onChange={(e) => set('pattern', e.target.value as Pattern)}>
                {PATTERNS.map((p) => (
                  <option key={p.value} value={p.value}>
                    {p.label}
                  </option>
                ))}
              </select>
              <p className="hint">N:M: N of every M consecutive inputs of a row</p>
            </div>
          </div>
        )}

        {form.method === 'magnitude' && (
          <div className="field">
            <label htmlFor="granularity">Threshold</label>
            <select id="granularity" value={form.granularity} onChange={(e) => set('granularity', e.target.value as Form['granularity'])}>
              <option value="matrix">One per weight matrix (official)</option>
              <option value="row">One per output row</option>
            </select>
          </div>
        )}

        {form.method === 'wanda' && (
          <div className="field-row field-row-even">
            <div className="field">
              <label htmlFor="wanda-mode">Calibration order</label>
              <select id="wanda-mode" value={form.mode} onChange={(e) => set('mode', e.target.value as Form['mode'])}>
                <option value="sequential">Sequential (official)</option>
                <option value="one-shot">One-shot (dense statistics)</option>
              </select>
            </div>
            <div className="field">
              <span className="field-label">Variant</span>
              <label className="check">
                <input type="checkbox" checked={form.variant && form.pattern === 'unstructured'} onChange={(e) => set('variant', e.target.checked)} disabled={form.pattern !== 'unstructured'} />
                Per-row α threshold
              </label>
              <p className="hint">The paper’s appendix variant; unstructured only</p>
            </div>
          </div>
        )}

        {form.method === 'flap' && (
          <>
            <div className="field-row field-row-even">
              <div className="field">
                <label htmlFor="flap-ratio">Pruning ratio</label>
                <input
                  id="flap-ratio"
                  type="number"
                  inputMode="decimal"
                  min={PRUNE_FRACTION.min}
                  max={PRUNE_FRACTION_INPUT_MAX}
                  step={0.05}
                  value={form.ratio}
                  onChange={(e) => set('ratio', e.target.value)}
                 
                  aria-describedby="flap-ratio-hint"
                />
                <p className="hint" id="flap-ratio-hint">
                  Fraction of decoder linear parameters removed
                </p>
              </div>
              <div className="field">
                <label htmlFor="flap-metric">Metric</label>
                <select id="flap-metric" value={form.metric} onChange={(e) => set('metric', e.target.value as Form['metric'])}>
                  <option value="WIFV">WIFV (official)</option>
                  <option value="WIFN">WIFN</option>
                  <option value="IFV">IFV</option>
                </select>
                <p className="hint">{METRIC_HINT[form.metric]}</p>
              </div>
            </div>
            <div className="field-row field-row-even">
              <div className="field">
                <label htmlFor="flap-structure">Structure</label>
                <select id="flap-structure" value={form.structure} onChange={(e) => set('structure', e.target.value as Form['structure'])}>
                  <option value="AL-AM">AL-AM (official)</option>
                  <option value="UL-UM">UL-UM</option>
                  <option value="UL-MM">UL-MM</option>
                  <option value="AL-MM">AL-MM</option>
                </select>
                <p className="hint">{STRUCTURE_HINT[form.structure]}</p>
              </div>
              {(form.structure === 'UL-MM' || form.structure === 'AL-MM') && (
                <div className="field">
                  <label htmlFor="flap-remove-heads">Heads to remove</label>
                  <input id="flap-remove-heads" type="number" inputMode="numeric" min={0} step={1} value={form.removeHeads} onChange={(e) => set('removeHeads', e.target.value)} />
                  <p className="hint">{form.structure === 'UL-MM' ? 'In total, split evenly over the layers' : 'Globally'}</p>
                </div>
              )}
            </div>
            <div className="field-row field-row-even">
              <div className="field">
                <label htmlFor="flap-head-cost">Head cost</label>
                <select id="flap-head-cost" value={form.headCost} onChange={(e) => set('headCost', e.target.value as Form['headCost'])}>
                  <option value="truncated">Truncated (official)</option>
                  <option value="exact">Exact ratio</option>
                </select>
                <p className="hint">One head’s parameters in MLP-channel units</p>
              </div>
              <div className="field">
                <label htmlFor="flap-gqa">GQA unit</label>
                <select id="flap-gqa" value={form.gqaUnit} onChange={(e) => set('gqaUnit', e.target.value as Form['gqaUnit'])}>
                  <option value="group">Key/value groups</option>
                  <option value="head">Query heads</option>
                </select>
                <p className="hint">{isGqa ? 'This model shares key/value heads (GQA)' : 'Only matters for GQA models'}</p>
              </div>
            </div>
            <label className="check">
              <input type="checkbox" checked={form.biasCompensation} onChange={(e) => set('biasCompensation', e.target.checked)} />
              Bias compensation (add the removed channels’ mean output to the bias)
            </label>
            <details className="more">
              <summary>More FLAP options</summary>
              <div className="field-row field-row-even">
                <div className="field">
                  <label htmlFor="flap-fluctuation">Fluctuation</label>
                  <select id="flap-fluctuation" value={form.fluctuation} onChange={(e) => set('fluctuation', e.target.value as Form['fluctuation'])}>
                    <option value="official">Running recurrence (official)</option>
                    <option value="variance">Exact variance</option>
                  </select>
                </div>
                <div className="field">
                  <span className="field-label">Baseline precision</span>
                  <label className="check">
                    <input type="checkbox" checked={form.baselineFp16} onChange={(e) => set('baselineFp16', e.target.checked)} />
                    Round means to fp16
                  </label>
                </div>
              </div>
            </details>
          </>
        )}

        {calibrated && (
          <fieldset className="calibration">
            <legend>Calibration</legend>
            <div className="field">
              <label htmlFor="calib-dataset">Calibration text</label>
              <select id="calib-dataset" value={form.calibDataset} onChange={(e) => set('calibDataset', e.target.value as BundledDatasetName)}>
                {CALIB_DATASETS.map((d) => (
                  <option key={d.value} value={d.value}>
                    {d.label}
                  </option>
                ))}
              </select>
            </div>
            <div className="field-row field-row-three">
              <div className="field">
                <label htmlFor="calib-samples">Samples</label>
                <input id="calib-samples" type="number" inputMode="numeric" min={1} step={1} value={form.calibSamples} onChange={(e) => set('calibSamples', e.target.value)} />
              </div>
              <div className="field">
                <label htmlFor="calib-seqlen">Tokens per sample</label>
                <input id="calib-seqlen" type="number" inputMode="numeric" min={1} max={maxSeqlen} step={1} value={form.calibSeqlen} onChange={(e) => set('calibSeqlen', e.target.value)} />
              </div>
              <div className="field">
                <label htmlFor="calib-offset">Offset</label>
                <input id="calib-offset" type="number" inputMode="numeric" min={0} step={1} value={form.calibOffset} onChange={(e) => set('calibOffset', e.target.value)} />
              </div>
            </div>
            <p className="hint">
              Sample i = tokens [offset + i·S, offset + (i+1)·S) of the BOS + whole-text stream. Defaults: {DEFAULT_CALIBRATION.samples} × {DEFAULT_CALIBRATION.seqlen} from token{' '}
              {DEFAULT_CALIBRATION.offset.toLocaleString('en-US')}.
            </p>
          </fieldset>
        )}

        <p className="hint">The dense and the pruned model are scored on the text, sequence length and windows of Data &amp; evaluate.</p>

        <div className="actions">
          <button type="submit" className="primary" disabled={!canPrune}>
            Prune &amp; evaluate
          </button>
          {!model && !job && <span className="hint">Waiting for the model…</span>}
        </div>

        <fieldset className="sweep" data-testid="sweep">
          <legend>Sweep</legend>
          <div className="field-row">
            <div className="field">
              <label htmlFor="sweep-values">{form.method === 'flap' ? 'Pruning ratios' : 'Sparsities'} to sweep</label>
              <input
                id="sweep-values"
                type="text"
                spellCheck={false}
                autoComplete="off"
                value={sweepText}
                onChange={(e) => setSweepText(e.target.value)}
                disabled={!sweepable}
                aria-describedby="sweep-hint"
              />
            </div>
          </div>
          <p className="hint" id="sweep-hint">
            {sweepable
              ? 'One run per value, queued in order, with every other setting above; the results draw perplexity against sparsity, one line per method.'
              : `The ${form.pattern} pattern fixes the sparsity; choose Unstructured to sweep.`}
          </p>
          <button type="button" onClick={onSweep} disabled={!canPrune || !sweepable}>
            Run sweep
          </button>
        </fieldset>
      </form>
    </section>
  );
}

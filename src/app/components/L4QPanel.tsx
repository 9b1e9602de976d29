import { useState, type FormEvent } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { L4Q_CALIBRATION } from '../../engine/quant/l4q-experiment';
import { QUANT_INITS, type QuantInit } from '../../engine/quant/l4q';
import { reportedDeviceMemoryBytes } from '../../engine/hub/memory';
import { estimateL4QMemory, trainingMemoryTight, trainingMemoryTotal } from '../../engine/quant/l4q-memory';
import { l4qRecoveredShare, rtnLoraMergedKeptShare } from '../../engine/quant/l4q-shares';
import { L4Q_DEFAULTS } from '../../engine/quant/train';
import type { L4QMethod } from '../../engine/record';
import { CODE_BITS } from '../../engine/rules';
import { formatBytes } from '../format';
import type { ModelSummary } from '../../worker/protocol';
import { useStudio, type TrainingView } from '../store';
import { BitsField, BitsSweepFields, GroupField, groupSizeOf, type Granularity } from './QuantFields';

const INIT_TEXT: Record<QuantInit, string> = {
  l4q: 'L4Q: s = max(|min W / Qn|, |max W / Qp|), b = 0 (no weight clipped at the start)',
  minmax: 'min–max: s = (max − min)/(Qp − Qn), b = min − s·Qn',
  lsq: 'LSQ: s = 2·mean|W| / √Qp, b = 0',
};

interface Form {
  bits: number;
  granularity: Granularity;
  symmetric: boolean;
  rank: string;
  alpha: string;
  steps: string;
  warmup: string;
  lr: string;
  lrQuant: string;
  batch: string;
  seed: string;
  init: QuantInit;
  samples: string;
  windowTokens: string;
  afterPrune: boolean;
  rtnLora: boolean;
}

const DEFAULT_FORM: Form = {
  bits: L4Q_DEFAULTS.bits,
  granularity: String(L4Q_DEFAULTS.group) as Granularity,
  symmetric: L4Q_DEFAULTS.symmetric,
  rank: String(L4Q_DEFAULTS.rank),
  alpha: String(L4Q_DEFAULTS.alpha),
  steps: String(L4Q_DEFAULTS.steps),
  warmup: String(L4Q_DEFAULTS.warmup),
  lr: String(L4Q_DEFAULTS.lr),
  lrQuant: String(L4Q_DEFAULTS.lrQuant),
  batch: String(L4Q_DEFAULTS.batch),
  seed: String(L4Q_DEFAULTS.seed),
  init: L4Q_DEFAULTS.init,
  samples: String(L4Q_CALIBRATION.samples),
  windowTokens: String(L4Q_CALIBRATION.seqlen),
  afterPrune: false,
  rtnLora: false,
};

/** The form as an L4Q method, or the first problem found. */
function methodOf(f: Form): L4QMethod | string {
  const int = (v: string, name: string, min: number) => {
    const x = Number(v.trim());
    return /^\d+$/.test(v.trim()) && x >= min ? x : `${name} must be a whole number ≥ ${min}, got "${v}"`;
  };
  const pos = (v: string, name: string) => {
    const x = Number(v.trim());
    return v.trim() !== '' && Number.isFinite(x) && x > 0 ? x : `${name} must be a positive number, got "${v}"`;
  };
  const fields = {
    rank: int(f.rank, 'Rank', 1),
    alpha: pos(f.alpha, 'Alpha'),
    steps: int(f.steps, 'Steps', 1),
    warmup: int(f.warmup, 'Warm-up', 0),
    lr: pos(f.lr, 'LoRA learning rate'),
    lrQuant: pos(f.lrQuant, 'Quantizer learning rate'),
    batch: int(f.batch, 'Batch', 1),
    seed: int(f.seed, 'Seed', 0),
  };
  for (const v of Object.values(fields)) if (typeof v === 'string') return v;
  const n = fields as Record<keyof typeof fields, number>;
  if (n.warmup > n.steps) return `Warm-up (${n.warmup}) must not exceed the steps (${n.steps}).`;
  if (f.symmetric && f.init === 'minmax') return 'The min–max initialisation needs a learned offset: choose "learned offset" or another initialisation.';
  return { name: 'l4q', bits: f.bits, groupSize: groupSizeOf(f.granularity), symmetric: f.symmetric, init: f.init, gradScale: null, ...n };
}

type LossRow = { step: number; warmup: number | null; joint: number | null; baseline: number | null };

function LossChart({ t }: { t: TrainingView }) {
  // One row per step (1-based): L4Q's loss in its phase's column, the baseline's beside it.
  const rows = new Map<number, LossRow>();
  const row = (step: number) => rows.get(step) ?? rows.set(step, { step: step + 1, warmup: null, joint: null, baseline: null }).get(step)!;
  for (const p of t.points) row(p.step)[p.phase] = p.loss;
  for (const p of t.baseline) row(p.step).baseline = p.loss;
  const data = [...rows.values()].sort((a, b) => a.step - b.step);
  // Join the two phases' lines at the switch.
  const firstJoint = data.findIndex((d) => d.joint !== null);
  if (firstJoint > 0) data[firstJoint - 1]!.joint = data[firstJoint - 1]!.warmup;
  return (
    <div className="chart" style={{ width: '100%', height: 270 }} data-testid="l4q-loss-chart">
      {/* The unit as a caption: a rotated y-axis label collides with the tick labels. */}
      <p className="hint" style={{ margin: 0 }}>Training loss (nats per predicted token)</p>
      <ResponsiveContainer width="100%" height={242}>
        <LineChart data={data} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="step" type="number" domain={[1, t.total]} allowDecimals={false} label={{ value: 'step', position: 'insideBottomRight', offset: -4 }} />
          <YAxis domain={['auto', 'auto']} tickFormatter={(v: number) => v.toFixed(2)} width={48} />
          <Tooltip formatter={(v) => (typeof v === 'number' ? v.toFixed(4) : String(v))} />
          <Legend verticalAlign="top" />
          <Line dataKey="warmup" name="LoRA warm-up (float)" stroke="#888" dot={false} isAnimationActive={false} connectNulls={false} />
          <Line dataKey="joint" name="joint (quantized)" stroke="#1f77b4" dot={false} isAnimationActive={false} connectNulls={false} />
          {t.baseline.length > 0 && (
            <Line dataKey="baseline" name="RTN-then-LoRA (float adapter)" stroke="#2ca02c" strokeDasharray="5 3" dot={false} isAnimationActive={false} connectNulls={false} />
          )}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}

/**
 * What the run will need, from the model's shape and the form (engine estimate, equal to what
 * the trainer reports afterwards); nothing while a field it uses is not a number yet.
 */
function MemoryEstimate({ model, f, context }: { model: ModelSummary; f: Form; context: number }) {
  const rank = Number(f.rank);
  const tokens = Math.min(Number(f.windowTokens), context);
  if (!(Number.isInteger(rank) && rank >= 1 && Number.isInteger(tokens) && tokens >= 2)) return null;
  const r = model.ref;
  const m = estimateL4QMemory(
    { layers: r.layers, hiddenSize: r.hiddenSize, heads: r.heads, kvHeads: r.kvHeads, headDim: model.headDim, intermediateSize: r.intermediateSize, vocabSize: r.vocabSize },
    { rank, group: groupSizeOf(f.granularity) ?? 0, symmetric: f.symmetric, tokens },
  );
  const ram = reportedDeviceMemoryBytes();
  const tight = trainingMemoryTight(m, model.weightBytes, ram);
  return (
    <p className={tight ? 'compare-warning' : 'hint'} data-testid="l4q-memory-estimate">
      Training memory (estimate{f.afterPrune ? ', for the dense shape: at most' : ''}): LoRA {formatBytes(m.loraBytes)}, s/b {formatBytes(m.quantParamBytes)}, Adam{' '}
      {formatBytes(m.optimizerBytes)}, activations of one {tokens}-token window {formatBytes(m.activationBytes)}, weight gradients Γ {formatBytes(m.gradientBytes)}:{' '}
      {formatBytes(trainingMemoryTotal(m))} besides the model&apos;s weights ({formatBytes(model.weightBytes)}).
      {tight && ` That is more than half of the ${formatBytes(ram!)} of memory this device reports; the tab may run out of memory.`}
    </p>
  );
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The job line: whose step (the baseline trains first), pause, time left, the last loss. */
function statusText(t: TrainingView): string {
  // While the baseline trains, L4Q has no steps yet.
  const inBaseline = t.points.length === 0 && t.baseline.length > 0;
  const steps = inBaseline ? t.baseline : t.points;
  const head =
    t.state === 'running'
      ? `${inBaseline ? 'RTN-then-LoRA baseline: ' : ''}step ${steps.length} of ${t.total}${t.paused ? ' · paused' : ''}${steps.length > 0 && !t.paused ? ` · ${fmtEta(t.etaMs)}` : ''}`
      : t.state === 'done'
        ? `finished: ${t.total} steps`
        : t.state;
  const last = steps[steps.length - 1];
  return last ? `${head} · last loss ${last.loss.toFixed(4)}` : head;
}

function fmtEta(ms: number | null): string {
  if (ms === null) return '';
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s left` : `${s} s left`;
}

export function L4QPanel() {
  const model = useStudio((s) => s.model);
  const trainL4Q = useStudio((s) => s.trainL4Q);
  const training = useStudio((s) => s.training);
  const pause = useStudio((s) => s.pauseTraining);
  const resume = useStudio((s) => s.resumeTraining);
  const cancel = useStudio((s) => s.cancel);
  const job = useStudio((s) => s.job);
  const results = useStudio((s) => s.results);
  const reportError = useStudio((s) => s.reportError);
  const [f, setF] = useState<Form>(DEFAULT_FORM);
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setF((x) => ({ ...x, [k]: v }));
  const hasPruned = results.some((r) => r.method.name === 'magnitude' || r.method.name === 'wanda' || r.method.name === 'flap');
  const last = results.find((r) => r.method.name === 'l4q' && r.training);
  const recovered = last ? l4qRecoveredShare(last) : null;
  const kept = last ? rtnLoraMergedKeptShare(last) : null;
  const Qn = -(2 ** (f.bits - 1));
  const Qp = 2 ** (f.bits - 1) - 1;
  const G = f.granularity === 'channel' ? 'in' : f.granularity;
  // Windows as long as the evaluation's default (512), cut to the model's context where shorter.
  const context = model?.maxPositionEmbeddings ?? L4Q_CALIBRATION.seqlen;

  /** Queues one L4Q run per bit width, every other setting from the form. */
  const train = (widths: number[]) => {
    const m = methodOf(f);
    if (typeof m === 'string') return reportError('Invalid L4Q settings', m);
    const samples = Number(f.samples);
    if (!/^\d+$/.test(f.samples.trim()) || samples < 1) return reportError('Invalid L4Q settings', `Training windows must be a whole number ≥ 1, got "${f.samples}"`);
    const tokens = Number(f.windowTokens);
    if (!/^\d+$/.test(f.windowTokens.trim()) || tokens < 2) return reportError('Invalid L4Q settings', `Tokens per window must be a whole number ≥ 2, got "${f.windowTokens}"`);
    const calibration = { dataset: 'tinystories' as const, sampling: { ...L4Q_CALIBRATION, samples, seqlen: Math.min(tokens, context) } };
    for (const bits of widths) void trainL4Q({ ...m, bits }, calibration, { afterPrune: f.afterPrune, rtnLora: f.rtnLora });
  };
  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    train([f.bits]);
  };

  const running = training?.state === 'running' && job?.id === training.jobId;
  return (
    <section className="panel" aria-labelledby="l4q-heading" data-testid="l4q-panel">
      <h2 id="l4q-heading">Quantize with L4Q (LoRA + learned step sizes)</h2>
      <form className="form" onSubmit={onSubmit} noValidate>
        <div className="field-row field-row-three">
          <BitsField id="l4q-bits" value={f.bits} onChange={(b) => set('bits', b)} />
          <GroupField id="l4q-group" label="Step and offset per" value={f.granularity} onChange={(g) => set('granularity', g)} />
          <div className="field">
            <label htmlFor="l4q-sym">Offset b</label>
            <select
              id="l4q-sym"
              value={f.symmetric ? 'sym' : 'asym'}
              onChange={(e) => {
                const sym = e.target.value === 'sym';
                // min–max needs a learned offset; symmetric runs start from L4Q_init.
                setF((x) => ({ ...x, symmetric: sym, init: sym && x.init === 'minmax' ? 'l4q' : x.init }));
              }}
            >
              <option value="asym">learned offset (LSQ+)</option>
              <option value="sym">b = 0 (symmetric)</option>
            </select>
          </div>
        </div>
        <div className="field-row field-row-three">
          {(
            [
              ['rank', 'LoRA rank r'],
              ['alpha', 'LoRA α (scale α/r)'],
              ['steps', 'Steps (all)'],
              ['warmup', 'LoRA-only warm-up steps'],
              ['lr', 'Learning rate A, B'],
              ['lrQuant', 'Learning rate s, b'],
              ['batch', 'Windows per step'],
              ['samples', 'Training windows'],
              ['windowTokens', `Tokens per window (at most the context, ${context})`],
              ['seed', 'Seed'],
            ] as const
          ).map(([k, label]) => (
            <div className="field" key={k}>
              <label htmlFor={`l4q-${k}`}>{label}</label>
              <input id={`l4q-${k}`} inputMode="decimal" value={f[k]} onChange={(e) => set(k, e.target.value)} />
            </div>
          ))}
        </div>
        <div className="field">
          <label htmlFor="l4q-init">Initialisation of s, b after the warm-up</label>
          <select id="l4q-init" value={f.init} onChange={(e) => set('init', e.target.value as QuantInit)}>
            {QUANT_INITS.map((i) => (
              <option key={i} value={i}>
                {INIT_TEXT[i]}
              </option>
            ))}
          </select>
        </div>

        <div className="method-explain" data-testid="l4q-explanation">
          <p className="formula">
            W′ = W₀ + (α/r)·B·A,   q = round(clamp((W′ − b)/s, {Qn}, {Qp})),   Ŵ = s·q + b
          </p>
          <p>
            Every decoder linear gets a low-rank update B·A (rank r, B starts at 0). After {f.warmup} LoRA-only steps on the float weights, each
            group of {G} inputs of a row gets a step s and an offset b from the merged weight, and from then on the forward pass uses the
            quantized Ŵ: A, B, s and b are trained together with Adam (two learning rates) on next-token cross-entropy over calibration
            windows of TinyStories. round() passes gradients straight through inside the range; s gets LSQ&apos;s gradient (round(v) − v inside,
            {` ${Qn}`} or {Qp} when clipped) and b LSQ+&apos;s (1 when clipped), both scaled by g = 1/√(G·Qp). Embeddings and norms stay frozen.
          </p>
          <p>
            At the end W′ is quantized with the learned s, b and packed ({f.bits} bits per weight plus a float32 step and offset per group, ONNX
            Runtime&apos;s MatMulNBits layout): no LoRA is left, and the integer model is what is evaluated. RTN at the same settings is scored on
            the same windows for comparison. Training runs in the engine worker on its backend (WebGPU or the CPU reference; other
            backends train on the CPU reference), and the result says which trained.
          </p>
        </div>

        {model && <MemoryEstimate model={model} f={f} context={context} />}

        <label className="check">
          <input type="checkbox" checked={f.afterPrune} disabled={!hasPruned} onChange={(e) => set('afterPrune', e.target.checked)} />
          Train on the last pruned model (prune, then quantize; pruned weights stay exactly 0, their groups keep b = 0)
        </label>
        <label className="check">
          <input type="checkbox" checked={f.rtnLora} onChange={(e) => set('rtnLora', e.target.checked)} data-testid="l4q-rtn-lora" />
          Also train the RTN-then-LoRA baseline: the same LoRA budget on the rounded (RTN) model, adapters kept in float and not merged —
          what L4Q has to beat (doubles the training time)
        </label>
        <div className="actions">
          <button type="submit" className="primary" disabled={!model} data-testid="l4q-button">
            Train, merge &amp; evaluate
          </button>
          {running && !training.paused && (
            <button type="button" onClick={() => void pause()} data-testid="l4q-pause">
              Pause
            </button>
          )}
          {running && training.paused && (
            <button type="button" onClick={() => void resume()} data-testid="l4q-resume">
              Resume
            </button>
          )}
          {running && (
            <button type="button" onClick={() => void cancel()} data-testid="l4q-cancel">
              Cancel
            </button>
          )}
        </div>
        <BitsSweepFields
          id="l4q-sweep-bits"
          initial="4, 3"
          hint={`One L4Q run per bit width (${CODE_BITS.text}), queued in order, each trained from the start with every setting above (and its RTN-then-LoRA baseline when ticked); the results draw perplexity against bits.`}
          button="Train at each width"
          buttonTestId="l4q-sweep-bits-button"
          disabled={!model}
          onSweep={train}
          onInvalid={(why) => reportError('Invalid bits sweep', why)}
        />
      </form>

      {training && (
        <div className="l4q-training" data-testid="l4q-training">
          <h3>{training.label}</h3>
          <p data-testid="l4q-status">{statusText(training)}</p>
          {(training.points.length > 0 || training.baseline.length > 0) && <LossChart t={training} />}
        </div>
      )}

      {last?.training && (
        <div className="quant-result" data-testid="l4q-result">
          <h3>Last L4Q run</h3>
          <p>
            Perplexity: dense {last.baseline?.ppl.toFixed(3) ?? '—'}
            {last.training.rtn ? ` · RTN ${last.training.rtn.ppl.toFixed(3)}` : ''}
            {last.training.rtnLora && <span data-testid="l4q-rtn-lora-ppl"> · RTN-then-LoRA {last.training.rtnLora.ppl.toFixed(3)}</span>}
            {last.training.rtnLoraMerged && <span data-testid="l4q-rtn-lora-merged-ppl"> · RTN-then-LoRA merged {last.training.rtnLoraMerged.ppl.toFixed(3)}</span>} · L4Q{' '}
            <strong>{last.ppl.toFixed(3)}</strong>
          </p>
          {recovered !== null && (
            <p data-testid="l4q-recovered">
              Recovered: {pct(recovered)} of the perplexity RTN loses against the dense model ((RTN − L4Q) / (RTN − dense); 100 % is back at dense
              {recovered > 1 ? ', above it the training also fine-tuned the model on text like the evaluation’s' : recovered < 0 ? ', below 0 worse than RTN' : ''}).
            </p>
          )}
          {last.training.rtnLora && (
            <p className="muted" data-testid="l4q-rtn-lora-note">
              RTN-then-LoRA keeps its adapters in float32 next to the rounded weights ({formatBytes(last.training.memory.loraBytes)} more to store); L4Q&apos;s
              model is the packed integers alone. Merged into the weights and rounded again (&quot;merged&quot;), the baseline becomes an integer model too
              {kept === null
                ? '.'
                : ` and keeps ${pct(kept)} of what its adapters gained over RTN ((RTN − merged) / (RTN − unmerged))${kept < 0.5 ? ': updates smaller than half a step round away' : ''}.`}
            </p>
          )}
          {last.size && (
            <p>
              Decoder linears {formatBytes(last.size.linearBytesBefore)} → {formatBytes(last.size.linearBytesAfter)} ({last.size.effectiveBits.toFixed(2)} bits per
              weight with steps and offsets)
            </p>
          )}
          <p>
            Training memory: LoRA {formatBytes(last.training.memory.loraBytes)}, s/b {formatBytes(last.training.memory.quantParamBytes)}, Adam{' '}
            {formatBytes(last.training.memory.optimizerBytes)}, activations {formatBytes(last.training.memory.activationBytes)}; {last.training.tokensPerSecond.toFixed(0)}{' '}
            tokens/s{last.training.backend && ` trained on ${last.training.backend.name === 'webgpu' ? 'WebGPU' : last.training.backend.name === 'wasm' ? 'CPU (WebAssembly SIMD)' : 'the CPU reference'} (${last.training.backend.device})`}
          </p>
        </div>
      )}
    </section>
  );
}

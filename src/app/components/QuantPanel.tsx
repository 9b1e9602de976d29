import { useState, type FormEvent } from 'react';
import type { RtnMethod } from '../../engine/record';
import type { SymmetricRule } from '../../engine/quant/rtn';
import { CODE_BITS } from '../../engine/rules';
import { formatBytes } from '../format';
import { useStudio } from '../store';
import { BitsChart } from './BitsChart';
import { BitsField, BitsSweepFields, GroupField, groupSizeOf, type Granularity } from './QuantFields';

const DEFAULT_BITS_SWEEP = '8, 4, 3, 2';

/** The quantizer's formula and what it means, per mode (the rule is the engine's, quant/rtn.ts). */
function explanation(bits: number, symmetric: boolean, g: Granularity, rule: SymmetricRule) {
  const maxq = 2 ** bits - 1;
  const half = 2 ** (bits - 1);
  const group = g === 'channel' ? 'each output row (per channel)' : `each run of ${g} consecutive inputs of a row`;
  if (symmetric && rule === 'gptq') {
    return {
      formula: `scale = 2·max|w| / ${maxq},  u = clamp(round(w / scale) + ${half}, 0, ${maxq}),  ŵ = (u − ${half}) · scale`,
      text: `For ${group}: GPTQ's symmetric rule. The codes cover −${half}…${half - 1} steps, so the most negative value fits but a positive extreme is clipped to ${half - 1}/${half} of itself; no zero point is stored.`,
    };
  }
  return symmetric
    ? {
        formula: `scale = e / −${half},  u = clamp(round(w / scale) + ${half}, 0, ${maxq}),  ŵ = (u − ${half}) · scale`,
        text: `For ${group}, e is the weight of largest magnitude (with its sign). It lands exactly on code 0, so it is never clipped; no zero point is stored (it is ${half}). This is ONNX Runtime's symmetric rule.`,
      }
    : {
        formula: `scale = (hi − lo) / ${maxq},  z = round(−lo / scale),  u = clamp(round(w / scale) + z, 0, ${maxq}),  ŵ = (u − z) · scale`,
        text: `For ${group}, lo = min(w, 0) and hi = max(w, 0): the range always holds 0, so zeros (and pruned weights) stay exactly 0. The integer zero point z is stored with the scale (GPTQ's and ONNX Runtime's rule).`,
      };
}

export function QuantPanel() {
  const model = useStudio((s) => s.model);
  const quantize = useStudio((s) => s.quantize);
  const quantizeSweep = useStudio((s) => s.quantizeSweep);
  const reportError = useStudio((s) => s.reportError);
  const results = useStudio((s) => s.results);
  const [bits, setBits] = useState(4);
  const [granularity, setGranularity] = useState<Granularity>('64');
  const [symmetric, setSymmetric] = useState(false);
  const [afterPrune, setAfterPrune] = useState(false);
  const [rule, setRule] = useState<SymmetricRule>('mlas');

  const ex = explanation(bits, symmetric, granularity, rule);
  const last = results.find((r) => r.method.name === 'rtn' && r.size);
  const hasPruned = results.some((r) => r.method.name === 'magnitude' || r.method.name === 'wanda' || r.method.name === 'flap');

  const methodAt = (b: number): RtnMethod => ({ name: 'rtn', bits: b, groupSize: groupSizeOf(granularity), symmetric, ...(symmetric && rule === 'gptq' ? { symmetricRule: 'gptq' as const } : {}) });

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    void quantize(methodAt(bits), { afterPrune });
  };

  return (
    <section className="panel" aria-labelledby="quant-heading" data-testid="quant-panel">
      <h2 id="quant-heading">Quantize (round to nearest)</h2>
      <form className="form" onSubmit={onSubmit} noValidate>
        <div className="field-row field-row-three">
          <BitsField id="quant-bits" value={bits} onChange={setBits} />
          <GroupField id="quant-group" label="Scale per" value={granularity} onChange={setGranularity} />
          <div className="field">
            <label htmlFor="quant-sym">Zero point</label>
            <select id="quant-sym" value={symmetric ? 'sym' : 'asym'} onChange={(e) => setSymmetric(e.target.value === 'sym')}>
              <option value="asym">asymmetric (min–max, stored)</option>
              <option value="sym">symmetric (none stored)</option>
            </select>
          </div>
        </div>

        {symmetric && (
          <div className="field">
            <label htmlFor="quant-sym-rule">Symmetric scale</label>
            <select id="quant-sym-rule" value={rule} onChange={(e) => setRule(e.target.value as SymmetricRule)}>
              <option value="mlas">signed extreme → code 0 (ONNX Runtime)</option>
              <option value="gptq">2·max|w| over all codes (GPTQ)</option>
            </select>
          </div>
        )}

        <div className="method-explain" data-testid="quant-explanation">
          <p className="formula">{ex.formula}</p>
          <p>{ex.text}</p>
          <p>
            round() rounds halves to even, as PyTorch and WGSL do. The codes are packed {bits} bits each, low bits first, in ONNX Runtime&apos;s
            MatMulNBits layout, with one float32 scale per group; the GPU multiplies straight from the packed bytes, and the size shown is
            those bytes plus the float32 embeddings and norms. A group wider than a row is the whole row.
          </p>
        </div>

        <label className="check">
          <input type="checkbox" checked={afterPrune} disabled={!hasPruned} onChange={(e) => setAfterPrune(e.target.checked)} />
          Quantize the last pruned model (prune, then quantize; pruned weights stay exactly 0)
        </label>

        <p className="hint">The model before and after is scored on the text, sequence length and windows of Data &amp; evaluate.</p>
        <div className="actions">
          <button type="submit" className="primary" disabled={!model} data-testid="quantize-button">
            Quantize &amp; evaluate
          </button>
        </div>

        <BitsSweepFields
          id="quant-sweep-bits"
          initial={DEFAULT_BITS_SWEEP}
          hint={`One RTN run per bit width (${CODE_BITS.text}), queued in order, with the scale, zero point and source chosen above; the results draw perplexity against bits.`}
          button="Sweep bits"
          buttonTestId="sweep-bits-button"
          disabled={!model}
          // One queued RTN run per bit width, every other setting as chosen above.
          onSweep={(widths) => void quantizeSweep(widths.map(methodAt), { afterPrune })}
          onInvalid={(why) => reportError('Invalid bits sweep', why)}
        />
      </form>

      {last?.size && (
        <div className="quant-result" data-testid="quant-result">
          <h3>Last quantization</h3>
          <p>
            Perplexity {last.baseline ? `${last.baseline.ppl.toFixed(3)} → ` : ''}
            <strong>{last.ppl.toFixed(3)}</strong>
          </p>
          <p>
            Weights {formatBytes(last.size.bytesBefore)} → <strong>{formatBytes(last.size.bytesAfter)}</strong>; decoder linears{' '}
            {formatBytes(last.size.linearBytesBefore)} → {formatBytes(last.size.linearBytesAfter)} ({last.size.effectiveBits.toFixed(2)} bits per weight with
            scales and zero points)
          </p>
        </div>
      )}
      <BitsChart records={results} />
    </section>
  );
}

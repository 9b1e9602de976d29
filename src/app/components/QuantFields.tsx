/**
 * The bit-width and grouping fields the RTN and L4Q panels share: the same choices, each
 * panel with its own ids and label for the grouping ("Scale per", "Step and offset per"),
 * and the bits sweep (one queued run per width).
 */
import { useState } from 'react';
import { CODE_BITS, GROUP_SIZE, isCodeBits } from '../../engine/rules';

/** The widths the Bits field offers (a choice within rules.ts CODE_BITS; the sweep takes any). */
export const BITS = [8, 6, 5, 4, 3, 2] as const;
/** The Scale-per choices: rules.ts GROUP_SIZE.choices, or one group per output row. */
export type Granularity = `${(typeof GROUP_SIZE.choices)[number]}` | 'channel';

/** The record's groupSize: null = one group per output row. */
export function groupSizeOf(g: Granularity): number | null {
  return g === 'channel' ? null : Number(g);
}

export function BitsField({ id, value, onChange }: { id: string; value: number; onChange: (bits: number) => void }) {
  return (
    <div className="field">
      <label htmlFor={id}>Bits</label>
      <select id={id} value={value} onChange={(e) => onChange(Number(e.target.value))}>
        {BITS.map((b) => (
          <option key={b} value={b}>
            {b}-bit
          </option>
        ))}
      </select>
    </div>
  );
}

export function GroupField({ id, label, value, onChange }: { id: string; label: string; value: Granularity; onChange: (g: Granularity) => void }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as Granularity)}>
        {GROUP_SIZE.choices.map((g) => (
          <option key={g} value={String(g)}>
            group of {g} inputs
          </option>
        ))}
        <option value="channel">output channel (row)</option>
      </select>
    </div>
  );
}

/** "8, 4 3" → [8, 4, 3]: distinct whole bit widths from 2 to 8 (rules.ts isCodeBits), or the problem. */
export function parseBitsSweep(text: string): number[] | string {
  const parts = text.split(/[\s,;]+/).filter((p) => p !== '');
  if (parts.length === 0) return 'list the bit widths to sweep, for example 8, 4, 3, 2.';
  const out: number[] = [];
  for (const p of parts) {
    const b = Number(p);
    if (!/^\d+$/.test(p) || !isCodeBits(b)) return `"${p}" is not a whole number of bits from ${CODE_BITS.text}.`;
    if (!out.includes(b)) out.push(b);
  }
  return out;
}

/** The bits sweep: a list of widths and a button that queues one run per width (or reports the list's problem). */
export function BitsSweepFields(p: { id: string; initial: string; hint: string; button: string; buttonTestId: string; disabled: boolean; onSweep: (widths: number[]) => void; onInvalid: (why: string) => void }) {
  const [text, setText] = useState(p.initial);
  const sweep = () => {
    const widths = parseBitsSweep(text);
    if (typeof widths === 'string') p.onInvalid(widths);
    else p.onSweep(widths);
  };
  return (
    <fieldset className="sweep" data-testid={`${p.id}-fields`}>
      <legend>Bits sweep</legend>
      <div className="field">
        <label htmlFor={p.id}>Bit widths to sweep</label>
        <input id={p.id} type="text" spellCheck={false} autoComplete="off" value={text} onChange={(e) => setText(e.target.value)} aria-describedby={`${p.id}-hint`} />
      </div>
      <p className="hint" id={`${p.id}-hint`}>
        {p.hint}
      </p>
      <button type="button" onClick={sweep} disabled={p.disabled} data-testid={p.buttonTestId}>
        {p.button}
      </button>
    </fieldset>
  );
}

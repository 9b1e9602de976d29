/**
 * The bit-width and grouping fields the RTN and L4Q panels share: the same choices, each
 * panel with its own ids and label for the grouping ("Scale per", "Step and offset per").
 */
export const BITS = [8, 6, 5, 4, 3, 2] as const;
export type Granularity = '32' | '64' | '128' | 'channel';

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
        <option value="32">group of 32 inputs</option>
        <option value="64">group of 64 inputs</option>
        <option value="128">group of 128 inputs</option>
        <option value="channel">output channel (row)</option>
      </select>
    </div>
  );
}

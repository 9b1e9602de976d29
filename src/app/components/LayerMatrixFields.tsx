import { MATRICES, type MatrixName } from '../teaching-store';

/**
 * The layer and decoder-matrix pickers of the teaching view and the weight histogram.
 * `id` and `label` keep each view's ids and accessible names apart (both are on one page).
 */
export function LayerMatrixFields({
  id,
  label,
  layers,
  layer,
  matrix,
  set,
  busy = false,
  noModel,
}: {
  id: string;
  label: string;
  /** Decoder layers of the loaded model (1 before one is loaded). */
  layers: number;
  layer: number;
  matrix: MatrixName;
  set: (patch: { layer?: number; matrix?: MatrixName }) => void;
  busy?: boolean;
  noModel: boolean;
}) {
  return (
    <>
      <div className="field">
        <label htmlFor={`${id}-layer`}>{label} layer</label>
        <select id={`${id}-layer`} value={layer} onChange={(e) => set({ layer: Number(e.target.value) })} disabled={busy || noModel}>
          {Array.from({ length: layers }, (_, i) => (
            <option key={i} value={i}>
              {i}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor={`${id}-matrix`}>{label} matrix</label>
        <select id={`${id}-matrix`} value={matrix} onChange={(e) => set({ matrix: e.target.value as MatrixName })} disabled={busy}>
          {MATRICES.map((m) => (
            <option key={m} value={m}>
              {m}_proj
            </option>
          ))}
        </select>
      </div>
    </>
  );
}

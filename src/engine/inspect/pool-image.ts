/**
 * Downsampling a matrix for display: a rows × cols matrix becomes an image of at most
 * maxSide × maxSide cells by averaging blocks of br × bc entries, br = ⌈rows / maxSide⌉,
 * bc = ⌈cols / maxSide⌉ (blocks at the bottom and right edges may be smaller; each cell is
 * the mean over the entries it actually covers). Averaging keeps the total "mass" of a
 * region honest: a cell of a pruning mask shows the fraction of its weights pruned, never
 * a single picked entry. A matrix that fits is returned unchanged (1 × 1 blocks).
 */
export interface PooledImage {
  rows: number;
  cols: number;
  /** Entries of the source matrix per cell, vertically and horizontally. */
  blockRows: number;
  blockCols: number;
  sourceRows: number;
  sourceCols: number;
  /** Row-major cell values (block means). */
  values: number[];
  min: number;
  max: number;
}

export function poolImage(values: ArrayLike<number>, rows: number, cols: number, maxSide = 128): PooledImage {
  if (values.length !== rows * cols) throw new Error(`poolImage: ${values.length} values for ${rows} × ${cols}`);
  const br = Math.max(1, Math.ceil(rows / maxSide));
  const bc = Math.max(1, Math.ceil(cols / maxSide));
  const R = Math.ceil(rows / br);
  const C = Math.ceil(cols / bc);
  const sum = new Float64Array(R * C);
  const count = new Float64Array(R * C);
  for (let r = 0; r < rows; r++) {
    const pr = Math.floor(r / br) * C;
    for (let c = 0; c < cols; c++) {
      const cell = pr + Math.floor(c / bc);
      sum[cell] += values[r * cols + c]!;
      count[cell]++;
    }
  }
  const out = Array.from(sum, (s, i) => s / count[i]!);
  let min = Infinity;
  let max = -Infinity;
  for (const v of out) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { rows: R, cols: C, blockRows: br, blockCols: bc, sourceRows: rows, sourceCols: cols, values: out, min: out.length ? min : 0, max: out.length ? max : 0 };
}

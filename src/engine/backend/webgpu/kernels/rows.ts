/**
 * Shared by the per-row reductions (RMSNorm, NLL): how many invocations work on one row.
 *
 * A workgroup has WG = max(64, TPR) invocations and handles WG / TPR rows; the TPR
 * invocations of a row take every TPR-th element and combine their partial results by a
 * tree reduction in workgroup memory (log₂ TPR barrier steps). Short rows get TPR = 1 (no
 * barriers at all, which matters on software adapters), long rows up to 256.
 */
export function threadsPerRow(rowLength: number): number {
  let tpr = 1;
  while (tpr < 256 && tpr * 2 * 64 <= rowLength) tpr *= 2;
  return tpr;
}

export function rowsWorkgroup(tpr: number): { wg: number; rowsPerGroup: number } {
  const wg = Math.max(64, tpr);
  return { wg, rowsPerGroup: wg / tpr };
}

/** WGSL: tree reduction of red[] over the TPR lanes of each row (op: 'sum' | 'max'). */
export function rowReduceWgsl(tpr: number, op: 'sum' | 'max'): string {
  if (tpr === 1) return '';
  const combine = op === 'sum' ? 'red[li] + red[li + s]' : 'max(red[li], red[li + s])';
  return `for (var s = ${tpr / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) { red[li] = ${combine}; }
    workgroupBarrier();
  }`;
}

/**
 * WGSL: `let name = ` the row's combination (op) of every lane's `value`, seen by all lanes
 * of the row; with `reuse` a barrier follows, so red[] may be written again afterwards.
 */
export function rowTotalWgsl(tpr: number, op: 'sum' | 'max', value: string, name: string, reuse = false): string {
  if (tpr === 1) return `let ${name} = ${value};`;
  return `red[li] = ${value};
  workgroupBarrier();
  ${rowReduceWgsl(tpr, op)}
  let ${name} = red[li - lane];${reuse ? '\n  workgroupBarrier();' : ''}`;
}

/**
 * WGSL: the start of a per-row kernel — TPR, the reduction buffer red (of `redType`), and
 * main's first lines, which give r (this lane's row), lane, valid (r < p.rows: no early
 * return, barriers follow), rr (r clamped to the last row) and base = rr · p.<rowLength>.
 */
export function rowKernelStartWgsl(tpr: number, redType: string, rowLength: string): string {
  const { wg } = rowsWorkgroup(tpr);
  return `const TPR = ${tpr}u;
var<workgroup> red: array<${redType}, ${wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let r = (wid.y * nwg.x + wid.x) * ${wg / tpr}u + li / TPR;
  let lane = li % TPR;
  let valid = r < p.rows;                 // no early return: barriers follow
  let rr = min(r, p.rows - 1u);
  let base = rr * p.${rowLength};`;
}

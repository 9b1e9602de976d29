/**
 * Per-row negative log-likelihood of logits [rows, V], per row r:
 *
 *   m = max_j logits[r, j]                          (TPR lanes, tree reduction)
 *   s = Σ_j exp(logits[r, j] − m)                   (every term ≤ 1, so no overflow)
 *   nll[r] = m + log(s) − logits[r, target[r]]      (= logsumexp − logit of the target)
 *
 * Lanes per row (TPR) grow with V (see ./rows.ts); the code is specialised on TPR.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { rowsWorkgroup, threadsPerRow } from './rows';
import { softmaxRowsWgsl } from './softmax-rows';

export function nllWgsl(tpr: number): string {
  return softmaxRowsWgsl(
    tpr,
    'rows: u32, V: u32',
    `if (valid && lane == 0u) {
    out[r] = rowMax + log(total) - logits[base + u32(targets[rr])];
  }`,
  );
}

export function nllSource(V: number): PipelineSource {
  const tpr = threadsPerRow(V);
  return { name: 'nll', key: `nll tpr=${tpr}`, code: nllWgsl(tpr) };
}

export function dispatchNll(rt: GpuRuntime, logits: GPUBuffer, targets: GPUBuffer, out: GPUBuffer, rows: number, V: number): void {
  const { rowsPerGroup } = rowsWorkgroup(threadsPerRow(V));
  rt.dispatch('nll', rt.pipeline(nllSource(V)), [{ buffer: logits }, { buffer: targets }, { buffer: out }], { u32: [rows, V] }, rt.grid(Math.ceil(rows / rowsPerGroup)));
}

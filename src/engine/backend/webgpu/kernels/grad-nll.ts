/**
 * Gradient of loss = scale · Σ_r nll_r with respect to the logits [rows, V], per row r:
 *
 *   m = max_j logits[r, j],  s = Σ_j exp(logits[r, j] − m)        (as in ./nll.ts)
 *   dlogits[r, j] = scale · (exp(logits[r, j] − m) / s − [j = target[r]])
 *
 * i.e. scale·(softmax − onehot); scale = 1/predictions gives the gradient of the mean.
 * Lanes per row (TPR) grow with V (./rows.ts).
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { rowsWorkgroup, threadsPerRow } from './rows';
import { softmaxRowsWgsl } from './softmax-rows';

export function nllGradWgsl(tpr: number): string {
  return softmaxRowsWgsl(
    tpr,
    'rows: u32, V: u32, scale: f32',
    `if (valid) {
    let c = p.scale / total;
    let t = u32(targets[rr]);
    for (var j = lane; j < p.V; j += TPR) {
      out[base + j] = c * exp(logits[base + j] - rowMax) - select(0.0, p.scale, j == t);
    }
  }`,
  );
}

export function nllGradSource(V: number): PipelineSource {
  const tpr = threadsPerRow(V);
  return { name: 'nll-grad', key: `nll-grad tpr=${tpr}`, code: nllGradWgsl(tpr) };
}

export function dispatchNllGrad(rt: GpuRuntime, logits: GPUBuffer, targets: GPUBuffer, out: GPUBuffer, rows: number, V: number, scale: number): void {
  const { rowsPerGroup } = rowsWorkgroup(threadsPerRow(V));
  rt.dispatch('nll-grad', rt.pipeline(nllGradSource(V)), [{ buffer: logits }, { buffer: targets }, { buffer: out }], { u32: [rows, V], f32: [scale] }, rt.grid(Math.ceil(rows / rowsPerGroup)));
}

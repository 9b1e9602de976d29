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
import { rowReduceWgsl, rowsWorkgroup, threadsPerRow } from './rows';

export function nllGradWgsl(tpr: number): string {
  const { wg } = rowsWorkgroup(tpr);
  return /* wgsl */ `
struct Params { rows: u32, V: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

const TPR = ${tpr}u;
var<workgroup> red: array<f32, ${wg}>;

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let r = (wid.y * nwg.x + wid.x) * ${wg / tpr}u + li / TPR;
  let lane = li % TPR;
  let valid = r < p.rows;                 // no early return: barriers follow
  let rr = min(r, p.rows - 1u);
  let base = rr * p.V;
  var m = -3.0e38;
  for (var j = lane; j < p.V; j += TPR) { m = max(m, logits[base + j]); }
  ${tpr === 1 ? 'let rowMax = m;' : `red[li] = m;
  workgroupBarrier();
  ${rowReduceWgsl(tpr, 'max')}
  let rowMax = red[li - lane];
  workgroupBarrier();`}
  var sum = 0.0;
  for (var j = lane; j < p.V; j += TPR) { sum += exp(logits[base + j] - rowMax); }
  ${tpr === 1 ? 'let total = sum;' : `red[li] = sum;
  workgroupBarrier();
  ${rowReduceWgsl(tpr, 'sum')}
  let total = red[li - lane];`}
  if (valid) {
    let c = p.scale / total;
    let t = u32(targets[rr]);
    for (var j = lane; j < p.V; j += TPR) {
      out[base + j] = c * exp(logits[base + j] - rowMax) - select(0.0, p.scale, j == t);
    }
  }
}`;
}

export function nllGradSource(V: number): PipelineSource {
  const tpr = threadsPerRow(V);
  return { name: 'nll-grad', key: `nll-grad tpr=${tpr}`, code: nllGradWgsl(tpr) };
}

export function dispatchNllGrad(rt: GpuRuntime, logits: GPUBuffer, targets: GPUBuffer, out: GPUBuffer, rows: number, V: number, scale: number): void {
  const { rowsPerGroup } = rowsWorkgroup(threadsPerRow(V));
  rt.dispatch('nll-grad', rt.pipeline(nllGradSource(V)), [{ buffer: logits }, { buffer: targets }, { buffer: out }], { u32: [rows, V], f32: [scale] }, rt.grid(Math.ceil(rows / rowsPerGroup)));
}

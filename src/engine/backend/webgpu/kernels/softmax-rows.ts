/**
 * The part nll.ts and grad-nll.ts share: one softmax normaliser per row of logits [rows, V],
 *
 *   rowMax = max_j logits[r, j]                     (TPR lanes, tree reduction)
 *   total  = Σ_j exp(logits[r, j] − rowMax)          (every term ≤ 1, so no overflow)
 *
 * as a whole kernel around `tail`, the WGSL that uses them (with r, rr, base, lane, valid,
 * rowMax and total in scope; every lane of a row sees the same rowMax and total). Bindings:
 * params (uniform), logits, targets (i32), out.
 */
import { rowKernelStartWgsl, rowTotalWgsl } from './rows';

export function softmaxRowsWgsl(tpr: number, params: string, tail: string): string {
  return /* wgsl */ `
struct Params { ${params} }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

${rowKernelStartWgsl(tpr, 'f32', 'V')}
  var m = -3.0e38;
  for (var j = lane; j < p.V; j += TPR) { m = max(m, logits[base + j]); }
  ${rowTotalWgsl(tpr, 'max', 'm', 'rowMax', true)}
  var sum = 0.0;
  for (var j = lane; j < p.V; j += TPR) { sum += exp(logits[base + j] - rowMax); }
  ${rowTotalWgsl(tpr, 'sum', 'sum', 'total')}
  ${tail}
}`;
}

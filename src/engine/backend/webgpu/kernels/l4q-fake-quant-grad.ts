/**
 * Backward of L4Q fake quantization (quant/l4q.ts fakeQuantizeGrad) for Γ = ∂L/∂Ŵ, with
 * v = (W' − b)/s per weight of group gi (see l4q-fake-quant.ts) and the gradient scale g:
 *
 *   in range (Qn ≤ v ≤ Qp):  dW = Γ,  ∂Ŵ/∂s = round(v) − v,  ∂Ŵ/∂b = 0
 *   v < Qn:                   dW = 0,  ∂Ŵ/∂s = Qn,             ∂Ŵ/∂b = 1
 *   v > Qp:                   dW = 0,  ∂Ŵ/∂s = Qp,             ∂Ŵ/∂b = 1
 *   ds[gi] = g·Σ_group Γ·∂Ŵ/∂s,   db[gi] = g·Σ_group Γ·∂Ŵ/∂b
 *
 * Which branch a weight takes is decided exactly, not from the rounded f32 v: the CPU forms
 * v in float64, where (w − b)/s < Qn exactly when w − b − Qn·s < 0 in real arithmetic, and
 * the initialisations put weights right on the limits (min-max: each group's min and max;
 * L4Q_init: its extreme), where an f32 v lands on either side. So the kernel takes the exact
 * sign of w − b − Qn·s and of w − b − Qp·s = w − b + Qn·s + s (Qn·s is exact: Qn = −2^(n−1))
 * from an error-free expansion of the sum (Shewchuk's Grow-Expansion of TwoSums: only
 * additions, which WGSL computes in IEEE f32; the sign is that of the largest nonzero part).
 *
 * Masked-out weights (M = 0) get dW = 0 and add nothing. No float atomics and no barriers
 * (workgroup barriers are very slow on software adapters): each group is cut into segments
 * of at most SEG columns, one invocation per segment writes dW for its columns and its
 * partial sums of Γ·∂Ŵ/∂s and Γ·∂Ŵ/∂b into part_s, part_b [groups · segments per group]. With
 * one segment per group (G ≤ SEG, e.g. the default G = 32) those are already ds, db (`scale`
 * = g); otherwise l4q-group-sum.ts adds each group's segments in order and multiplies by g.
 * Fixed summation orders, so results are deterministic.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import type { GroupShape } from './l4q-fake-quant';
import { flatKernelStartWgsl } from './flat';

const WG = 64;
/** Columns per segment (one invocation each). */
export const L4Q_SEGMENT = 32;

export function l4qFakeQuantGradWgsl(masked: boolean): string {
  return /* wgsl */ `
struct Params { rows: u32, cols: u32, group: u32, gpr: u32, segs: u32, qn: f32, qp: f32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;
@group(0) @binding(6) var<storage, read_write> part_s: array<f32>;
@group(0) @binding(7) var<storage, read_write> part_b: array<f32>;
${masked ? '@group(0) @binding(8) var<storage, read> mask: array<f32>;' : ''}

fn two_sum(a: f32, b: f32) -> vec2<f32> {
  let x = a + b;
  let bv = x - a;
  let av = x - bv;
  return vec2<f32>(x, (a - av) + (b - bv));
}

// Exact sign of a + b + c + d: expansion [e0, e1, e2, e3] (increasing magnitude), grown term by term.
fn sign_sum4(a: f32, b: f32, c: f32, d: f32) -> f32 {
  var t = two_sum(a, b);
  var e0 = t.y;
  var e1 = t.x;
  t = two_sum(e0, c);
  e0 = t.y;
  t = two_sum(e1, t.x);
  e1 = t.y;
  var e2 = t.x;
  t = two_sum(e0, d);
  e0 = t.y;
  t = two_sum(e1, t.x);
  e1 = t.y;
  t = two_sum(e2, t.x);
  e2 = t.y;
  let e3 = t.x;
  if (e3 != 0.0) { return sign(e3); }
  if (e2 != 0.0) { return sign(e2); }
  if (e1 != 0.0) { return sign(e1); }
  return sign(e0);
}

${flatKernelStartWgsl(WG, 'seg', 'p.rows * p.gpr * p.segs')}
  let gi = seg / p.segs;
  let r = gi / p.gpr;
  let g0 = (gi % p.gpr) * p.group;
  let c0 = g0 + (seg % p.segs) * ${L4Q_SEGMENT}u;
  let c1 = min(min(p.cols, g0 + p.group), c0 + ${L4Q_SEGMENT}u);
  let st = s[gi];
  let off = b[gi];
  let qns = p.qn * st;
  var ps = 0.0;
  var pb = 0.0;
  for (var c = c0; c < c1; c++) {
    let i = r * p.cols + c;
    ${masked ? 'if (mask[i] == 0.0) { dw[i] = 0.0; continue; }' : ''}
    let wi = w[i];
    let G = gamma[i];
    if (sign_sum4(wi, -off, -qns, 0.0) < 0.0) {
      ps += G * p.qn;
      pb += G;
      dw[i] = 0.0;
    } else if (sign_sum4(wi, -off, qns, st) > 0.0) {
      ps += G * p.qp;
      pb += G;
      dw[i] = 0.0;
    } else {
      let v = (wi - off) / st;
      ps += G * (round(v) - v);
      dw[i] = G;
    }
  }
  part_s[seg] = ps * p.scale;
  part_b[seg] = pb * p.scale;
}`;
}

export function l4qFakeQuantGradSource(masked: boolean): PipelineSource {
  return { name: 'l4q-fake-quant-grad', key: `l4q-fake-quant-grad masked=${masked}`, code: l4qFakeQuantGradWgsl(masked) };
}

/** Segments per group for groups of G columns. */
export function l4qSegments(group: number): number {
  return Math.ceil(group / L4Q_SEGMENT);
}

/**
 * Encodes pass 1. `partS`, `partB` hold rows·gpr·segs values; with one segment per group they
 * are ds, db themselves and `scale` is g, else partials (scale 1) for dispatchL4qGroupSum.
 */
export function dispatchL4qFakeQuantGrad(
  rt: GpuRuntime,
  bufs: { w: GPUBuffer; gamma: GPUBuffer; s: GPUBuffer; b: GPUBuffer; dw: GPUBuffer; partS: GPUBuffer; partB: GPUBuffer; mask: GPUBuffer | null },
  g: GroupShape,
  scale: number,
): void {
  const segs = l4qSegments(g.group);
  const buffers = [bufs.w, bufs.gamma, bufs.s, bufs.b, bufs.dw, bufs.partS, bufs.partB, ...(bufs.mask ? [bufs.mask] : [])].map((buffer) => ({ buffer }));
  rt.dispatch('l4q-fake-quant-grad', rt.pipeline(l4qFakeQuantGradSource(!!bufs.mask)), buffers, { u32: [g.rows, g.cols, g.group, g.gpr, segs], f32: [g.qn, g.qp, scale] }, rt.grid(Math.ceil((g.rows * g.gpr * segs) / WG)));
}

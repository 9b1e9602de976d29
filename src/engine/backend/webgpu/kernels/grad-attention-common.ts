/**
 * What the two passes of the attention backward (./grad-attention-dq.ts,
 * ./grad-attention-dkv.ts) share: the code generation over the head dimension (vec4 when
 * d % 4 = 0, else f32; one named register per element), the uniforms, and the inputs
 * q, k, v, dO at bindings 1–4 with the dot product dp.
 */

export interface HeadCode {
  vec: boolean;
  /** Elements of type V per head: d/4 vec4s or d floats. */
  D4: number;
  /** One line per element, `f(e)`, joined by `sep`. */
  lines: (f: (e: number) => string, sep?: string) => string;
  /** `f(0) + f(1) + …` over the elements. */
  sum: (f: (e: number) => string) => string;
  /** Params (T, H, KVH, group, scale), alias V, q/k/v/dO at bindings 1–4, dp, const D4. */
  header: string;
}

export function headCode(headDim: number): HeadCode {
  const vec = headDim % 4 === 0;
  const D4 = vec ? headDim / 4 : headDim;
  const dims = [...Array(D4).keys()];
  return {
    vec,
    D4,
    lines: (f, sep = '\n  ') => dims.map(f).join(sep),
    sum: (f) => dims.map(f).join(' + '),
    header: /* wgsl */ `
struct Params { T: u32, H: u32, KVH: u32, group: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
alias V = ${vec ? 'vec4<f32>' : 'f32'};
@group(0) @binding(1) var<storage, read> q: array<V>;
@group(0) @binding(2) var<storage, read> k: array<V>;
@group(0) @binding(3) var<storage, read> v: array<V>;
@group(0) @binding(4) var<storage, read> dO: array<V>;

fn dp(a: V, b: V) -> f32 { return ${vec ? 'dot(a, b)' : 'a * b'}; }

const D4 = ${D4}u;`,
  };
}

/** The uniforms of both passes: T, H, KVH, query heads per kv head, 1/√d. */
export function attentionGradUniforms(s: { T: number; numHeads: number; numKvHeads: number; headDim: number }): { u32: number[]; f32: number[] } {
  return { u32: [s.T, s.numHeads, s.numKvHeads, s.numHeads / s.numKvHeads], f32: [1 / Math.sqrt(s.headDim)] };
}

/** Invocations per workgroup of both passes. */
export const GRAD_ATTENTION_WG = 64;

/**
 * Rows per invocation (register blocking: query rows in pass 1, key rows in pass 2) for
 * head size d and T rows, by measurement (bench/attention-grad.ts, docs/benchmarks.md#l4q-training-speed-benchl4q-traints):
 * - SwiftShader, whose storage loads are per-lane gathers: 8, halved while R·d/4 > 64 or
 *   half of R still covers T. Both passes, CPU time, T = 512: d = 8 (8/4 heads) 236 ms at
 *   R = 1, 78 ms at R = 8; d = 64 (9/3 heads) 1906 ms at R = 1, 1169 at R = 2, 856 at R = 4,
 *   whose first call (compiling the two pipelines) takes 9 s instead of 3 s — once per
 *   session, against ~1 s saved per layer and step.
 * - Every other adapter: 1. lavapipe's compile time grows steeply with the registers held
 *   (d = 64: 28 s at R = 1, 66 s at R = 2, 183 s at R = 4, to save 23–33 ms per call at
 *   T = 128);
 *   on a GPU fewer rows per invocation keep more invocations in flight (not measured: no
 *   GPU was lent).
 */
export function attentionGradRows(headDim: number, T: number, swiftShader: boolean): number {
  if (!swiftShader) return 1;
  const d4 = headDim % 4 === 0 ? headDim / 4 : headDim;
  let rows = 8;
  while (rows > 1 && (rows * d4 > 64 || rows / 2 >= T)) rows /= 2;
  return rows;
}

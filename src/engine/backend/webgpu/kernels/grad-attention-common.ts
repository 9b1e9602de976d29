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

/**
 * Causal GQA attention backward, pass 1 of 2: the query gradient, one invocation per query
 * row i and head h (kv head g = ⌊h / (H / KV)⌋), c = 1/√d. With s_j = c·q_i·k_j (j ≤ i),
 * P_ij = softmax_j(s), dP_ij = dO_i·v_j:
 *
 *   D_i  = Σ_j P_ij · dP_ij                        (= dO_i · O_i)
 *   dS_ij = P_ij · (dP_ij − D_i)
 *   dq_i = c · Σ_j dS_ij · k_j
 *
 * P is recomputed, never stored: a first sweep over the keys takes the running max m, the
 * denominator l = Σ e^(s_j − m) and Σ e^(s_j − m)·dP_ij, rescaled whenever m grows (as the
 * forward's online softmax), giving D_i = that sum / l; a second sweep forms dq. Each row's
 * (m, 1/l, D) go to `stats` [T·H] for pass 2 (./grad-attention-dkv.ts), which needs P and
 * D per (query row, head) but walks keys, not queries. No workgroup memory, no atomics:
 * every output element has one writer.
 *
 * Code generation as in the forward (./attention.ts): specialised on the head size d (vec4
 * when d % 4 = 0), loops over the head dimension unrolled into named registers.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { attentionGradUniforms, headCode } from './grad-attention-common';

const WG = 64;

export function attentionGradDqWgsl(headDim: number): string {
  const { lines, sum, header } = headCode(headDim);
  return /* wgsl */ `${header}
@group(0) @binding(5) var<storage, read_write> dq: array<V>;
@group(0) @binding(6) var<storage, read_write> stats: array<vec4<f32>>;

const NEG = -1.0e30;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wid.y;
  let g = h / p.group;
  let i = wid.x * ${WG}u + li;
  if (i >= p.T) { return; }
  let qStride = p.H * D4;
  let kvStride = p.KVH * D4;
  let qb = i * qStride + h * D4;
  ${lines((e) => `let q${e} = q[qb + ${e}u] * p.scale;`)}
  ${lines((e) => `let o${e} = dO[qb + ${e}u];`)}
  var m = NEG;
  var l = 0.0;
  var sdp = 0.0;
  for (var j = 0u; j <= i; j++) {
    let kb = j * kvStride + g * D4;
    let s = ${sum((e) => `dp(q${e}, k[kb + ${e}u])`)};
    let dpj = ${sum((e) => `dp(o${e}, v[kb + ${e}u])`)};
    let mNew = max(m, s);
    let corr = exp(m - mNew);
    let w = exp(s - mNew);
    l = l * corr + w;
    sdp = sdp * corr + w * dpj;
    m = mNew;
  }
  let invL = 1.0 / l;
  let dSum = sdp * invL;
  ${lines((e) => `var a${e} = V(0.0);`)}
  for (var j = 0u; j <= i; j++) {
    let kb = j * kvStride + g * D4;
    let s = ${sum((e) => `dp(q${e}, k[kb + ${e}u])`)};
    let dpj = ${sum((e) => `dp(o${e}, v[kb + ${e}u])`)};
    let ds = exp(s - m) * invL * (dpj - dSum);
    ${lines((e) => `a${e} += ds * k[kb + ${e}u];`, '\n    ')}
  }
  ${lines((e) => `dq[qb + ${e}u] = a${e} * p.scale;`)}
  stats[i * p.H + h] = vec4<f32>(m, invL, dSum, 0.0);
}`;
}

export function attentionGradDqSource(headDim: number): PipelineSource {
  return { name: 'attention-grad-dq', key: `attention-grad-dq d=${headDim}`, code: attentionGradDqWgsl(headDim) };
}

/** stats: T·H vec4 (16 bytes each), written here and read by the dk/dv pass. */
export function dispatchAttentionGradDq(
  rt: GpuRuntime,
  b: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; dOut: GPUBuffer; dq: GPUBuffer; stats: GPUBuffer },
  s: { T: number; numHeads: number; numKvHeads: number; headDim: number },
): void {
  const src = attentionGradDqSource(s.headDim);
  rt.dispatch(
    src.name,
    rt.pipeline(src),
    [{ buffer: b.q }, { buffer: b.k }, { buffer: b.v }, { buffer: b.dOut }, { buffer: b.dq }, { buffer: b.stats }],
    attentionGradUniforms(s),
    [Math.ceil(s.T / WG), s.numHeads, 1],
  );
}

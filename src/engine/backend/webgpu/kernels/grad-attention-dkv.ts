/**
 * Causal GQA attention backward, pass 2 of 2: key and value gradients, one invocation per
 * key row j and key/value head g, summing over the query heads h of g's group and the
 * query rows i ≥ j that see key j (c = 1/√d, s_ij = c·q_i·k_j):
 *
 *   P_ij  = e^(s_ij − m_i) / l_i,   dP_ij = dO_i·v_j,   dS_ij = P_ij · (dP_ij − D_i)
 *   dk_j = c · Σ_h Σ_{i ≥ j} dS_ij · q_i
 *   dv_j =     Σ_h Σ_{i ≥ j} P_ij · dO_i
 *
 * with m_i, 1/l_i and D_i per (row, head) from pass 1 (./grad-attention-dq.ts, `stats`).
 * Each output row has one writer, so no atomics; the query-head sum of GQA happens in the
 * invocation's registers. Code generation as in pass 1 (unrolled over the head dimension).
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { attentionGradUniforms, headCode } from './grad-attention-common';

const WG = 64;

export function attentionGradDkvWgsl(headDim: number): string {
  const { lines, sum, header } = headCode(headDim);
  return /* wgsl */ `${header}
@group(0) @binding(5) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dk: array<V>;
@group(0) @binding(7) var<storage, read_write> dv: array<V>;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = wid.y;
  let j = wid.x * ${WG}u + li;
  if (j >= p.T) { return; }
  let qStride = p.H * D4;
  let kvStride = p.KVH * D4;
  let kb = j * kvStride + g * D4;
  ${lines((e) => `let k${e} = k[kb + ${e}u] * p.scale;`)}
  ${lines((e) => `let v${e} = v[kb + ${e}u];`)}
  ${lines((e) => `var gk${e} = V(0.0);`)}
  ${lines((e) => `var gv${e} = V(0.0);`)}
  for (var hh = 0u; hh < p.group; hh++) {
    let h = g * p.group + hh;
    for (var i = j; i < p.T; i++) {
      let qb = i * qStride + h * D4;
      ${lines((e) => `let x${e} = q[qb + ${e}u];`, '\n      ')}
      ${lines((e) => `let y${e} = dO[qb + ${e}u];`, '\n      ')}
      let st = stats[i * p.H + h];
      let pr = exp((${sum((e) => `dp(x${e}, k${e})`)}) - st.x) * st.y;
      let ds = pr * ((${sum((e) => `dp(y${e}, v${e})`)}) - st.z);
      ${lines((e) => `gk${e} += ds * x${e};`, '\n      ')}
      ${lines((e) => `gv${e} += pr * y${e};`, '\n      ')}
    }
  }
  ${lines((e) => `dk[kb + ${e}u] = gk${e} * p.scale;`)}
  ${lines((e) => `dv[kb + ${e}u] = gv${e};`)}
}`;
}

export function attentionGradDkvSource(headDim: number): PipelineSource {
  return { name: 'attention-grad-dkv', key: `attention-grad-dkv d=${headDim}`, code: attentionGradDkvWgsl(headDim) };
}

export function dispatchAttentionGradDkv(
  rt: GpuRuntime,
  b: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; dOut: GPUBuffer; stats: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer },
  s: { T: number; numHeads: number; numKvHeads: number; headDim: number },
): void {
  const src = attentionGradDkvSource(s.headDim);
  rt.dispatch(
    src.name,
    rt.pipeline(src),
    [{ buffer: b.q }, { buffer: b.k }, { buffer: b.v }, { buffer: b.dOut }, { buffer: b.stats }, { buffer: b.dk }, { buffer: b.dv }],
    attentionGradUniforms(s),
    [Math.ceil(s.T / WG), s.numKvHeads, 1],
  );
}

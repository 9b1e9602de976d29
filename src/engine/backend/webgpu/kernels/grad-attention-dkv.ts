/**
 * Causal GQA attention backward, pass 2 of 2: key and value gradients, for R consecutive
 * key rows j per invocation and one key/value head g, summing over the query heads h of
 * g's group and the query rows i ≥ j that see key j (c = 1/√d, s_ij = c·q_i·k_j):
 *
 *   P_ij  = e^(s_ij − m_i) / l_i,   dP_ij = dO_i·v_j,   dS_ij = P_ij · (dP_ij − D_i)
 *   dk_j = c · Σ_h Σ_{i ≥ j} dS_ij · q_i
 *   dv_j =     Σ_h Σ_{i ≥ j} P_ij · dO_i
 *
 * with m_i, 1/l_i and D_i per (row, head) from pass 1 (./grad-attention-dq.ts, `stats`).
 * Each output row has one writer, so no atomics; the query-head sum of GQA happens in the
 * invocation's registers. Register blocking over key rows: each query row's q, dO and stats
 * read from storage serve the invocation's R keys; the sweep starts at its first key, and a
 * query row before key j's own position gets the score −1e30 for it, so P_ij is exactly 0.
 * Key rows past T repeat row T−1 and write nothing. Code generation as in pass 1.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { attentionGradUniforms, GRAD_ATTENTION_WG as WG, headCode } from './grad-attention-common';

export function attentionGradDkvWgsl(headDim: number, R: number): string {
  const { lines, sum, header } = headCode(headDim);
  const rows = (f: (r: number) => string, sep = '\n  ') => [...Array(R).keys()].map(f).join(sep);
  return /* wgsl */ `${header}
@group(0) @binding(5) var<storage, read> stats: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dk: array<V>;
@group(0) @binding(7) var<storage, read_write> dv: array<V>;

const NEG = -1.0e30;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let g = wid.y;
  let jBase = (wid.x * ${WG}u + li) * ${R}u;          // first key row of this invocation
  if (jBase >= p.T) { return; }
  let qStride = p.H * D4;
  let kvStride = p.KVH * D4;
  ${rows((r) => `let j${r} = min(jBase + ${r}u, p.T - 1u);`)}
  ${rows((r) => lines((e) => `let k${r}_${e} = k[j${r} * kvStride + g * D4 + ${e}u] * p.scale;`), '\n  ')}
  ${rows((r) => lines((e) => `let v${r}_${e} = v[j${r} * kvStride + g * D4 + ${e}u];`), '\n  ')}
  ${rows((r) => lines((e) => `var gk${r}_${e} = V(0.0);`), '\n  ')}
  ${rows((r) => lines((e) => `var gv${r}_${e} = V(0.0);`), '\n  ')}
  for (var hh = 0u; hh < p.group; hh++) {
    let h = g * p.group + hh;
    for (var i = jBase; i < p.T; i++) {
      let qb = i * qStride + h * D4;
      ${lines((e) => `let x${e} = q[qb + ${e}u];`, '\n      ')}
      ${lines((e) => `let y${e} = dO[qb + ${e}u];`, '\n      ')}
      let st = stats[i * p.H + h];
      ${rows(
        (r) => `{
        let pr = exp(select(${sum((e) => `dp(x${e}, k${r}_${e})`)}, NEG, i < j${r}) - st.x) * st.y;
        let ds = pr * ((${sum((e) => `dp(y${e}, v${r}_${e})`)}) - st.z);
        ${lines((e) => `gk${r}_${e} += ds * x${e};`, '\n        ')}
        ${lines((e) => `gv${r}_${e} += pr * y${e};`, '\n        ')}
      }`,
        '\n      ',
      )}
    }
  }
  ${rows(
    (r) => `if (jBase + ${r}u < p.T) {
    ${lines((e) => `dk[j${r} * kvStride + g * D4 + ${e}u] = gk${r}_${e} * p.scale;`, '\n    ')}
    ${lines((e) => `dv[j${r} * kvStride + g * D4 + ${e}u] = gv${r}_${e};`, '\n    ')}
  }`,
  )}
}`;
}

export function attentionGradDkvSource(headDim: number, R: number): PipelineSource {
  return { name: 'attention-grad-dkv', key: `attention-grad-dkv d=${headDim} r=${R}`, code: attentionGradDkvWgsl(headDim, R) };
}

/** `rows`: R, key rows per invocation (attentionGradRows). */
export function dispatchAttentionGradDkv(
  rt: GpuRuntime,
  b: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; dOut: GPUBuffer; stats: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer },
  s: { T: number; numHeads: number; numKvHeads: number; headDim: number; rows: number },
): void {
  const R = s.rows;
  const src = attentionGradDkvSource(s.headDim, R);
  rt.dispatch(
    src.name,
    rt.pipeline(src),
    [{ buffer: b.q }, { buffer: b.k }, { buffer: b.v }, { buffer: b.dOut }, { buffer: b.stats }, { buffer: b.dk }, { buffer: b.dv }],
    attentionGradUniforms(s),
    [Math.ceil(s.T / (WG * R)), s.numKvHeads, 1],
  );
}

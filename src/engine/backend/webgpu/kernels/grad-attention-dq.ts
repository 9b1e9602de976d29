/**
 * Causal GQA attention backward, pass 1 of 2: the query gradient, for R consecutive query
 * rows i per invocation and one head h (kv head g = ⌊h / (H / KV)⌋), c = 1/√d. With
 * s_j = c·q_i·k_j (j ≤ i), P_ij = softmax_j(s), dP_ij = dO_i·v_j:
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
 * Register blocking over rows, as the forward's 'rows' variant (./attention.ts): each key
 * and value vector read from storage serves the invocation's R rows. The sweeps run to the
 * last row's key; a row's keys past its own position get the score −1e30, whose e^(s − m)
 * is exactly 0 (every row sees key 0 first, so m is a real score from then on). Rows past
 * T repeat row T−1 and write nothing.
 *
 * Code generation as in the forward: specialised on the head size d (vec4 when d % 4 = 0)
 * and R, loops over the head dimension and the rows unrolled into named registers.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { attentionGradUniforms, GRAD_ATTENTION_WG as WG, headCode } from './grad-attention-common';

export function attentionGradDqWgsl(headDim: number, R: number): string {
  const { lines, sum, header } = headCode(headDim);
  const rows = (f: (r: number) => string, sep = '\n  ') => [...Array(R).keys()].map(f).join(sep);
  // A sweep over the keys up to the last row's: k_j, v_j loaded once, then per row r (in
  // its own block) the masked score s and dP = dO·v_j, then body(r).
  const keySweep = (body: (r: number) => string) => `for (var j = 0u; j <= i${R - 1}; j++) {
    let kb = j * kvStride + g * D4;
    ${lines((e) => `let k${e} = k[kb + ${e}u];`, '\n    ')}
    ${lines((e) => `let v${e} = v[kb + ${e}u];`, '\n    ')}
    ${rows(
      (r) => `{
      let s = select(${sum((e) => `dp(q${r}_${e}, k${e})`)}, NEG, j > i${r});
      let dpj = ${sum((e) => `dp(o${r}_${e}, v${e})`)};${body(r)}    }`,
      '\n    ',
    )}
  }`;
  return /* wgsl */ `${header}
@group(0) @binding(5) var<storage, read_write> dq: array<V>;
@group(0) @binding(6) var<storage, read_write> stats: array<vec4<f32>>;

const NEG = -1.0e30;

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wid.y;
  let g = h / p.group;
  let iBase = (wid.x * ${WG}u + li) * ${R}u;          // first query row of this invocation
  if (iBase >= p.T) { return; }
  let qStride = p.H * D4;
  let kvStride = p.KVH * D4;
  ${rows((r) => `let i${r} = min(iBase + ${r}u, p.T - 1u);`)}
  ${rows((r) => lines((e) => `let q${r}_${e} = q[i${r} * qStride + h * D4 + ${e}u] * p.scale;`), '\n  ')}
  ${rows((r) => lines((e) => `let o${r}_${e} = dO[i${r} * qStride + h * D4 + ${e}u];`), '\n  ')}
  ${rows((r) => `var m${r} = NEG;\n  var l${r} = 0.0;\n  var sdp${r} = 0.0;`)}
  ${keySweep((r) => `
      let mNew = max(m${r}, s);
      let corr = exp(m${r} - mNew);
      let w = exp(s - mNew);
      l${r} = l${r} * corr + w;
      sdp${r} = sdp${r} * corr + w * dpj;
      m${r} = mNew;
`)}
  ${rows((r) => `let invL${r} = 1.0 / l${r};\n  let dSum${r} = sdp${r} * invL${r};`)}
  ${rows((r) => lines((e) => `var a${r}_${e} = V(0.0);`), '\n  ')}
  ${keySweep((r) => `
      let ds = exp(s - m${r}) * invL${r} * (dpj - dSum${r});
      ${lines((e) => `a${r}_${e} += ds * k${e};`, '\n      ')}
`)}
  ${rows(
    (r) => `if (iBase + ${r}u < p.T) {
    ${lines((e) => `dq[i${r} * qStride + h * D4 + ${e}u] = a${r}_${e} * p.scale;`, '\n    ')}
    stats[i${r} * p.H + h] = vec4<f32>(m${r}, invL${r}, dSum${r}, 0.0);
  }`,
  )}
}`;
}

export function attentionGradDqSource(headDim: number, R: number): PipelineSource {
  return { name: 'attention-grad-dq', key: `attention-grad-dq d=${headDim} r=${R}`, code: attentionGradDqWgsl(headDim, R) };
}

/** stats: T·H vec4 (16 bytes each), written here and read by the dk/dv pass. `rows`: R, rows per invocation (attentionGradRows). */
export function dispatchAttentionGradDq(
  rt: GpuRuntime,
  b: { q: GPUBuffer; k: GPUBuffer; v: GPUBuffer; dOut: GPUBuffer; dq: GPUBuffer; stats: GPUBuffer },
  s: { T: number; numHeads: number; numKvHeads: number; headDim: number; rows: number },
): void {
  const R = s.rows;
  const src = attentionGradDqSource(s.headDim, R);
  rt.dispatch(
    src.name,
    rt.pipeline(src),
    [{ buffer: b.q }, { buffer: b.k }, { buffer: b.v }, { buffer: b.dOut }, { buffer: b.dq }, { buffer: b.stats }],
    attentionGradUniforms(s),
    [Math.ceil(s.T / (WG * R)), s.numHeads, 1],
  );
}

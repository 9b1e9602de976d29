/**
 * Causal grouped-query attention, flash-style (online softmax over key blocks).
 *
 * For query row i and head h (kv head g = ⌊h / (H / KV)⌋), d = head size, c = 1/√d:
 *
 *   o[i, h] = Σ_{j ≤ i} softmax_j(c · q[i,h]·k[j,g]) · v[j, g]
 *
 * computed without storing the T×T scores: keys are visited in blocks of BK; with running
 * max m, running denominator l and running output acc (per query row), for a block of
 * scores s_j,
 *
 *   m' = max(m, max_j s_j);   l' = l·e^(m−m') + Σ_j e^(s_j−m');   acc' = acc·e^(m−m') + Σ_j e^(s_j−m')·v_j
 *
 * and finally o = acc / l. A workgroup of BQ invocations handles BQ consecutive query rows
 * of one head (one row per invocation; q and acc in registers). Each key/value block
 * [BK, d] is loaded cooperatively into workgroup memory, so only 2·BK·d floats of workgroup
 * memory are needed whatever the sequence length. Key blocks after the workgroup's last
 * query row are skipped (causality); within a block, scores of keys j > i are set to −1e30
 * so that e^(s−m') underflows to exactly 0 (no ±inf arithmetic). Scores are formed four
 * keys at a time as a vec4 (one exp per four keys).
 *
 * The code is specialised on d (q, k, v are read as vec4 when d % 4 = 0, else as f32) and
 * on BK (a multiple of 4, chosen so that 2·BK·d floats fit the device's workgroup storage),
 * and the loops over the head dimension and over the keys of a block are unrolled as the
 * code is generated: q, acc and the block's scores live in named registers rather than
 * private arrays, which compilers without loop unrolling (SwiftShader's Subzero JIT) keep
 * in memory with indexed loads and stores.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';

export const ATTENTION_BQ = 64;

export function attentionBlock(headDim: number, maxWorkgroupStorage: number): number {
  let bk = 32;
  while (bk > 4 && 2 * bk * headDim * 4 > maxWorkgroupStorage) bk >>= 1;
  if (2 * bk * headDim * 4 > maxWorkgroupStorage) throw new Error(`attention: head size ${headDim} is too large for ${maxWorkgroupStorage} bytes of workgroup storage`);
  return bk;
}

/**
 * 'shared': each key/value block is loaded once per workgroup into workgroup memory (two
 * barriers per block) — best on GPUs and on lavapipe. 'direct': no workgroup memory and no
 * barriers; every invocation reads the block's keys and values from the storage buffers and
 * stops at its own last block — best on SwiftShader, where barriers switch coroutines.
 */
export type AttentionVariant = 'shared' | 'direct';

export function attentionWgsl(headDim: number, bk: number, variant: AttentionVariant = 'shared'): string {
  const shared = variant === 'shared';
  const vec = headDim % 4 === 0;
  const D4 = vec ? headDim / 4 : headDim; // head size in elements of type V
  const NB = bk / 4; // score vec4s per key block
  const dims = [...Array(D4).keys()];
  const quads = [...Array(NB).keys()];
  const lines = (f: (i: number) => string, over: number[], sep = '\n    ') => over.map(f).join(sep);
  // Score of this row's query against key jj of the block: Σ_e q_e · k[jj, e].
  const kAt = (jj: number, e: number) => (shared ? `ks[${jj * D4 + e}u]` : `k[kb${jj} + ${e}u]`);
  const vAt = (jj: number, e: number) => (shared ? `vs[${jj * D4 + e}u]` : `v[kb${jj} + ${e}u]`);
  const keys = [...Array(bk).keys()];
  const score = (jj: number) => dims.map((e) => `dp(q${e}, ${kAt(jj, e)})`).join(' + ');
  return /* wgsl */ `
struct Params { T: u32, H: u32, KVH: u32, group: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
alias V = ${vec ? 'vec4<f32>' : 'f32'};
@group(0) @binding(1) var<storage, read> q: array<V>;
@group(0) @binding(2) var<storage, read> k: array<V>;
@group(0) @binding(3) var<storage, read> v: array<V>;
@group(0) @binding(4) var<storage, read_write> out: array<V>;

fn dp(a: V, b: V) -> f32 { return ${vec ? 'dot(a, b)' : 'a * b'}; }

const D4 = ${D4}u;
const BQ = ${ATTENTION_BQ}u;
const BK = ${bk}u;
const NEG = -1.0e30;
${shared ? `var<workgroup> ks: array<V, ${bk * D4}>;\nvar<workgroup> vs: array<V, ${bk * D4}>;` : ''}

@compute @workgroup_size(${ATTENTION_BQ})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wid.y;
  let g = h / p.group;
  let i = wid.x * BQ + li;
  let qi = min(i, p.T - 1u);
  let qStride = p.H * D4;
  let kvStride = p.KVH * D4;
  let qBase = qi * qStride + h * D4;

  ${lines((e) => `let q${e} = q[qBase + ${e}u] * p.scale;`, dims, '\n  ')}
  ${lines((e) => `var a${e} = V(0.0);`, dims, '\n  ')}
  var m = NEG;
  var l = 0.0;

${
    shared
      ? `  let kEnd = min(p.T, wid.x * BQ + BQ);      // uniform: one past the last key this group needs
  for (var j0 = 0u; j0 < kEnd; j0 += BK) {
    for (var e = li; e < BK * D4; e += BQ) {
      let j = min(j0 + e / D4, p.T - 1u);
      let src = j * kvStride + g * D4 + e % D4;
      ks[e] = k[src];
      vs[e] = v[src];
    }
    workgroupBarrier();
    if (j0 <= qi) {                          // this row sees at least key j0 of the block`
      : `  for (var j0 = 0u; j0 <= qi; j0 += BK) {
    {
    ${lines((t) => `let kb${t} = min(j0 + ${t}u, p.T - 1u) * kvStride + g * D4;`, keys)}`
  }
      let lim = vec4<u32>(qi - j0);          // keys jb + t of the block with jb + t > lim are masked
    ${lines(
      (b) => `let s${b} = select(vec4<f32>(NEG), vec4<f32>(${[0, 1, 2, 3].map((t) => score(4 * b + t)).join(',\n        ')}), vec4<u32>(${4 * b}u, ${4 * b + 1}u, ${4 * b + 2}u, ${4 * b + 3}u) <= lim);`,
      quads,
    )}
      var bmax = NEG;
    ${lines((b) => `bmax = max(bmax, max(max(s${b}.x, s${b}.y), max(s${b}.z, s${b}.w)));`, quads)}
      let mNew = max(m, bmax);
      let corr = exp(m - mNew);
    ${lines((b) => `let p${b} = exp(s${b} - vec4<f32>(mNew));`, quads)}
      l = l * corr${quads.map((b) => ` + p${b}.x + p${b}.y + p${b}.z + p${b}.w`).join('')};
    ${lines(
      (e) =>
        `a${e} = a${e} * corr${quads
          .map((b) => [0, 1, 2, 3].map((t) => ` + p${b}.${'xyzw'[t]} * ${vAt(4 * b + t, e)}`).join(''))
          .join('')};`,
      dims,
    )}
      m = mNew;
    }
    ${shared ? 'workgroupBarrier();' : ''}
  }
  if (i < p.T) {
    let inv = 1.0 / l;
    let oBase = i * qStride + h * D4;
    ${lines((e) => `out[oBase + ${e}u] = a${e} * inv;`, dims)}
  }
}`;
}

export function attentionSource(headDim: number, maxWorkgroupStorage: number, variant: AttentionVariant): PipelineSource {
  const bk = attentionBlock(headDim, maxWorkgroupStorage);
  return { name: `attention-${variant}`, key: `attention-${variant} d=${headDim} bk=${bk}`, code: attentionWgsl(headDim, bk, variant) };
}

export function dispatchAttention(
  rt: GpuRuntime,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
  out: GPUBuffer,
  s: { T: number; numHeads: number; numKvHeads: number; headDim: number; variant: AttentionVariant },
): void {
  const src = attentionSource(s.headDim, rt.limits.maxComputeWorkgroupStorageSize, s.variant);
  rt.dispatch(
    src.name,
    rt.pipeline(src),
    [{ buffer: q }, { buffer: k }, { buffer: v }, { buffer: out }],
    { u32: [s.T, s.numHeads, s.numKvHeads, s.numHeads / s.numKvHeads], f32: [1 / Math.sqrt(s.headDim)] },
    [Math.ceil(s.T / ATTENTION_BQ), s.numHeads, 1],
  );
}

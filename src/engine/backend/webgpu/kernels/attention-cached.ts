/**
 * Causal grouped-query attention against a key/value cache (generation), flash-style.
 *
 * The T queries are positions P+0 … P+T−1 (P = offset, the number of positions already in
 * the cache); k and v are caches [capacity, KV·d] whose first P+T rows are valid. For query
 * row i, head h (kv head g = ⌊h / (H / KV)⌋), d = head size, c = 1/√d:
 *
 *   o[i, h] = Σ_{j ≤ P+i} softmax_j(c · q[i,h]·k[j,g]) · v[j, g]
 *
 * With P = 0 this is the causal attention of ./attention.ts; the online softmax is the same:
 * keys are visited in blocks of BK with running max m, denominator l and output acc,
 *
 *   m' = max(m, max_j s_j);   l' = l·e^(m−m') + Σ_j e^(s_j−m');   acc' = acc·e^(m−m') + Σ_j e^(s_j−m')·v_j
 *
 * and o = acc / l. A workgroup of BQ invocations handles BQ consecutive query rows of one
 * head; key/value blocks are staged in workgroup memory (2·BK·d floats). Blocks after the
 * workgroup's last visible key (P + its last row) are skipped; within a block, keys
 * j > P+i get score −1e30 so that their weight underflows to exactly 0. Rows past P+T of
 * the cache are never read (loads clamp to row P+T−1), so stale or unwritten cache rows do
 * not matter. During decoding T = 1: one workgroup per head, one active invocation.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';
import { attentionBlock, attentionPreambleWgsl } from './attention';

export const ATTENTION_CACHED_BQ = 64;

export function attentionCachedWgsl(headDim: number, bk: number): string {
  const vec = headDim % 4 === 0;
  const D4 = vec ? headDim / 4 : headDim;
  const kv = (jj: string) => `ks[(${jj}) * D4 + e]`;
  return /* wgsl */ `${attentionPreambleWgsl(headDim, ATTENTION_CACHED_BQ, bk, true)}

@compute @workgroup_size(${ATTENTION_CACHED_BQ})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wid.y;
  let g = h / p.group;
  let i = wid.x * BQ + li;
  let qi = min(i, p.T - 1u);
  let pos = p.offset + qi;                   // absolute position: sees keys 0 … pos
  let lastKey = p.offset + p.T - 1u;
  let qStride = p.H * D4;
  let kvStride = p.KVH * D4;

  var qv: array<V, ${D4}>;
  var acc: array<V, ${D4}>;
  for (var e = 0u; e < D4; e++) {
    qv[e] = q[qi * qStride + h * D4 + e] * p.scale;
    acc[e] = V(0.0);
  }
  var m = NEG;
  var l = 0.0;

  let kEnd = p.offset + min(p.T, wid.x * BQ + BQ);   // uniform: one past the last key this group needs
  for (var j0 = 0u; j0 < kEnd; j0 += BK) {
    for (var e = li; e < BK * D4; e += BQ) {
      let j = min(j0 + e / D4, lastKey);
      let src = j * kvStride + g * D4 + e % D4;
      ks[e] = k[src];
      vs[e] = v[src];
    }
    workgroupBarrier();
    if (j0 <= pos) {
      var sc: array<vec4<f32>, ${bk / 4}>;
      var bmax = NEG;
      for (var jq = 0u; jq < BK / 4u; jq++) {
        let jb = jq * 4u;
        var s = vec4<f32>(0.0);
        for (var e = 0u; e < D4; e++) {
          let qe = qv[e];
          s += vec4<f32>(dp(qe, ${kv('jb')}), dp(qe, ${kv('jb + 1u')}), dp(qe, ${kv('jb + 2u')}), dp(qe, ${kv('jb + 3u')}));
        }
        let jv = vec4<u32>(j0 + jb, j0 + jb + 1u, j0 + jb + 2u, j0 + jb + 3u);
        s = select(vec4<f32>(NEG), s, jv <= vec4<u32>(pos));
        sc[jq] = s;
        bmax = max(bmax, max(max(s.x, s.y), max(s.z, s.w)));
      }
      let mNew = max(m, bmax);
      let corr = exp(m - mNew);
      l *= corr;
      for (var e = 0u; e < D4; e++) { acc[e] *= corr; }
      for (var jq = 0u; jq < BK / 4u; jq++) {
        let jb = jq * 4u;
        let pj = exp(sc[jq] - vec4<f32>(mNew));
        l += pj.x + pj.y + pj.z + pj.w;
        for (var e = 0u; e < D4; e++) {
          acc[e] += pj.x * vs[jb * D4 + e] + pj.y * vs[(jb + 1u) * D4 + e] + pj.z * vs[(jb + 2u) * D4 + e] + pj.w * vs[(jb + 3u) * D4 + e];
        }
      }
      m = mNew;
    }
    workgroupBarrier();
  }
  if (i < p.T) {
    let inv = 1.0 / l;
    for (var e = 0u; e < D4; e++) { out[i * qStride + h * D4 + e] = acc[e] * inv; }
  }
}`;
}

export function attentionCachedSource(headDim: number, maxWorkgroupStorage: number): PipelineSource {
  const bk = attentionBlock(headDim, maxWorkgroupStorage);
  return { name: 'attention-cached', key: `attention-cached d=${headDim} bk=${bk}`, code: attentionCachedWgsl(headDim, bk) };
}

export function dispatchAttentionCached(
  rt: GpuRuntime,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
  out: GPUBuffer,
  s: { T: number; numHeads: number; numKvHeads: number; headDim: number; offset: number },
): void {
  const src = attentionCachedSource(s.headDim, rt.limits.maxComputeWorkgroupStorageSize);
  rt.dispatch(
    'attention-cached',
    rt.pipeline(src),
    [{ buffer: q }, { buffer: k }, { buffer: v }, { buffer: out }],
    { u32: [s.T, s.numHeads, s.numKvHeads, s.numHeads / s.numKvHeads, s.offset], f32: [1 / Math.sqrt(s.headDim)] },
    [Math.ceil(s.T / ATTENTION_CACHED_BQ), s.numHeads, 1],
  );
}

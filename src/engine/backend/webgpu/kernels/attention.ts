/**
 * Causal grouped-query attention, flash-style (online softmax over key blocks), for a whole
 * sequence (prefill, perplexity) and against a key/value cache (generation) alike.
 *
 * The T queries are positions P+0 … P+T−1 (P = offset: 0 for a whole sequence, the number
 * of positions already in the cache when generating); k and v hold at least P+T rows
 * [rows, KV·d], of which the first P+T are read. For query row i and head h (kv head
 * g = ⌊h / (H / KV)⌋), d = head size, c = 1/√d:
 *
 *   o[i, h] = Σ_{j ≤ P+i} softmax_j(c · q[i,h]·k[j,g]) · v[j, g]
 *
 * computed without storing the scores: keys are visited in blocks of BK; with running max
 * m, running denominator l and running output acc (per query row), for a block of scores s_j,
 *
 *   m' = max(m, max_j s_j);   l' = l·e^(m−m') + Σ_j e^(s_j−m');   acc' = acc·e^(m−m') + Σ_j e^(s_j−m')·v_j
 *
 * and finally o = acc / l. Within a block, scores of keys j > P+i are set to −1e30 so that
 * e^(s−m') underflows to exactly 0 (no ±inf arithmetic; every row sees key 0 in its first
 * block, so m is a real score from then on). Loads clamp to row P+T−1, so cache rows past
 * it (stale or unwritten) are never read. Scores are formed four keys at a time as a vec4
 * (one exp per four keys).
 *
 * Variants (how rows are spread over invocations and where key/value blocks come from):
 *   'shared' — one query row per invocation, BQ rows per workgroup; each key/value block
 *              [BK, d] is loaded cooperatively into workgroup memory (two barriers per
 *              block, 2·BK·d floats whatever the sequence length). The backend runs this
 *              variant with the loop-based kernel of ./attention-cached.ts instead: this
 *              unrolled form took minutes to compile on lavapipe for heads of 64 (bench/
 *              attention.ts --plans shared); it stays here for comparison on SwiftShader.
 *   'direct' — one row per invocation, no workgroup memory and no barriers: every
 *              invocation reads the keys and values from the storage buffers and stops at
 *              its own last block. It was SwiftShader's choice for small heads (barriers
 *              cost more than loads there) until 'rows' beat it 4×; kept for comparison.
 *   'rows'   — R consecutive query rows per invocation (register blocking), no workgroup
 *              memory: each key/value vector read from storage serves R rows, so loads per
 *              flop fall R-fold. SwiftShader's JIT turns every storage load into a per-lane
 *              gather, so that is what decides its speed for larger heads.
 *
 * The code is specialised on d (q, k, v are read as vec4 when d % 4 = 0, else as f32), BK
 * and R, and the loops over the head dimension, the rows and the keys of a block are
 * unrolled as the code is generated: q, acc and the scores live in named registers rather
 * than private arrays, which compilers without loop unrolling (SwiftShader's Subzero JIT)
 * keep in memory with indexed loads and stores.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';

/** Query rows per workgroup of the one-row-per-invocation variants. */
export const ATTENTION_BQ = 64;
/** Invocations per workgroup of the 'rows' variant. */
export const ATTENTION_ROWS_WG = 16;

export type AttentionVariant = 'shared' | 'direct' | 'rows';

/** Keys per block for 'shared'/'direct': 32, halved until 2·BK·d floats fit the workgroup storage. */
export function attentionBlock(headDim: number, maxWorkgroupStorage: number): number {
  let bk = 32;
  while (bk > 4 && 2 * bk * headDim * 4 > maxWorkgroupStorage) bk >>= 1;
  if (2 * bk * headDim * 4 > maxWorkgroupStorage) throw new Error(`attention: head size ${headDim} is too large for ${maxWorkgroupStorage} bytes of workgroup storage`);
  return bk;
}

/** The code's shape: variant, keys per block, query rows per invocation ('rows' only). */
export interface AttentionPlan {
  variant: AttentionVariant;
  bk: number;
  rows: number;
}

/**
 * Block sizes of the 'rows' variant for T query rows, measured on SwiftShader with
 * bench/attention.ts (T = 512, 9/3 heads of 64; CPU time of the kernel, and of its first
 * compilation): 16 rows × 4 keys 176 ms (compiled in 19 s), 8 × 4 201 ms (6.8 s), 4 × 4
 * 248 ms (3.1 s), 8 × 8 289 ms, 4 × 8 622 ms; 'shared' 1697 ms (21 s). Compile time grows
 * faster than the registers held (rows × d), so rows × d/4 is capped at 128 (8 rows of 64);
 * fewer rows than T would only repeat the last row (decoding: T = 1, one row).
 */
export function attentionRowsPlan(headDim: number, T = Infinity): { bk: number; rows: number } {
  const d4 = headDim % 4 === 0 ? headDim / 4 : headDim;
  let rows = 16;
  while (rows > 1 && (rows * d4 > 128 || rows / 2 >= T)) rows /= 2;
  return { bk: 4, rows };
}

export function attentionPlan(variant: AttentionVariant, headDim: number, maxWorkgroupStorage: number, T = Infinity): AttentionPlan {
  if (variant === 'rows') return { variant, ...attentionRowsPlan(headDim, T) };
  return { variant, bk: attentionBlock(headDim, maxWorkgroupStorage), rows: 1 };
}

/** Query rows covered by one workgroup. */
export function attentionRowsPerWorkgroup(plan: AttentionPlan): number {
  return plan.variant === 'rows' ? ATTENTION_ROWS_WG * plan.rows : ATTENTION_BQ;
}

/**
 * The variant for an adapter and head size d, by measurement (docs/backends.md#attention, bench/attention.ts):
 * GPUs and lavapipe stage key/value blocks in workgroup memory ('shared'); SwiftShader,
 * whose barriers are slow and whose loads are per-lane gathers, gets 'rows' (10× faster
 * than 'shared' for d = 64, 4× faster than 'direct' for d = 8). Heads too large for the
 * workgroup memory get 'rows' everywhere.
 */
export function attentionKernel(swiftShader: boolean, headDim: number, maxWorkgroupStorage: number): AttentionVariant {
  if (swiftShader || 2 * 4 * headDim * 4 > maxWorkgroupStorage) return 'rows';
  return 'shared';
}

const range = (n: number) => [...Array(n).keys()];

/**
 * WGSL shared by this kernel and the cached one (./attention-cached.ts): the bindings
 * (q, k, v, out as V = vec4 when d % 4 = 0, else f32), dp, the constants D4 (d in units of V),
 * BQ (invocations per workgroup), BK (keys per block), NEG, and with `shared` the
 * workgroup-memory key and value blocks ks, vs.
 */
export function attentionPreambleWgsl(headDim: number, bq: number, bk: number, shared: boolean): string {
  const vec = headDim % 4 === 0;
  const D4 = vec ? headDim / 4 : headDim;
  return /* wgsl */ `
struct Params { T: u32, H: u32, KVH: u32, group: u32, offset: u32, scale: f32 }
@group(0) @binding(0) var<uniform> p: Params;
alias V = ${vec ? 'vec4<f32>' : 'f32'};
@group(0) @binding(1) var<storage, read> q: array<V>;
@group(0) @binding(2) var<storage, read> k: array<V>;
@group(0) @binding(3) var<storage, read> v: array<V>;
@group(0) @binding(4) var<storage, read_write> out: array<V>;

fn dp(a: V, b: V) -> f32 { return ${vec ? 'dot(a, b)' : 'a * b'}; }

const D4 = ${D4}u;
const BQ = ${bq}u;
const BK = ${bk}u;
const NEG = -1.0e30;
${shared ? `var<workgroup> ks: array<V, ${bk * D4}>;\nvar<workgroup> vs: array<V, ${bk * D4}>;` : ''}`;
}

export function attentionWgsl(headDim: number, plan: AttentionPlan): string {
  const { variant, bk, rows: R } = plan;
  if (bk % 4 !== 0 || bk < 4) throw new Error(`attention: key block ${bk} is not a positive multiple of 4`);
  if (variant !== 'rows' && R !== 1) throw new Error(`attention: variant ${variant} handles one row per invocation, not ${R}`);
  const shared = variant === 'shared';
  const vec = headDim % 4 === 0;
  const D4 = vec ? headDim / 4 : headDim; // head size in elements of type V
  const dims = range(D4);
  const quads = range(bk / 4);
  const keys = range(bk);
  const rowIdx = range(R);
  const wg = variant === 'rows' ? ATTENTION_ROWS_WG : ATTENTION_BQ;
  const join = (over: number[], f: (i: number) => string, sep = '\n    ') => over.map(f).join(sep);
  // Names: row r's query q{r}_{e}, output a{r}_{e}, max m{r}, denominator l{r}; scores s{r}_{b}.
  const kAt = (t: number, e: number) => (shared ? `ks[${t * D4 + e}u]` : `k[kb${t} + ${e}u]`);
  const vAt = (t: number, e: number) => (shared ? `vs[${t * D4 + e}u]` : `v[kb${t} + ${e}u]`);

  // One key block for every row of this invocation. With several rows, each key (value)
  // vector is loaded into a let once and used by all rows.
  const blockBody = (): string => {
    const out: string[] = [];
    if (R === 1) {
      // One row: the block is only visited when j0 ≤ pos0, so the limit fits a u32.
      const score = (t: number) => dims.map((e) => `dp(q0_${e}, ${kAt(t, e)})`).join(' + ');
      for (const b of quads) {
        out.push(`let s0_${b} = select(vec4<f32>(NEG), vec4<f32>(${[0, 1, 2, 3].map((t) => score(4 * b + t)).join(',\n        ')}), vec4<u32>(${4 * b}u, ${4 * b + 1}u, ${4 * b + 2}u, ${4 * b + 3}u) <= lim0);`);
      }
      out.push(`var bmax = NEG;`);
      out.push(join(quads, (b) => `bmax = max(bmax, max(max(s0_${b}.x, s0_${b}.y), max(s0_${b}.z, s0_${b}.w)));`));
      out.push(`let mx0 = max(m0, bmax);`);
    } else {
      for (const t of keys) {
        out.push(join(dims, (e) => `let k${t}_${e} = ${kAt(t, e)};`));
        out.push(join(rowIdx, (r) => `let c${r}_${t} = ${dims.map((e) => `dp(q${r}_${e}, k${t}_${e})`).join(' + ')};`));
      }
      for (const r of rowIdx) {
        for (const b of quads) {
          out.push(`let s${r}_${b} = select(vec4<f32>(NEG), vec4<f32>(${[0, 1, 2, 3].map((t) => `c${r}_${4 * b + t}`).join(', ')}), vec4<i32>(${4 * b}, ${4 * b + 1}, ${4 * b + 2}, ${4 * b + 3}) <= lim${r});`);
        }
      }
    }
    for (const r of rowIdx) {
      if (R > 1) out.push(`let mx${r} = max(m${r}, ${quads.map((b) => `max(max(s${r}_${b}.x, s${r}_${b}.y), max(s${r}_${b}.z, s${r}_${b}.w))`).reduce((a, c) => `max(${a}, ${c})`)});`);
      out.push(`let corr${r} = exp(m${r} - mx${r});`);
      out.push(join(quads, (b) => `let p${r}_${b} = exp(s${r}_${b} - vec4<f32>(mx${r}));`));
      out.push(`l${r} = l${r} * corr${r}${quads.map((b) => ` + p${r}_${b}.x + p${r}_${b}.y + p${r}_${b}.z + p${r}_${b}.w`).join('')};`);
      out.push(`m${r} = mx${r};`);
    }
    const pv = (r: number, e: number, val: (t: number) => string) =>
      `a${r}_${e} = a${r}_${e} * corr${r}${quads.map((b) => [0, 1, 2, 3].map((t) => ` + p${r}_${b}.${'xyzw'[t]} * ${val(4 * b + t)}`).join('')).join('')};`;
    if (R === 1) {
      out.push(join(dims, (e) => pv(0, e, (t) => vAt(t, e))));
    } else {
      for (const e of dims) {
        out.push(join(keys, (t) => `let v${e}_${t} = ${vAt(t, e)};`));
        out.push(join(rowIdx, (r) => pv(r, e, (t) => `v${e}_${t}`)));
      }
    }
    return out.join('\n    ');
  };

  // The key-block loop: 'shared' stages each block in workgroup memory (uniform loop bound,
  // barriers), the others read storage directly up to the invocation's own last key.
  const loop = shared
    ? `  let kEnd = p.offset + min(p.T, wid.x * BQ + BQ);   // uniform: one past the last key this workgroup needs
  for (var j0 = 0u; j0 < kEnd; j0 += BK) {
    for (var e = li; e < BK * D4; e += BQ) {
      let src = min(j0 + e / D4, lastKey) * kvStride + g * D4 + e % D4;
      ks[e] = k[src];
      vs[e] = v[src];
    }
    workgroupBarrier();
    if (j0 <= pos0) {                                   // this row sees at least key j0 of the block
    let lim0 = vec4<u32>(pos0 - j0);                // key j0 + t is masked when t > lim
    ${blockBody()}
    }
    workgroupBarrier();
  }`
    : `  let jEnd = select(0u, pos${R - 1} + 1u, live);       // one past the last key any row of this invocation sees
  for (var j0 = 0u; j0 < jEnd; j0 += BK) {
    ${join(keys, (t) => `let kb${t} = min(j0 + ${t}u, lastKey) * kvStride + g * D4;`)}
    ${join(rowIdx, (r) => (R === 1 ? `let lim0 = vec4<u32>(pos0 - j0);` : `let lim${r} = vec4<i32>(i32(pos${r}) - i32(j0));   // may be < 0: the row's keys ended`))}
    ${blockBody()}
  }`;

  return /* wgsl */ `${attentionPreambleWgsl(headDim, wg, bk, shared)}

@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let h = wid.y;
  let g = h / p.group;
  let i0 = (wid.x * BQ + li) * ${R}u;              // first query row of this invocation
  let live = i0 < p.T;                              // invocations past the last row only help load ('shared')
  let lastKey = p.offset + p.T - 1u;
  let qStride = p.H * D4;
  let kvStride = p.KVH * D4;
  ${join(rowIdx, (r) => `let pos${r} = p.offset + min(i0 + ${r}u, p.T - 1u);   // row ${r} sees keys 0 … pos${r}`, '\n  ')}
  ${join(rowIdx, (r) => join(dims, (e) => `let q${r}_${e} = q[(pos${r} - p.offset) * qStride + h * D4 + ${e}u] * p.scale;`, '\n  '), '\n  ')}
  ${join(rowIdx, (r) => join(dims, (e) => `var a${r}_${e} = V(0.0);`, '\n  '), '\n  ')}
  ${join(rowIdx, (r) => `var m${r} = NEG;\n  var l${r} = 0.0;`, '\n  ')}

${loop}
  ${join(
    rowIdx,
    (r) => `if (i0 + ${r}u < p.T) {
    let inv = 1.0 / l${r};
    let oBase = (i0 + ${r}u) * qStride + h * D4;
    ${join(dims, (e) => `out[oBase + ${e}u] = a${r}_${e} * inv;`)}
  }`,
    '\n  ',
  )}
}`;
}

export function attentionSource(headDim: number, plan: AttentionPlan): PipelineSource {
  return { name: `attention-${plan.variant}`, key: `attention-${plan.variant} d=${headDim} bk=${plan.bk} r=${plan.rows}`, code: attentionWgsl(headDim, plan) };
}

/**
 * Dispatches attention of T queries at positions offset … offset+T−1 against k and v
 * (at least offset+T rows each), with the variant's measured block sizes.
 */
export function dispatchAttention(
  rt: GpuRuntime,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
  out: GPUBuffer,
  s: { T: number; numHeads: number; numKvHeads: number; headDim: number; variant: AttentionVariant; offset?: number },
): void {
  dispatchAttentionPlan(rt, q, k, v, out, { ...s, plan: attentionPlan(s.variant, s.headDim, rt.limits.maxComputeWorkgroupStorageSize, s.T) });
}

/** The same with the code's shape given (benchmarks try other block sizes). One grid row per query head. */
export function dispatchAttentionPlan(
  rt: GpuRuntime,
  q: GPUBuffer,
  k: GPUBuffer,
  v: GPUBuffer,
  out: GPUBuffer,
  s: { T: number; numHeads: number; numKvHeads: number; headDim: number; plan: AttentionPlan; offset?: number },
): void {
  const src = attentionSource(s.headDim, s.plan);
  rt.dispatch(
    src.name,
    rt.pipeline(src),
    [{ buffer: q }, { buffer: k }, { buffer: v }, { buffer: out }],
    { u32: [s.T, s.numHeads, s.numKvHeads, s.numHeads / s.numKvHeads, s.offset ?? 0], f32: [1 / Math.sqrt(s.headDim)] },
    [Math.ceil(s.T / attentionRowsPerWorkgroup(s.plan)), s.numHeads, 1],
  );
}

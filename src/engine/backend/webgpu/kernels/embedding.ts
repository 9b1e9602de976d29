/**
 * Embedding gather, for one row-chunk of the table (rows rowStart … rowStart+rows−1):
 *
 *   out[t, j] = table[ids[t] − rowStart, j]   for every t with rowStart ≤ ids[t] < rowStart+rows
 *
 * One invocation per output element (flattened t·dim + j); a table split over several
 * buffers is gathered with one dispatch per chunk, each writing the rows whose id it holds.
 * Ids are range-checked on the host before the dispatch. The table may be stored as f16
 * (a tied LM head shares it with the matmul), converted to f32 on load.
 */
import type { GpuRuntime } from '../runtime';
import { flatKernelStartWgsl } from './flat';

const WG = 64;

const embeddingWgsl = (table: 'f32' | 'f16'): string => /* wgsl */ `${table === 'f16' ? 'enable f16;' : ''}
struct Params { n: u32, dim: u32, rowStart: u32, rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<${table}>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

${flatKernelStartWgsl(WG, 'i', 'p.n')}
  let t = i / p.dim;
  let j = i % p.dim;
  let row = u32(ids[t]) - p.rowStart;   // wraps to a huge value when ids[t] < rowStart
  if (row < p.rows) {
    out[i] = f32(table[row * p.dim + j]);
  }
}`;

export const EMBEDDING = { name: 'embedding', code: embeddingWgsl('f32') };
export const EMBEDDING_F16 = { name: 'embedding-f16', code: embeddingWgsl('f16') };

export function dispatchEmbedding(
  rt: GpuRuntime,
  table: GPUBuffer,
  ids: GPUBuffer,
  out: GPUBuffer,
  d: { tokens: number; dim: number; rowStart: number; rows: number },
  tableF16 = false,
): void {
  const n = d.tokens * d.dim;
  const src = tableF16 ? EMBEDDING_F16 : EMBEDDING;
  rt.dispatch(src.name, rt.pipeline(src), [{ buffer: table }, { buffer: ids }, { buffer: out }], { u32: [n, d.dim, d.rowStart, d.rows] }, rt.grid(Math.ceil(n / WG)));
}

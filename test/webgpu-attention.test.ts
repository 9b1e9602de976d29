/**
 * The causal GQA attention kernel (kernels/attention.ts) against the CPU reference, every
 * variant: 'rows' (several query rows per invocation), 'shared' and 'direct' (one row per
 * invocation); head sizes 4, 6 (scalar loads), 8, 16, 64, 80, 128; odd T across key blocks
 * and workgroups; GQA; and the same kernel at an offset into a key/value cache
 * (generation), including decoding (T = 1) and cache rows past offset+T holding NaN, which
 * must never be read. Budget 1e-5 relative (test/webgpu-kernels.test.ts explains budgets).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import type { WebGpuBackend } from '../src/engine/backend/webgpu';
import { attentionKernel, attentionRowsPlan, attentionWgsl, type AttentionVariant } from '../src/engine/backend/webgpu/kernels/attention';
import { gpuOrSkip, makeBackend, randomArray, relErr } from './support/webgpu';

const gpu = await gpuOrSkip('webgpu-attention');
const cpu = new CpuBackend();
let seed = 100;
const rand = (n: number, scale = 1) => randomArray(n, seed++, scale);

interface Case {
  T: number;
  H: number;
  KV: number;
  d: number;
  /** Positions already in the cache (attentionCached), and spare cache rows after offset+T. */
  offset?: number;
  spare?: number;
}

/** GPU (with the given variant) and CPU results of one case, same inputs. */
async function run(b: WebGpuBackend, variant: AttentionVariant, c: Case): Promise<[Float32Array, Float32Array]> {
  const { T, H, KV, d, offset = 0, spare = 0 } = c;
  const rows = offset + T + spare;
  const q = rand(T * H * d, 2);
  const k = rand(rows * KV * d, 2);
  const v = rand(rows * KV * d);
  // Rows past offset+T are stale cache: NaN there would poison any output that read them.
  k.fill(NaN, (offset + T) * KV * d);
  v.fill(NaN, (offset + T) * KV * d);
  const once = async (be: Backend) => {
    const ts = [be.upload(q, [T, H * d]), be.upload(k, [rows, KV * d]), be.upload(v, [rows, KV * d])];
    const shape = { numHeads: H, numKvHeads: KV, headDim: d };
    const out: Tensor = c.offset === undefined && spare === 0 ? be.attention(ts[0]!, ts[1]!, ts[2]!, shape) : be.attentionCached(ts[0]!, ts[1]!, ts[2]!, shape, offset);
    const r = await be.read(out);
    [out, ...ts].forEach((t) => be.dispose(t));
    return r;
  };
  b.attentionVariant = variant;
  try {
    return [await once(b), await once(cpu)];
  } finally {
    b.attentionVariant = 'auto';
  }
}

describe('attention kernel: variant choice and block sizes', () => {
  it('SwiftShader gets rows, others shared unless the head does not fit workgroup memory', () => {
    expect(attentionKernel(true, 64, 16384)).toBe('rows');
    expect(attentionKernel(false, 64, 16384)).toBe('shared');
    expect(attentionKernel(false, 1024, 16384)).toBe('rows');
  });
  it('rows per invocation: fewer for large heads, never more than needed for T', () => {
    expect(attentionRowsPlan(64)).toEqual({ bk: 4, rows: 8 });
    expect(attentionRowsPlan(8).rows).toBe(16);
    expect(attentionRowsPlan(128).rows).toBe(4);
    expect(attentionRowsPlan(2048).rows).toBe(1);
    expect(attentionRowsPlan(64, 1).rows).toBe(1);
    expect(attentionRowsPlan(8, 5).rows).toBe(8);
    expect(attentionRowsPlan(6, 3).rows).toBe(4);
  });
  it('refuses key blocks that are not a multiple of 4', () => {
    expect(() => attentionWgsl(8, { variant: 'rows', bk: 6, rows: 2 })).toThrow(/multiple of 4/);
  });
});

describe.skipIf(!gpu)('attention kernel against the CPU reference (budget 1e-5)', () => {
  let b: WebGpuBackend;
  beforeAll(async () => {
    b = await makeBackend(gpu!);
  });
  afterAll(() => b?.destroy());

  const check = async (variant: AttentionVariant, cases: Case[]) => {
    for (const c of cases) {
      const [g, r] = await run(b, variant, c);
      expect(relErr(g, r), `${variant}: ${JSON.stringify(c)}`).toBeLessThan(1e-5);
    }
  };

  it('rows: head sizes 4/6/8/16/64/80/128, odd T, GQA, more rows than one workgroup', async () => {
    await check('rows', [
      { T: 1, H: 1, KV: 1, d: 4 },
      { T: 37, H: 4, KV: 2, d: 4 },
      { T: 19, H: 3, KV: 1, d: 6 },
      { T: 301, H: 2, KV: 1, d: 8 },
      { T: 33, H: 4, KV: 4, d: 16 },
      { T: 45, H: 3, KV: 1, d: 64 },
      // Few rows for the largest heads: the plan then unrolls fewer rows per invocation,
      // which keeps SwiftShader's compile time (seconds per kernel) within budget.
      { T: 3, H: 2, KV: 1, d: 80 },
      { T: 2, H: 2, KV: 2, d: 128 },
    ]);
  });

  it('rows: a 2048-token sequence (online softmax, no T×T scores)', async () => {
    await check('rows', [{ T: 2048, H: 2, KV: 1, d: 8 }]);
  });

  // One row per invocation: small heads only (test/webgpu-kernels.test.ts has more), since
  // SwiftShader compiles these fully unrolled kernels slowly for large heads (21 CPU-s at
  // d = 64) and crashes on 'shared' at d = 128.
  it('shared and direct: odd T, GQA, scalar and vec4 heads', async () => {
    const cases: Case[] = [
      { T: 67, H: 3, KV: 1, d: 6 },
      { T: 70, H: 4, KV: 2, d: 8 },
    ];
    await check('shared', cases);
    await check('direct', cases);
  });

  it('at an offset into a cache (generation): decode, prefill, stale rows never read, every variant', async () => {
    const cases: Case[] = [
      { T: 5, H: 4, KV: 2, d: 8, offset: 0, spare: 3 },
      { T: 6, H: 2, KV: 1, d: 6, offset: 33, spare: 1 },
      { T: 1, H: 2, KV: 2, d: 8, offset: 70, spare: 9 },
    ];
    for (const variant of ['rows', 'shared', 'direct'] as const) await check(variant, cases);
    await check('rows', [{ T: 1, H: 3, KV: 1, d: 64, offset: 40, spare: 7 }]);
  });
});

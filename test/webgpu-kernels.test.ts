/**
 * Every WebGPU kernel against the CPU reference on random inputs, several shapes each
 * (odd sizes, one row, sequences longer than a block), plus row-chunked weights, the
 * buffer pool, and error reporting.
 *
 * Error budgets, all as relErr = max|gpu − cpu| / max|cpu| (see test/support/webgpu.ts).
 * The CPU sums in float64, the GPU in float32, so budgets are a few float32 ulps scaled by
 * the length of the sums involved:
 *   embedding 0 (a copy) · add 1e-7 (one rounding) · rope, swiglu 1e-6 · rmsnorm 2e-6
 *   matmul 1e-5 (K ≤ 1000) · attention 1e-5 · nll 1e-5 · channel statistics 1e-5
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import type { MatmulChoice, WebGpuBackend } from '../src/engine/backend/webgpu';
import { sizeClass } from '../src/engine/backend/webgpu/pool';
import { WebGpuTensor } from '../src/engine/backend/webgpu/tensor';
import { gpuOrSkip, makeBackend, randomArray, relErr } from './support/webgpu';

const gpu = await gpuOrSkip('webgpu-kernels');
const cpu = new CpuBackend();

/** Largest error seen per kernel, printed at the end. */
const worst = new Map<string, number>();
function note(kernel: string, e: number): number {
  worst.set(kernel, Math.max(worst.get(kernel) ?? 0, e));
  return e;
}

let seed = 1;
const rand = (n: number, scale = 1) => randomArray(n, seed++, scale);
const randIds = (n: number, vocab: number) => Int32Array.from(rand(n), (u) => Math.min(vocab - 1, Math.floor(((u + 1) / 2) * vocab)));

/** Runs `op` on both backends with the same host inputs; returns [gpu, cpu] results. */
async function both(
  g: Backend,
  inputs: { data: Float32Array; shape: number[] }[],
  op: (b: Backend, t: Tensor[]) => Tensor,
  ids: Int32Array[] = [],
): Promise<[Float32Array, Float32Array]> {
  const run = async (b: Backend) => {
    const ts = [...inputs.map((i) => b.upload(i.data, i.shape)), ...ids.map((i) => b.uploadIds(i))];
    const out = op(b, ts);
    const r = await b.read(out);
    b.dispose(out);
    ts.forEach((t) => b.dispose(t));
    return r;
  };
  return [await run(g), await run(cpu)];
}

describe.skipIf(!gpu)('WebGPU backend (kernels vs CPU reference)', () => {
  let b: WebGpuBackend;
  beforeAll(async () => {
    b = await makeBackend(gpu!);
  });
  afterAll(() => {
    b?.destroy();
    console.info(`[webgpu] largest relative error per kernel: ${[...worst].map(([k, e]) => `${k} ${e.toExponential(1)}`).join(', ')}`);
  });

  it('reports the adapter and requests its maximal limits', () => {
    expect(b.info.name).toBe('webgpu');
    expect(b.info.device.length).toBeGreaterThan(3);
    const r = b.adapter;
    console.info(`[webgpu] adapter: ${b.info.device}; f16 ${r.features.shaderF16}, subgroups ${r.features.subgroups}, timestamps ${r.features.timestampQuery}; limits ${JSON.stringify(r.limits)}`);
    expect(typeof r.isFallbackAdapter).toBe('boolean');
    expect(r.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(r.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    expect(b.runtime.device.limits.maxStorageBufferBindingSize).toBe(r.limits.maxStorageBufferBindingSize);
  });

  describe('matmul y = x·Wᵀ (+ bias), budget 1e-5', () => {
    // [T, K (in), M (out)]: one row, odd K (not a multiple of 4), T past a 64-row tile, …
    const shapes: [number, number, number][] = [
      [1, 1, 1],
      [1, 64, 17],
      [3, 5, 7],
      [2, 172, 64],
      [7, 3, 1],
      [33, 171, 130],
      [64, 64, 64],
      [65, 172, 64],
      [513, 64, 172],
      [100, 1000, 9],
    ];
    const choices: MatmulChoice[] = ['auto', 'blocked', 'wide', 'tiled', 'simple'];
    for (const choice of choices) {
      it(`${choice} kernel`, async () => {
        b.matmulChoice = choice;
        try {
          for (const [T, K, M] of shapes) {
            for (const withBias of [false, true]) {
              const inputs = [
                { data: rand(T * K), shape: [T, K] },
                { data: rand(M * K), shape: [M, K] },
                { data: rand(M), shape: [M] },
              ];
              const [g, c] = await both(b, inputs, (be, t) => be.matmul(t[0]!, t[1]!, withBias ? t[2] : null));
              const e = note(`matmul ${choice}`, relErr(g, c));
              expect(e, `${choice} ${b.matmulKernelFor(T, K)} T=${T} K=${K} M=${M} bias=${withBias}`).toBeLessThan(1e-5);
            }
          }
        } finally {
          b.matmulChoice = 'auto';
        }
      });
    }

    it('picks the kernel by shape', () => {
      expect(b.matmulKernelFor(1, 64)).toBe('matmul-simple');
      expect(b.matmulKernelFor(512, 171)).toBe('matmul-blocked-scalar');
      const swiftShader = /swiftshader/i.test(b.info.device);
      expect(b.matmulKernelFor(512, 64)).toBe(swiftShader ? 'matmul-wide' : b.adapter.isFallbackAdapter ? 'matmul-blocked-vec4' : 'matmul-tiled');
      expect(b.matmulKernelFor(8, 64)).toBe(b.adapter.isFallbackAdapter ? 'matmul-blocked-vec4' : 'matmul-tiled');
    });

    it('rejects mismatched shapes like the CPU', () => {
      const x = b.upload(rand(6), [2, 3]);
      const w = b.upload(rand(8), [2, 4]);
      expect(() => b.matmul(x, w)).toThrow('matmul: x has 3 columns, weight is [2, 4]');
      b.dispose(x);
      b.dispose(w);
    });
  });

  it('embedding gathers rows exactly (budget 0) and range-checks ids', async () => {
    for (const [vocab, dim, T] of [[37, 5, 1], [37, 5, 513], [512, 64, 3], [3, 1, 7]] as const) {
      const ids = randIds(T, vocab);
      ids[0] = vocab - 1;
      const [g, c] = await both(b, [{ data: rand(vocab * dim), shape: [vocab, dim] }], (be, t) => be.embedding(t[0]!, t[1]!), [ids]);
      expect(note('embedding', relErr(g, c)), `vocab=${vocab} dim=${dim} T=${T}`).toBe(0);
    }
    const table = b.upload(rand(20), [10, 2]);
    const bad = b.uploadIds(Int32Array.from([1, 10]));
    expect(() => b.embedding(table, bad)).toThrow(RangeError);
    b.dispose(table);
    b.dispose(bad);
  });

  it('rmsnorm (budget 2e-6)', async () => {
    for (const [rows, d] of [[1, 1], [3, 3], [513, 64], [5, 172], [4, 1000], [3, 4096]] as const) {
      const [g, c] = await both(b, [{ data: rand(rows * d, 3), shape: [rows, d] }, { data: rand(d), shape: [d] }], (be, t) => be.rmsnorm(t[0]!, t[1]!, 1e-5));
      expect(note('rmsnorm', relErr(g, c)), `rows=${rows} d=${d}`).toBeLessThan(2e-6);
    }
  });

  it('rope, rotate_half layout (budget 1e-6)', async () => {
    for (const [T, heads, hd] of [[1, 1, 2], [3, 3, 6], [513, 8, 8], [17, 4, 64]] as const) {
      const angles = rand((T * hd) / 2, 10);
      const cos = Float32Array.from(angles, Math.cos);
      const sin = Float32Array.from(angles, Math.sin);
      const [g, c] = await both(
        b,
        [{ data: rand(T * heads * hd), shape: [T, heads * hd] }, { data: cos, shape: [T, hd / 2] }, { data: sin, shape: [T, hd / 2] }],
        (be, t) => be.rope(t[0]!, t[1]!, t[2]!, heads, hd),
      );
      expect(note('rope', relErr(g, c)), `T=${T} heads=${heads} d=${hd}`).toBeLessThan(1e-6);
    }
  });

  it('causal GQA attention, flash-style, both variants (budget 1e-5)', async () => {
    // [T, heads, kvHeads, headDim]: vec4 and scalar head sizes, T across 32-key and 64-query blocks
    const cases: [number, number, number, number][] = [
      [1, 1, 1, 8],
      [3, 2, 1, 6],
      [65, 3, 1, 6],
      [513, 8, 4, 8],
      [100, 4, 2, 16],
      [70, 2, 2, 12],
      [2048, 2, 1, 8],
    ];
    const auto = new Map(cases.map(([, , , d]) => [d, b.attentionKernelFor(d)]));
    for (const variant of ['shared', 'direct'] as const) {
      // The long sequence only for the variant this adapter uses (each case is slow on a software adapter).
      const run = cases.filter(([T, , , d]) => T < 2048 || variant === auto.get(d));
      b.attentionVariant = variant;
      for (const [T, H, KV, d] of run) {
        const [g, c] = await both(
          b,
          [
            { data: rand(T * H * d, 2), shape: [T, H * d] },
            { data: rand(T * KV * d, 2), shape: [T, KV * d] },
            { data: rand(T * KV * d), shape: [T, KV * d] },
          ],
          (be, t) => be.attention(t[0]!, t[1]!, t[2]!, { numHeads: H, numKvHeads: KV, headDim: d }),
        );
        expect(note('attention', relErr(g, c)), `${variant}: T=${T} H=${H} KV=${KV} d=${d}`).toBeLessThan(1e-5);
      }
    }
    b.attentionVariant = 'auto';
  });

  it('swiglu (budget 1e-6, stable for large |gate|)', async () => {
    for (const n of [1, 3, 172 * 513]) {
      const [g, c] = await both(b, [{ data: rand(n, 30), shape: [n] }, { data: rand(n), shape: [n] }], (be, t) => be.swiglu(t[0]!, t[1]!));
      expect(note('swiglu', relErr(g, c)), `n=${n}`).toBeLessThan(1e-6);
    }
  });

  it('add (budget 1e-7)', async () => {
    for (const n of [1, 3, 64 * 513]) {
      const [g, c] = await both(b, [{ data: rand(n), shape: [n] }, { data: rand(n), shape: [n] }], (be, t) => be.add(t[0]!, t[1]!));
      expect(note('add', relErr(g, c)), `n=${n}`).toBeLessThan(1e-7);
    }
    const a = b.upload(rand(3), [3]);
    const c = b.upload(rand(4), [4]);
    expect(() => b.add(a, c)).toThrow('add: shapes differ');
    b.dispose(a);
    b.dispose(c);
  });

  it('nll: log-softmax + target gather (budget 1e-5)', async () => {
    for (const [rows, V, scale] of [[1, 1, 1], [3, 7, 1], [511, 512, 10], [4, 1000, 50], [2, 32000, 20]] as const) {
      const [g, c] = await both(b, [{ data: rand(rows * V, scale), shape: [rows, V] }], (be, t) => be.nll(t[0]!, t[1]!), [randIds(rows, V)]);
      expect(note('nll', relErr(g, c)), `rows=${rows} V=${V}`).toBeLessThan(1e-5);
      expect(g.every(Number.isFinite)).toBe(true);
    }
  });

  it('channel statistics Σx, Σx², count per input channel (budget 1e-5)', async () => {
    const T = 513;
    const C = 172;
    const x1 = rand(T * C, 2);
    const x2 = rand(7 * C, 2);
    const ref = new Float64Array(3 * C);
    for (const [x, rows] of [[x1, T], [x2, 7]] as const) {
      for (let t = 0; t < rows; t++) {
        for (let c = 0; c < C; c++) {
          const v = x[t * C + c]!;
          ref[c] += v;
          ref[C + c] += v * v;
        }
      }
      for (let c = 0; c < C; c++) ref[2 * C + c] += rows;
    }
    const a = b.upload(x1, [T, C]);
    const s = b.channelStats(a);
    const c2 = b.upload(x2, [7, C]);
    expect(b.channelStats(c2, s)).toBe(s);
    const got = await b.read(s);
    expect(note('channel-stats', relErr(got.subarray(0, C), ref.subarray(0, C)))).toBeLessThan(1e-5);
    expect(note('channel-stats', relErr(got.subarray(C, 2 * C), ref.subarray(C, 2 * C)))).toBeLessThan(1e-5);
    expect([...got.subarray(2 * C)]).toEqual(new Array(C).fill(T + 7));
    [a, s, c2].forEach((t) => b.dispose(t));
  });

  it('round-trips uploads and ids', async () => {
    const x = rand(1000);
    const t = b.upload(x, [10, 100]);
    expect(await b.read(t)).toEqual(x);
    const ids = b.uploadIds(Int32Array.from([0, 5, -1, 70000]));
    expect([...(await b.read(ids))]).toEqual([0, 5, -1, 70000]);
    b.dispose(t);
    b.dispose(ids);
    expect(() => b.add(t, t)).toThrow(/disposed/);
  });
});

describe.skipIf(!gpu)('WebGPU tensors split over several bindings', () => {
  let small: WebGpuBackend;
  beforeAll(async () => {
    small = await makeBackend(gpu!, { maxBindingBytes: 256 });
  });
  afterAll(() => small?.destroy());

  it('matmul and embedding give the same results with W split by rows', async () => {
    for (const choice of ['auto', 'simple', 'tiled', 'wide'] as MatmulChoice[]) {
      small.matmulChoice = choice;
      for (const [T, K, M] of [[9, 8, 50], [65, 12, 70], [2, 64, 9], [5, 13, 33], [130, 16, 20]] as const) {
        const inputs = [
          { data: rand(T * K), shape: [T, K] },
          { data: rand(M * K), shape: [M, K] },
          { data: rand(M), shape: [M] },
        ];
        const [g, c] = await both(small, inputs, (be, t) => {
          if (be === small) expect((t[1] as WebGpuTensor).chunks.length).toBeGreaterThan(1);
          return be.matmul(t[0]!, t[1]!, t[2]);
        });
        expect(relErr(g, c), `${choice} T=${T} K=${K} M=${M}`).toBeLessThan(1e-5);
      }
    }
    small.matmulChoice = 'auto';
    const ids = randIds(40, 50);
    const [g, c] = await both(small, [{ data: rand(50 * 12), shape: [50, 12] }], (be, t) => be.embedding(t[0]!, t[1]!), [ids]);
    expect(relErr(g, c)).toBe(0);
  });

  it('other kernels read split tensors through a gathered copy', async () => {
    const T = 40;
    const angles = rand(T * 4, 5);
    const [g, c] = await both(
      small,
      [
        { data: rand(T * 16), shape: [T, 16] },
        { data: Float32Array.from(angles, Math.cos), shape: [T, 4] },
        { data: Float32Array.from(angles, Math.sin), shape: [T, 4] },
      ],
      (be, t) => be.rope(t[0]!, t[1]!, t[2]!, 2, 8),
    );
    expect(relErr(g, c)).toBeLessThan(1e-6);
  });

  it('refuses a row that cannot be bound', async () => {
    const big = await makeBackend(gpu!, { maxBindingBytes: 64 });
    try {
      // One row of 100 floats (400 bytes) is over the forced 64-byte limit but within the
      // device's, so it is kept as one row per chunk.
      const w = big.upload(rand(300), [3, 100]);
      expect((w as WebGpuTensor).chunks.length).toBe(3);
    } finally {
      big.destroy();
    }
  });
});

describe('WebGPU buffer pool size classes', () => {
  it('rounds up to 256 bytes, and by at most 12.5% above 2 KiB', () => {
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(256)).toBe(256);
    expect(sizeClass(257)).toBe(512);
    for (const n of [2049, 4097, 123457, 10_000_000, 2 ** 30 - 1]) {
      const s = sizeClass(n);
      expect(s).toBeGreaterThanOrEqual(n);
      expect(s).toBeLessThanOrEqual(n * 1.125);
      expect(s % 256).toBe(0);
    }
  });
});

describe.skipIf(!gpu)('WebGPU buffer pool', () => {
  it('counts bytes in use and reuses freed buffers', async () => {
    const b = await makeBackend(gpu!);
    try {
      expect(b.memory().bytesInUse).toBe(0);
      const a = b.upload(rand(1000), [1000]);
      const inUse = b.memory().bytesInUse;
      expect(inUse).toBe(sizeClass(4000));
      const s = b.add(a, a);
      expect(b.memory().bytesInUse).toBe(2 * inUse);
      b.dispose(s);
      const created = b.memory().created;
      const s2 = b.add(a, a);
      expect(b.memory().created).toBe(created); // served from the pool
      expect(b.memory().reused).toBeGreaterThan(0);
      b.dispose(s2);
      b.dispose(a);
      b.dispose(a); // a second dispose is ignored
      expect(b.memory().bytesInUse).toBe(0);
      expect(b.memory().peakBytes).toBe(2 * inUse);
      expect(b.memory().pooledBytes).toBe(2 * inUse);
      b.trim();
      expect(b.memory().pooledBytes).toBe(0);
    } finally {
      b.destroy();
    }
  });
});

describe.skipIf(!gpu)('WebGPU errors', () => {
  it('names the kernel whose shader fails to compile', async () => {
    const b = await makeBackend(gpu!);
    try {
      await expect(b.runtime.compile([{ name: 'broken-kernel', code: '@compute @workgroup_size(1) fn main( {' }])).rejects.toThrow(/kernel "broken-kernel" failed to compile/);
      // Pipelines made at first use report asynchronously: the next sync/read throws, and so does every later call.
      b.runtime.pipeline({ name: 'bad-types', code: '@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }' });
      await expect(b.sync()).rejects.toThrow(/kernel "bad-types"/);
      expect(() => b.upload(new Float32Array(4), [4])).toThrow(/kernel "bad-types"/);
    } finally {
      b.destroy();
    }
  });

  it('throws "WebGPU device lost" after the device is lost', async () => {
    const b = await makeBackend(gpu!);
    const x = b.upload(rand(4), [4]);
    b.runtime.device.destroy();
    await b.runtime.device.lost;
    expect(() => b.add(x, x)).toThrow(/^WebGPU device lost: .* \(in add\)$/);
    await expect(b.read(x)).rejects.toThrow(/WebGPU device lost/);
    b.destroy();
    expect(() => b.upload(new Float32Array(1), [1])).toThrow(/used after destroy/);
  });

  it('explains a missing GPU or adapter', async () => {
    const { createWebGpuBackend } = await import('../src/engine/backend/webgpu');
    await expect(createWebGpuBackend(undefined)).rejects.toThrow(/WebGPU is not available/);
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    await expect(createWebGpuBackend(noAdapter)).rejects.toThrow(/no adapter available/);
  });
});

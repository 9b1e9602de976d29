/**
 * The WebAssembly SIMD backend (src/engine/backend/wasm/) against the CPU reference: every
 * Backend op on random odd shapes (edges of the 4×2 register block and of the k mod 4
 * tail), the packed-integer matmul against the reference's dequantized weight, perplexity
 * of the bundled model, its heap, its selection in the CLI and the worker, and that the
 * embedded binary is the compiled kernel source.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend, Tensor } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { BackendHolder, selectBackend } from '../src/engine/backend/select';
import { wasmSimdUnavailable } from '../src/engine/backend/wasm/kernels';
import { createWasmBackend, WASM_BACKEND_DEVICE, type WasmBackend } from '../src/engine/backend/wasm/wasm-backend';
import { WasmHeap } from '../src/engine/backend/wasm/wasm-heap';
import { tokenStream } from '../src/engine/data';
import { StudioError } from '../src/engine/errors';
import { evaluatePerplexity } from '../src/engine/eval/perplexity';
import { generate } from '../src/engine/generate';
import { checkMemory, estimateMemory } from '../src/engine/hub/memory';
import { shapeConfig } from '../src/engine/model/random-model';
import { LlamaModel } from '../src/engine/model/llama';
import type { LoadedModel } from '../src/engine/model/load';
import { dequantize, packLinear, type PackedLinear } from '../src/engine/quant/pack';
import { quantizeLinears } from '../src/engine/quant/quantized-linear';
import { rtnQuantize } from '../src/engine/quant/rtn';
import { seededRandom } from '../src/engine/random';
import { parseExperimentRecord } from '../src/engine/record';
import { bundledModel } from './support/bundled';
import { runCli } from './support/cli';
import { REPO_ROOT } from './support/paths';
import { loadBundled, servedEngineApi } from './support/served-engine';

const rand = seededRandom(20261128);
const randn = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

/** max |a − b| / max |a|: the relative error against the reference `a`. */
function relErr(a: Float32Array, b: Float32Array): number {
  expect(b.length).toBe(a.length);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(a[i]!));
  }
  return m === 0 ? d : d / m;
}

let cpu: CpuBackend;
let wasm: WasmBackend;

beforeAll(async () => {
  cpu = new CpuBackend();
  wasm = await createWasmBackend();
});

/** Runs `op` on both backends with the same host inputs; returns both outputs. */
async function both(inputs: { data: Float32Array; shape: number[] }[], op: (b: Backend, t: Tensor[]) => Tensor): Promise<[Float32Array, Float32Array]> {
  const run = async (b: Backend) => {
    const ts = inputs.map((i) => b.upload(i.data, i.shape));
    const out = op(b, ts);
    const r = await b.read(out);
    ts.forEach((t) => b.dispose(t));
    b.dispose(out);
    return r;
  };
  return [await run(cpu), await run(wasm)];
}

const LIMIT = 1e-4;

describe('wasm backend ops against the CPU reference', () => {
  it('has WebAssembly SIMD here', () => {
    expect(wasmSimdUnavailable()).toBeNull();
    expect(wasm.info).toEqual({ name: 'wasm', device: WASM_BACKEND_DEVICE });
  });

  it('matmul x·Wᵀ (+ bias) on odd shapes: every edge of the 4×2 block and the k mod 4 tail', async () => {
    let worst = 0;
    // T: 1 (decoding), < 4, 4k, 4k+3; N: odd, even, < 4; K: 1, < 4, 4k, 4k+1…
    for (const [T, K, N] of [[1, 1, 1], [1, 5, 3], [3, 7, 5], [4, 8, 2], [5, 13, 9], [7, 64, 11], [9, 33, 4], [13, 130, 17], [1, 96, 7], [16, 3, 6]] as const) {
      for (const withBias of [false, true]) {
        const ins = [{ data: randn(T * K), shape: [T, K] }, { data: randn(N * K), shape: [N, K] }, ...(withBias ? [{ data: randn(N), shape: [N] }] : [])];
        const [a, b] = await both(ins, (bk, t) => bk.matmul(t[0]!, t[1]!, t[2] ?? null));
        worst = Math.max(worst, relErr(a, b));
      }
    }
    console.info(`[wasm-backend] matmul max rel err ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(LIMIT);
  });

  it('larger matmuls crossing the x-row blocks (256 KiB of x: 16 rows at K = 4000, the minimum 4 at K = 20000)', async () => {
    for (const [T, K, N] of [[37, 4000, 5], [11, 20000, 3]] as const) {
      const [a, b] = await both([{ data: randn(T * K), shape: [T, K] }, { data: randn(N * K), shape: [N, K] }], (bk, t) => bk.matmul(t[0]!, t[1]!));
      expect(relErr(a, b), `${T}×${K}×${N}`).toBeLessThan(LIMIT);
    }
  });

  it('swiglu over the range where its exponential saturates', async () => {
    const g = { data: Float32Array.from({ length: 203 }, (_, i) => (i - 101) * 1.1), shape: [7, 29] };
    const u = { data: randn(203), shape: [7, 29] };
    const [a, b] = await both([g, u], (bk, t) => bk.swiglu(t[0]!, t[1]!));
    expect(relErr(a, b)).toBeLessThan(LIMIT);
  });

  it('rmsnorm, rope, swiglu, add', async () => {
    const [T, H, d] = [5, 3, 6];
    const x = { data: randn(T * H * d, 3), shape: [T, H * d] };
    const y = { data: randn(T * H * d), shape: [T, H * d] };
    const w = { data: randn(H * d), shape: [H * d] };
    const cos = { data: randn(T * (d / 2)), shape: [T, d / 2] };
    const sin = { data: randn(T * (d / 2)), shape: [T, d / 2] };
    const checks: [string, Float32Array, Float32Array][] = [
      ['rmsnorm', ...(await both([x, w], (b, t) => b.rmsnorm(t[0]!, t[1]!, 1e-5)))],
      ['rope', ...(await both([x, cos, sin], (b, t) => b.rope(t[0]!, t[1]!, t[2]!, H, d)))],
      ['swiglu', ...(await both([x, y], (b, t) => b.swiglu(t[0]!, t[1]!)))],
      ['add', ...(await both([x, y], (b, t) => b.add(t[0]!, t[1]!)))],
    ];
    for (const [name, a, b] of checks) expect(relErr(a, b), name).toBeLessThan(LIMIT);
  });

  it('embedding and nll (ids from uploadIds), and their range checks', async () => {
    const [V, D, T] = [11, 7, 6];
    const ids = Int32Array.from([3, 0, 10, 3, 5, 9]);
    const table = randn(V * D);
    const logits = randn(T * V, 4);
    const emb = async (b: Backend) => b.read(b.embedding(b.upload(table, [V, D]), b.uploadIds(ids)));
    expect(relErr(await emb(cpu), await emb(wasm))).toBe(0);
    const nll = async (b: Backend) => b.read(b.nll(b.upload(logits, [T, V]), b.uploadIds(ids)));
    expect(relErr(await nll(cpu), await nll(wasm))).toBeLessThan(LIMIT);
    expect(() => wasm.embedding(wasm.upload(table, [V, D]), wasm.uploadIds(Int32Array.of(11)))).toThrow(/outside the vocabulary/);
    expect(() => wasm.nll(wasm.upload(logits, [T, V]), wasm.uploadIds(Int32Array.of(1, 2)))).toThrow(/6 rows of logits, 2 targets/);
  });

  it('causal GQA attention: head sizes 8, 64, 12, 16 (4-key blocks and their tails) and 6, 5 (scalar path); wide score ranges', async () => {
    for (const [T, H, KVH, d, qScale] of [[7, 4, 2, 8, 2], [9, 3, 3, 6, 2], [5, 6, 1, 5, 2], [1, 2, 1, 4, 2], [6, 2, 1, 64, 1], [11, 3, 1, 12, 2], [10, 2, 2, 16, 40]] as const) {
      // qScale 40 makes score gaps beyond 87, where exp underflows to 0.
      const q = { data: randn(T * H * d, qScale), shape: [T, H * d] };
      const k = { data: randn(T * KVH * d, 2), shape: [T, KVH * d] };
      const v = { data: randn(T * KVH * d), shape: [T, KVH * d] };
      const [a, b] = await both([q, k, v], (bk, t) => bk.attention(t[0]!, t[1]!, t[2]!, { numHeads: H, numKvHeads: KVH, headDim: d }));
      expect(relErr(a, b), `T${T} H${H} KV${KVH} d${d} q×${qScale}`).toBeLessThan(LIMIT);
    }
  });

  it('attention against a KV cache at an offset, filled by writeRows', async () => {
    const [cap, T, off, H, KVH, d] = [12, 3, 5, 4, 2, 8];
    const kRows = randn((off + T) * KVH * d);
    const vRows = randn((off + T) * KVH * d);
    const q = randn(T * H * d);
    const run = async (b: Backend) => {
      const kc = b.upload(new Float32Array(cap * KVH * d), [cap, KVH * d]);
      const vc = b.upload(new Float32Array(cap * KVH * d), [cap, KVH * d]);
      b.writeRows(kc, b.upload(kRows.subarray(0, off * KVH * d), [off, KVH * d]), 0);
      b.writeRows(vc, b.upload(vRows.subarray(0, off * KVH * d), [off, KVH * d]), 0);
      b.writeRows(kc, b.upload(kRows.subarray(off * KVH * d), [T, KVH * d]), off);
      b.writeRows(vc, b.upload(vRows.subarray(off * KVH * d), [T, KVH * d]), off);
      return b.read(b.attentionCached(b.upload(q, [T, H * d]), kc, vc, { numHeads: H, numKvHeads: KVH, headDim: d }, off));
    };
    expect(relErr(await run(cpu), await run(wasm))).toBeLessThan(LIMIT);
    const kc = wasm.upload(new Float32Array(4 * KVH * d), [4, KVH * d]);
    expect(() => wasm.writeRows(kc, wasm.upload(kRows.subarray(0, 2 * KVH * d), [2, KVH * d]), 3)).toThrow(/does not fit rows 3/);
    expect(() => wasm.attentionCached(wasm.upload(q, [T, H * d]), kc, kc, { numHeads: H, numKvHeads: KVH, headDim: d }, 2)).toThrow(/cannot hold 3 queries at offset 2/);
  });

  it('refuses tensors of another backend and tensors used after dispose', () => {
    const mine = wasm.upload(Float32Array.of(1, 2), [1, 2]);
    expect(() => wasm.add(mine, cpu.upload(Float32Array.of(1, 2), [1, 2]))).toThrow(/another backend/);
    wasm.dispose(mine);
    expect(() => wasm.add(mine, mine)).toThrow(/after dispose/);
    expect(() => wasm.matmul(wasm.upload(randn(6), [2, 3]), wasm.upload(randn(8), [2, 4]))).toThrow(/x has 3 columns, weight is \[2, 4\]/);
  });
});

describe('packed integer matmul (MatMulNBits layout)', () => {
  /** A random packed linear: codes, scales and the chosen kind of zero points. */
  function randomPacked(rows: number, cols: number, bits: number, blockSize: number, zeros: 'int' | 'float' | 'default'): PackedLinear {
    const kBlocks = Math.ceil(cols / blockSize);
    const maxq = (1 << bits) - 1;
    const codes = Uint8Array.from({ length: rows * cols }, () => Math.floor(rand() * (maxq + 1)));
    const scales = Float32Array.from({ length: rows * kBlocks }, () => 0.01 + rand() * 0.1);
    const z = zeros === 'int' ? Uint8Array.from({ length: rows * kBlocks }, () => Math.floor(rand() * (maxq + 1))) : zeros === 'float' ? Float32Array.from({ length: rows * kBlocks }, () => rand() * maxq) : null;
    return packLinear({ rows, cols, bits, blockSize, codes, scales, zeros: z });
  }

  it('equals the plain matmul on the reference dequantization, bits 2–8, short last blocks, all zero-point kinds', async () => {
    let worst = 0;
    const cases: [number, number, number, number, number, 'int' | 'float' | 'default'][] = [
      // [T, rows, cols, bits, blockSize, zeros]
      [5, 9, 70, 4, 32, 'int'], // 4-bit fast path, short last block (70 = 2·32 + 6)
      [1, 7, 64, 4, 32, 'default'],
      [6, 10, 45, 4, 16, 'float'], // odd short block (45 = 2·16 + 13)
      [3, 5, 37, 3, 8, 'int'], // codes crossing byte boundaries
      [4, 6, 50, 2, 16, 'default'],
      [7, 3, 33, 5, 32, 'float'],
      [2, 4, 29, 6, 29, 'int'], // one block per row
      [9, 11, 40, 7, 8, 'int'],
      [5, 8, 24, 8, 8, 'float'], // 8-bit fast path
      [8, 300, 20, 4, 32, 'int'], // more rows than one dequantized panel (K = 20: 818 rows)
    ];
    for (const [T, rows, cols, bits, bs, zk] of cases) {
      const p = randomPacked(rows, cols, bits, bs, zk);
      const x = randn(T * cols);
      const bias = randn(rows);
      const ref = await cpu.read(cpu.matmul(cpu.upload(x, [T, cols]), cpu.upload(dequantize(p), [rows, cols]), cpu.upload(bias, [rows])));
      const w = wasm.uploadQuantized(p);
      const out = await wasm.read(wasm.matmulQuantized(wasm.upload(x, [T, cols]), w, wasm.upload(bias, [rows])));
      const e = relErr(ref, out);
      expect(e, `T${T} [${rows}, ${cols}] ${bits}-bit block ${bs} ${zk} zeros`).toBeLessThan(LIMIT);
      worst = Math.max(worst, e);
      wasm.dispose(w);
    }
    console.info(`[wasm-backend] packed matmul max rel err ${worst.toExponential(2)}`);
  });

  it('the RTN 4-bit weights of a real layer give the CPU backend’s packed result', async () => {
    const model = await bundledModel();
    const l = model.weights.layers[0]!;
    const [rows, cols] = l.gate.shape as [number, number];
    const p = rtnQuantize(l.gate.data, rows, cols, { bits: 4, groupSize: 32, symmetric: false });
    const x = randn(13 * cols);
    const ref = await cpu.read(cpu.matmulQuantized(cpu.upload(x, [13, cols]), cpu.uploadQuantized(p)));
    const out = await wasm.read(wasm.matmulQuantized(wasm.upload(x, [13, cols]), wasm.uploadQuantized(p)));
    expect(relErr(ref, out)).toBeLessThan(LIMIT);
    expect(() => wasm.matmulQuantized(wasm.upload(x, [13, cols]), wasm.upload(randn(rows * cols), [rows, cols]))).toThrow(/not made by uploadQuantized/);
  });
});

describe('the bundled model on the wasm backend', () => {
  let model: LoadedModel;
  let stream: Int32Array;
  beforeAll(async () => {
    model = await bundledModel();
    stream = tokenStream(model.tokenizer, readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 20000)).ids;
  });

  it('gives the CPU reference perplexity to 1e-4 relative (seqlen 512: dense windows 0:2, RTN 4-bit window 0)', async () => {
    const q4 = quantizeLinears(model.weights, (t) => rtnQuantize(t.data, t.shape[0]!, t.shape[1]!, { bits: 4, groupSize: 32, symmetric: false }));
    for (const [weights, end] of [[model.weights, 2], [q4, 1]] as const) {
      const opts = { seqlen: 512, windows: { start: 0, end } };
      const ref = await evaluatePerplexity(new LlamaModel(model.config, cpu, weights), stream, opts);
      const lm = new LlamaModel(model.config, wasm, weights);
      const before = wasm.memory().inUse;
      const got = await evaluatePerplexity(lm, stream, opts);
      // Every activation of the pass was freed again (weights stay until dispose).
      expect(wasm.memory().inUse).toBe(before);
      console.info(`[wasm-backend] stories260K ppl cpu ${ref.ppl.toFixed(6)} wasm ${got.ppl.toFixed(6)}`);
      expect(Math.abs(got.ppl - ref.ppl) / ref.ppl).toBeLessThan(1e-4);
      got.windowMeanNll.forEach((n, i) => expect(Math.abs(n - ref.windowMeanNll[i]!) / ref.windowMeanNll[i]!).toBeLessThan(1e-4));
      lm.dispose();
    }
  });
});

describe('generation on the wasm backend', () => {
  it('greedy decoding with the KV cache gives the CPU reference tokens, and frees the cache', async () => {
    const model = await bundledModel();
    const prompt = [1, ...model.tokenizer.encode('Once upon a time, a little dog')];
    const opts = { maxNewTokens: 60, stopIds: [] };
    const ref = await generate(new LlamaModel(model.config, cpu, model.weights), prompt, opts);
    const lm = new LlamaModel(model.config, wasm, model.weights);
    const before = wasm.memory().inUse;
    expect(await generate(lm, prompt, opts)).toEqual(ref);
    expect(wasm.memory().inUse).toBe(before);
    lm.dispose();
  });
});

describe('wasm memory: the heap and the Hub check', () => {
  it('reuses freed blocks, merges neighbours and returns the top', () => {
    const heap = new WasmHeap(new WebAssembly.Memory({ initial: 1 }), 1000);
    const a = heap.alloc(100);
    const b = heap.alloc(50);
    const c = heap.alloc(10);
    expect(a % 16).toBe(0);
    expect([b - a, c - b]).toEqual([112, 64]);
    heap.release(a, 100);
    heap.release(b, 50);
    expect(heap.alloc(170)).toBe(a); // the merged a+b block
    heap.release(a, 170);
    heap.release(c, 10);
    expect(heap.inUse).toBe(0);
    expect(heap.alloc(16)).toBe(a); // everything merged back into the top
  });

  it('grows the memory, and says so clearly when it cannot', () => {
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 3 });
    const heap = new WasmHeap(mem, 0);
    heap.alloc(100_000);
    expect(mem.buffer.byteLength).toBeGreaterThanOrEqual(100_000);
    expect(() => heap.alloc(300_000)).toThrow(StudioError);
    expect(() => heap.alloc(300_000)).toThrow(/refused to grow WebAssembly memory/);
    expect(() => heap.alloc(5 * 1024 ** 3)).toThrow(/beyond WebAssembly's 4 GiB/);
  });

  it("the Hub preview refuses a model whose weights and activations pass wasm32's 4 GiB", () => {
    const cfg = shapeConfig('SmolLM2-135M');
    const big = checkMemory(estimateMemory(cfg, 1.1e9, 1e8, 512), { backend: 'wasm', deviceMemoryBytes: null });
    expect(big.verdict).toBe('refuse');
    expect(big.messages[0]).toMatch(/exceed the 4 GiB a WebAssembly memory can hold/);
    const prune = checkMemory(estimateMemory(cfg, 0.6e9, 1e8, 512), { backend: 'wasm', deviceMemoryBytes: null });
    expect(prune.verdict).toBe('warn');
    expect(prune.messages[0]).toMatch(/Pruning holds/);
    expect(checkMemory(estimateMemory(cfg, 135e6, 28e6, 512), { backend: 'wasm', deviceMemoryBytes: null })).toEqual({ verdict: 'ok', messages: [] });
    // 540 MB of weights and 465 MB of activations at seqlen 2048: the worker's copy fits in half
    // of 2.5 GiB of RAM, with the wasm memory (weights again + activations) it does not.
    const est = estimateMemory(cfg, 135e6, 28e6, 2048);
    const twice = checkMemory(est, { backend: 'wasm', deviceMemoryBytes: 2.5 * 1024 ** 3 });
    expect(twice.verdict).toBe('warn');
    expect(twice.messages[0]).toMatch(/held twice in RAM/);
    expect(checkMemory(est, { backend: 'cpu', deviceMemoryBytes: 2.5 * 1024 ** 3 }).messages.join(' ')).not.toMatch(/held twice|RAM/);
  });
});

describe('selection', () => {
  it("--backend wasm and 'auto' without a GPU pick it; 'cpu' stays the reference", async () => {
    expect((await selectBackend('wasm', () => null)).backend.info.name).toBe('wasm');
    expect((await selectBackend('cpu', () => null)).backend.info.name).toBe('cpu');
    const auto = await new BackendHolder(() => undefined).get('auto');
    expect(auto.backend.info).toEqual({ name: 'wasm', device: WASM_BACKEND_DEVICE });
    expect(auto.fallbackReason).toMatch(/WebGPU is not available/);
  });

  it('studio eval --backend wasm gives the CPU perplexity and records the backend', async () => {
    const args = ['eval', '--model', 'stories260K', '--dataset', 'tinystories', '--seqlen', '64', '--windows', '0:2', '--json'];
    const [w, c] = [await runCli([...args, '--backend', 'wasm']), await runCli([...args, '--backend', 'cpu'])];
    expect(w.code, w.err).toBe(0);
    const [rw, rc] = [parseExperimentRecord(JSON.parse(w.out)), parseExperimentRecord(JSON.parse(c.out))];
    expect(rw.backend).toEqual({ name: 'wasm', device: WASM_BACKEND_DEVICE });
    expect(rc.backend.name).toBe('cpu');
    expect(Math.abs(rw.ppl - rc.ppl) / rc.ppl).toBeLessThan(1e-4);
    const bad = await runCli([...args, '--backend', 'simd']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown backend "simd" \(expected auto, webgpu, wasm, cpu\)/);
  });

  describe('in the worker API', () => {
    const served = servedEngineApi();
    it('runs on wasm when asked, and the CPU reference stays selectable', async () => {
      const s = await loadBundled(served.api, served.base, 'wasm');
      expect(s.backend).toEqual({ name: 'wasm', device: WASM_BACKEND_DEVICE });
      expect((await served.api.setBackend('cpu')).backend.name).toBe('cpu');
      const back = await served.api.setBackend('wasm');
      expect(back.backend.name).toBe('wasm');
      expect(served.api.backendInUse()?.info.name).toBe('wasm');
    });
  });
});

describe('the embedded binary', () => {
  const asc = existsSync(path.join(REPO_ROOT, 'node_modules/assemblyscript/dist/asc.js'));
  if (!asc) console.warn('[wasm-backend] SKIPPING the embedded-binary check: AssemblyScript (asc) is not installed');
  it.skipIf(!asc)('is what scripts/build-wasm.mjs compiles from the kernel source now (skipped only without asc)', async () => {
    const r = await promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'scripts/build-wasm.mjs'), '--check'], { cwd: REPO_ROOT }).catch((e: { code?: number; stderr?: string }) => {
      throw new Error(`build-wasm --check failed (exit ${e.code}): ${e.stderr}`);
    });
    expect(r.stdout).toMatch(/is up to date/);
  });
});

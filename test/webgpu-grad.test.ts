/**
 * The WebGPU training backward ops (GradOps: src/engine/backend/webgpu/webgpu-grad.ts)
 * against the CPU reference (CpuTrainingBackend, float64 sums) on random inputs of odd
 * sizes, then a few whole L4Q training steps on a tiny random GQA model, WebGPU against CPU.
 *
 * Budgets as relErr = max|gpu − cpu| / max|cpu| (test/support/webgpu.ts): 1e-5 for every op
 * (f32 sums of at most a few hundred terms), 1e-4 for the loss sequence of training (a
 * step's update depends on the previous steps' gradients, so differences compound).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { CpuTrainingBackend } from '../src/engine/backend/cpu/cpu-grad';
import { isTrainingBackend, type TrainingBackend } from '../src/engine/backend/training';
import type { WebGpuBackend } from '../src/engine/backend/webgpu';
import { dispatchAttentionGradDkv } from '../src/engine/backend/webgpu/kernels/grad-attention-dkv';
import { dispatchAttentionGradDq } from '../src/engine/backend/webgpu/kernels/grad-attention-dq';
import type { WebGpuTensor } from '../src/engine/backend/webgpu/tensor';
import { parseModelConfig } from '../src/engine/model/config';
import { randomWeights } from '../src/engine/model/random-model';
import { L4Q_DEFAULTS, L4QTrainer, type L4QOptions } from '../src/engine/quant/train';
import { seededRandom } from '../src/engine/random';
import type { L4QMethod } from '../src/engine/record';
import { createEngineApi } from '../src/worker/engine-api';
import { REPO_ROOT } from './support/paths';
import { f16GpuOrSkip, gpuOrSkip, makeBackend, randomArray, relErr } from './support/webgpu';

const gpu = await gpuOrSkip('webgpu-grad');
const cpu = new CpuTrainingBackend();

const worst = new Map<string, number>();
function note(op: string, e: number): number {
  worst.set(op, Math.max(worst.get(op) ?? 0, e));
  return e;
}

let seed = 11;
const rand = (n: number, scale = 1) => randomArray(n, seed++, scale);
interface Input {
  data: Float32Array;
  shape: number[];
}
const input = (shape: number[], scale = 1): Input => ({ data: rand(shape.reduce((a, b) => a * b, 1), scale), shape });

/** Runs `op` on both backends with the same host inputs; returns each output as [gpu, cpu]. */
async function both(g: TrainingBackend, inputs: Input[], op: (b: TrainingBackend, t: Tensor[]) => Tensor[], ids: Int32Array[] = []): Promise<[Float32Array, Float32Array][]> {
  const run = async (b: TrainingBackend) => {
    const ts = [...inputs.map((i) => b.upload(i.data, i.shape)), ...ids.map((i) => b.uploadIds(i))];
    const outs = op(b, ts);
    const r = [];
    for (const o of outs) {
      r.push(await b.read(o));
      b.dispose(o);
    }
    ts.forEach((t) => b.dispose(t));
    return r;
  };
  const a = await run(g);
  const c = await run(cpu);
  return a.map((x, i) => [x, c[i]!]);
}

function ropeTables(T: number, half: number): [Input, Input] {
  const cos = new Float32Array(T * half);
  const sin = new Float32Array(T * half);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < half; i++) {
      const a = t / 10000 ** (i / half);
      cos[t * half + i] = Math.cos(a);
      sin[t * half + i] = Math.sin(a);
    }
  }
  return [
    { data: cos, shape: [T, half] },
    { data: sin, shape: [T, half] },
  ];
}

describe.skipIf(!gpu)('WebGPU GradOps vs the CPU reference', () => {
  let b: WebGpuBackend;
  beforeAll(async () => {
    b = await makeBackend(gpu!);
  });
  afterAll(() => {
    b?.destroy();
    console.info(`[webgpu-grad] largest relative error per op: ${[...worst].map(([k, e]) => `${k} ${e.toExponential(1)}`).join(', ')}`);
  });

  it('the WebGPU backend is a training backend', () => {
    expect(isTrainingBackend(b)).toBe(true);
    expect(isTrainingBackend(new CpuBackend())).toBe(false);
  });

  // [T, in, out]: one row, odd sizes (not multiples of 4), sizes past a 32-wide block.
  const mm: [number, number, number][] = [
    [1, 1, 1],
    [3, 5, 7],
    [7, 12, 9],
    [13, 36, 40],
    [37, 33, 70],
  ];

  it.each(mm)('matmulGradInput dX = dY·W (T %i, in %i, out %i)', async (T, k, m) => {
    const [[g, c]] = await both(b, [input([T, m]), input([m, k])], (x, [dy, w]) => [x.matmulGradInput(dy!, w!)]);
    expect(note('matmul-grad-input', relErr(g!, c!))).toBeLessThan(1e-5);
  });

  it.each(mm)('matmulGradWeight dW = dYᵀ·X (T %i, in %i, out %i)', async (T, k, m) => {
    const [[g, c]] = await both(b, [input([T, m]), input([T, k])], (x, [dy, xx]) => [x.matmulGradWeight(dy!, xx!)]);
    expect(note('matmul-grad-weight', relErr(g!, c!))).toBeLessThan(1e-5);
  });

  it('matmulGradInput with a weight uploaded in row chunks (one accumulating dispatch per chunk)', async () => {
    const small = await makeBackend(gpu!, { maxBindingBytes: 7 * 12 * 4 });
    try {
      const [T, k, m] = [5, 12, 23];
      const dy = input([T, m]);
      const w = input([m, k]);
      const wt = small.upload(w.data, w.shape);
      const dyt = small.upload(dy.data, dy.shape);
      expect((wt as unknown as { chunks: unknown[] }).chunks.length).toBe(4);
      const out = small.matmulGradInput(dyt, wt);
      const g = await small.read(out);
      const cd = cpu.upload(dy.data, dy.shape);
      const cw = cpu.upload(w.data, w.shape);
      const c = await cpu.read(cpu.matmulGradInput(cd, cw));
      expect(note('matmul-grad-input', relErr(g, c))).toBeLessThan(1e-5);
    } finally {
      small.destroy();
    }
  });

  it('matmulGradInput reads an f16-stored weight (adapters with shader-f16)', async (ctx) => {
    // SwiftShader has no shader-f16: then lavapipe's adapter, under the f16 tests' skip rule.
    const g16 = b.adapter.features.shaderF16 ? gpu! : await f16GpuOrSkip('webgpu-grad');
    if (!g16) return ctx.skip('no shader-f16 adapter');
    const f16 = await makeBackend(g16, { weightStorage: 'f16' });
    try {
      const [T, k, m] = [6, 16, 9];
      const dy = input([T, m]);
      // Values exact in f16 (multiples of 1/64 in [−1, 1]), so the result must equal f32's.
      const w = { data: Float32Array.from(rand(m * k), (x) => Math.round(x * 64) / 64), shape: [m, k] };
      const wt = f16.uploadWeight(w.data, w.shape);
      expect((wt as unknown as { dtype: string }).dtype).toBe('f16');
      const g = await f16.read(f16.matmulGradInput(f16.upload(dy.data, dy.shape), wt));
      const c = await cpu.read(cpu.matmulGradInput(cpu.upload(dy.data, dy.shape), cpu.upload(w.data, w.shape)));
      expect(note('matmul-grad-input f16', relErr(g, c))).toBeLessThan(1e-5);
    } finally {
      f16.destroy();
    }
  });

  it.each([
    [1, 4],
    [5, 7],
    [9, 64],
    [3, 300],
  ])('rmsnormGradInput (%i rows of %i)', async (n, d) => {
    const [[g, c]] = await both(b, [input([n, d], 2), input([d]), input([n, d])], (x, [xx, w, dy]) => [x.rmsnormGradInput(xx!, w!, 1e-5, dy!)]);
    expect(note('rmsnorm-grad', relErr(g!, c!))).toBeLessThan(1e-5);
  });

  it.each([
    [1, 1, 4],
    [5, 3, 8],
    [7, 2, 6],
    [4, 1, 64],
  ])('ropeGradInput is the inverse rotation (T %i, %i heads of %i)', async (T, H, d) => {
    const [cos, sin] = ropeTables(T, d / 2);
    const [[g, c]] = await both(b, [input([T, H * d]), cos, sin], (x, [dy, co, si]) => [x.ropeGradInput(dy!, co!, si!, H, d)]);
    expect(note('rope-inverse', relErr(g!, c!))).toBeLessThan(1e-5);
  });

  // [T, query heads, kv heads, head size]: MHA and GQA with 2 query heads per kv head, T past a 64-row workgroup.
  it.each([
    [1, 1, 1, 4],
    [5, 2, 1, 4],
    [7, 4, 2, 8],
    [3, 2, 2, 6],
    [9, 2, 1, 16],
    [70, 4, 2, 8],
    [6, 2, 1, 64],
  ])('attentionGrad dq, dk, dv (T %i, %i/%i heads of %i)', async (T, H, KV, d) => {
    const outs = await both(b, [input([T, H * d], 2), input([T, KV * d], 2), input([T, KV * d]), input([T, H * d])], (x, [q, k, v, dO]) => {
      const r = x.attentionGrad(q!, k!, v!, dO!, { numHeads: H, numKvHeads: KV, headDim: d });
      return [r.dq, r.dk, r.dv];
    });
    ['dq', 'dk', 'dv'].forEach((name, i) => {
      const [g, c] = outs[i]!;
      expect(note(`attention-grad ${name}`, relErr(g, c)), name).toBeLessThan(1e-5);
    });
  });

  // The backend picks R by adapter (attentionGradRows: 1 except on SwiftShader); every R
  // must give the same gradients, including R that does not divide T.
  it.each([1, 3, 8])('attention backward kernels with %i rows per invocation (T 13, 4/2 heads of 8)', async (R) => {
    const [T, H, KV, d] = [13, 4, 2, 8];
    const [q, k, v, dO] = [input([T, H * d], 2), input([T, KV * d], 2), input([T, KV * d]), input([T, H * d])];
    const c = cpu.attentionGrad(cpu.upload(q.data, q.shape), cpu.upload(k.data, k.shape), cpu.upload(v.data, v.shape), cpu.upload(dO.data, dO.shape), { numHeads: H, numKvHeads: KV, headDim: d });
    const up = (x: Input) => (b.upload(x.data, x.shape) as WebGpuTensor).chunks[0]!.buffer;
    const out = { dq: b.upload(new Float32Array(T * H * d), [T, H * d]), dk: b.upload(new Float32Array(T * KV * d), [T, KV * d]), dv: b.upload(new Float32Array(T * KV * d), [T, KV * d]), stats: b.upload(new Float32Array(T * H * 4), [T * H, 4]) };
    const ob = (t: Tensor) => (t as WebGpuTensor).chunks[0]!.buffer;
    const [qb, kb, vb, dOb] = [up(q), up(k), up(v), up(dO)];
    const shape = { T, numHeads: H, numKvHeads: KV, headDim: d, rows: R };
    dispatchAttentionGradDq(b.runtime, { q: qb, k: kb, v: vb, dOut: dOb, dq: ob(out.dq), stats: ob(out.stats) }, shape);
    dispatchAttentionGradDkv(b.runtime, { q: qb, k: kb, v: vb, dOut: dOb, stats: ob(out.stats), dk: ob(out.dk), dv: ob(out.dv) }, shape);
    for (const name of ['dq', 'dk', 'dv'] as const) {
      expect(note(`attention-grad ${name}`, relErr(await b.read(out[name]), await cpu.read(c[name]))), `${name}, R = ${R}`).toBeLessThan(1e-5);
    }
  });

  it.each([1, 7, 129])('swigluGrad (%i values)', async (n) => {
    const outs = await both(b, [input([n], 6), input([n], 2), input([n])], (x, [g, u, dy]) => {
      const r = x.swigluGrad(g!, u!, dy!);
      return [r.dGate, r.dUp];
    });
    for (const [g, c] of outs) expect(note('swiglu-grad', relErr(g, c))).toBeLessThan(1e-5);
  });

  it.each([
    [1, 2],
    [5, 17],
    [9, 300],
    [3, 5000],
  ])('nllGrad = scale·(softmax − onehot) (%i rows, vocab %i)', async (n, V) => {
    const r = seededRandom(n * V);
    const targets = Int32Array.from({ length: n }, () => Math.floor(r() * V));
    const [[g, c]] = await both(b, [input([n, V], 8)], (x, [l, t]) => [x.nllGrad(l!, t!, 1 / n)], [targets]);
    // Relative to the scale (|dlogits| ≤ scale): where the target's probability is near 1,
    // p − 1 is a cancellation whose f32 error is an ulp of 1, not of the tiny result.
    let err = 0;
    for (let i = 0; i < g!.length; i++) err = Math.max(err, Math.abs(g![i]! - c![i]!));
    expect(note('nll-grad', err * n)).toBeLessThan(1e-6);
  });

  it('addInPlace', async () => {
    const a = input([3, 11]);
    const bb = input([3, 11]);
    const [[g, c]] = await both(b, [a, bb], (x, [ta, tb]) => {
      x.addInPlace(ta!, tb!);
      return [x.add(ta!, x.upload(new Float32Array(33), [3, 11]))];
    });
    expect(relErr(g!, c!)).toBeLessThan(1e-7);
  });

  it('bad input is refused with a message naming the op', () => {
    const w = b.upload(rand(12), [3, 4]);
    const dy = b.upload(rand(10), [2, 5]);
    expect(() => b.matmulGradInput(dy, w)).toThrow(/matmulGradInput: dY has 5 columns, weight is \[3, 4\]/);
    expect(() => b.matmulGradWeight(dy, w)).toThrow(/matmulGradWeight: dY has 2 rows, X has 3/);
    expect(() => b.addInPlace(w, dy)).toThrow(/addInPlace: shapes/);
    expect(() => b.attentionGrad(w, w, w, w, { numHeads: 3, numKvHeads: 2, headDim: 4 })).toThrow(/cannot be grouped/);
    const ids = b.uploadIds(Int32Array.from([0, 9]));
    expect(() => b.nllGrad(dy, ids, 1)).toThrow(/target 9 is outside the vocabulary \(5\)/);
    expect(() => b.matmulGradInput(cpu.upload(rand(10), [2, 5]), w)).toThrow(/tensor from another backend/);
    for (const t of [w, dy, ids]) b.dispose(t);
  });

  it('frees what it allocates: after disposing the results the pool holds no more buffers than before', async () => {
    const before = b.memory().liveBuffers;
    const q = b.upload(rand(5 * 8), [5, 8]);
    const k = b.upload(rand(5 * 4), [5, 4]);
    const r = b.attentionGrad(q, k, k, q, { numHeads: 2, numKvHeads: 1, headDim: 4 });
    // The matmul gradients' transposed scratch copies go back to the pool too.
    const dw = b.matmulGradWeight(q, k);
    const dx = b.matmulGradInput(q, dw);
    await b.read(dx);
    for (const t of [q, k, r.dq, r.dk, r.dv, dx, dw]) b.dispose(t);
    expect(b.memory().liveBuffers).toBe(before);
  });
});

describe.skipIf(!gpu)('L4Q training with the model backward on WebGPU equals the CPU reference', () => {
  // 2 layers, GQA (2 query heads per kv head, head size 4), odd intermediate size.
  const cfg = parseModelConfig(
    { architectures: ['LlamaForCausalLM'], hidden_size: 16, intermediate_size: 20, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 13, max_position_embeddings: 64, rms_norm_eps: 1e-5, tie_word_embeddings: true },
    'tiny',
  );
  /** Sequences of a repeating pattern with a random phase: next tokens a model can learn. */
  const samples = (() => {
    const r = seededRandom(5);
    const pattern = [3, 7, 1, 9, 4, 4, 2, 11];
    return Array.from({ length: 4 }, () => {
      const phase = Math.floor(r() * pattern.length);
      return Int32Array.from({ length: 11 }, (_, i) => pattern[(i + phase) % pattern.length]!);
    });
  })();
  const opts: L4QOptions = { ...L4Q_DEFAULTS, bits: 3, group: 8, rank: 2, alpha: 4, steps: 6, warmup: 6, lr: 1e-2, lrQuant: 1e-3, batch: 2, seed: 3 };

  // `null` (no QuantTrainOps): the parameter side stays on the host, identical on both
  // backends, so only the model's forward and backward differ between the two runs.
  const trainer = (b: TrainingBackend, o: L4QOptions) => new L4QTrainer(b, cfg, randomWeights(cfg, 7), samples, o, true, null);

  it('6 LoRA steps: the same loss sequence (to 1e-5)', async () => {
    const run = async (b: TrainingBackend) => {
      const tr = trainer(b, opts);
      const out: number[] = [];
      try {
        while (!tr.done) out.push((await tr.trainStep()).loss);
      } finally {
        tr.dispose();
      }
      return out;
    };
    const b = await makeBackend(gpu!);
    try {
      const before = b.memory().liveBuffers;
      const g = await run(b);
      const c = await run(new CpuTrainingBackend());
      console.info(`[webgpu-grad] L4Q losses WebGPU ${g.map((x) => x.toFixed(6)).join(' ')} · CPU ${c.map((x) => x.toFixed(6)).join(' ')}`);
      expect(relErr(g, c)).toBeLessThan(1e-5);
      // Training moved the loss (a backward returning zeros would not).
      expect(c[5]!).toBeLessThan(c[0]! - 0.05);
      expect(b.memory().liveBuffers).toBe(before);
    } finally {
      b.destroy();
    }
  });

  // In the joint phase a loss sequence is no test of the backward: Adam's first steps move
  // every parameter by about ±lr whatever its gradient's size, so a gradient that is 0 in
  // exact arithmetic (db of a group nothing clips) goes either way by rounding, and 3-bit
  // codes flip. So: the gradients themselves, at the same parameters.
  it('joint phase: loss, LoRA and quantizer gradients at the same parameters (to 1e-5)', async () => {
    const grads = async (b: TrainingBackend) => {
      const tr = trainer(b, { ...opts, warmup: 0 });
      try {
        tr.initQuantizer();
        return await tr.gradients(samples.slice(0, 2));
      } finally {
        tr.dispose();
      }
    };
    const b = await makeBackend(gpu!);
    try {
      const g = await grads(b);
      const c = await grads(new CpuTrainingBackend());
      expect(Math.abs(g.loss - c.loss) / c.loss).toBeLessThan(1e-6);
      expect(g.quant.length).toBe(c.quant.length);
      expect(c.quant.length).toBeGreaterThan(0);
      let worstQuant = 0;
      g.quant.forEach((x, i) => (worstQuant = Math.max(worstQuant, relErr(x, c.quant[i]!))));
      let worstLora = 0;
      g.lora.forEach((x, i) => (worstLora = Math.max(worstLora, relErr(x, c.lora[i]!))));
      console.info(`[webgpu-grad] joint-phase gradients: s/b ${worstQuant.toExponential(1)}, LoRA ${worstLora.toExponential(1)}`);
      expect(worstQuant).toBeLessThan(1e-5);
      expect(worstLora).toBeLessThan(1e-5);
    } finally {
      b.destroy();
    }
  });
});

describe.skipIf(!gpu)("the worker's L4Q job trains on the worker's backend", () => {
  const PUBLIC = path.join(REPO_ROOT, 'public');
  const server = createServer((req, res) => {
    const file = path.join(PUBLIC, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!file.startsWith(PUBLIC) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  let base = '';
  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const text = 'Once upon a time, there was a little girl named Lily. She liked to play with her red ball in the park.\n'.repeat(20);
  const paste = { kind: 'text' as const, name: 'story', source: 'paste' as const, text };
  const method: L4QMethod = { name: 'l4q', bits: 4, groupSize: 32, symmetric: false, rank: 2, alpha: 4, steps: 3, warmup: 2, lr: 1e-3, lrQuant: 1e-4, batch: 2, seed: 3, init: 'minmax', gradScale: null };

  async function job(backend: 'webgpu' | 'cpu') {
    const api = createEngineApi(() => gpu);
    await api.loadModel({ jobId: 'load', id: 'stories260K', url: `${base}models/stories260K/`, source: 'bundled', backend }, () => {});
    const r = await api.l4q(
      { jobId: `l4q-${backend}`, method, dataset: paste, datasetsUrl: `${base}datasets/`, seqlen: 32, windows: '0:1', calibration: { dataset: paste, sampling: { samples: 2, seqlen: 17, offset: 0, seed: null } }, backend, compareRtn: false },
      () => {},
    );
    api.backendInUse()?.destroy();
    return r;
  }

  it('WebGPU: the record says WebGPU trained, and the warm-up losses equal the CPU run’s', async () => {
    const g = await job('webgpu');
    const c = await job('cpu');
    expect(g.backend.name).toBe('webgpu');
    expect(g.training!.backend?.name).toBe('webgpu');
    expect(c.training!.backend?.name).toBe('cpu');
    const warm = (r: typeof g) => r.training!.loss.filter((x) => x.phase === 'warmup').map((x) => x.loss);
    expect(warm(g).length).toBe(2);
    expect(relErr(warm(g), warm(c))).toBeLessThan(1e-5);
  });
});

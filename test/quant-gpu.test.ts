/**
 * The WebGPU packed-integer matmul (kernels/matmul-nbits.ts) against the CPU reference,
 * for every bit width, integer / default / float zero points, short last blocks, a bias,
 * and a whole quantized model's logits. Budget: relErr ≤ 1e-5 (the weights agree bit for
 * bit; only f32 vs f64 accumulation differs, as for the float matmul).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import type { WebGpuBackend } from '../src/engine/backend/webgpu';
import { LlamaModel } from '../src/engine/model/llama';
import { parseModelConfig } from '../src/engine/model/config';
import { randomWeights } from '../src/engine/model/random-model';
import { sizeClass } from '../src/engine/backend/webgpu/pool';
import { LINEAR_NAMES } from '../src/engine/model/weights';
import { packSigned, type PackedLinear } from '../src/engine/quant/pack';
import { quantizeLinears } from '../src/engine/quant/quantized-linear';
import { rtnQuantize } from '../src/engine/quant/rtn';
import { gpuOrSkip, makeBackend, randomArray, relErr } from './support/webgpu';

const gpu = await gpuOrSkip('quant-gpu');
const cpu = new CpuBackend();
let g: WebGpuBackend | null = null;
afterAll(() => g?.destroy());

async function run(b: Backend, x: Float32Array, T: number, p: PackedLinear, bias: Float32Array | null): Promise<Float32Array> {
  const xt = b.upload(x, [T, p.cols]);
  const w = b.uploadQuantized(p);
  const bt = bias ? b.upload(bias, [p.rows]) : null;
  const y = b.matmulQuantized(xt, w, bt);
  const r = await b.read(y);
  for (const t of [xt, w, y, ...(bt ? [bt] : [])]) b.dispose(t);
  return r;
}

describe.skipIf(!gpu)('WebGPU matmul-nbits vs CPU', () => {
  it('every bit width, symmetric and asymmetric, short blocks, bias', async () => {
    g ??= await makeBackend(gpu!);
    let seed = 100;
    let worst = 0;
    for (let bits = 2; bits <= 8; bits++) {
      for (const [T, N, K, G, sym] of [
        [3, 5, 37, 16, false],
        [1, 7, 64, null, true],
        [4, 3, 20, 32, false],
        [2, 6, 45, 8, true],
        [6, 9, 33, 16, false],
      ] as const) {
        const w = randomArray(N * K, seed++, 0.2);
        const p = rtnQuantize(w, N, K, { bits, groupSize: G, symmetric: sym });
        const x = randomArray(T * K, seed++);
        const bias = bits % 2 ? randomArray(N, seed++) : null;
        const e = relErr(await run(g, x, T, p, bias), await run(cpu, x, T, p, bias));
        worst = Math.max(worst, e);
        expect(e, `bits ${bits} [${T}, ${N}, ${K}] G ${G} sym ${sym}`).toBeLessThanOrEqual(1e-5);
      }
    }
    console.log(`matmul-nbits worst relErr ${worst.toExponential(2)}`);
  });

  it('float zero points (an L4Q merge with offsets)', async () => {
    g ??= await makeBackend(gpu!);
    const N = 4;
    const K = 48;
    const q = Int8Array.from(randomArray(N * K, 5), (u) => Math.max(-8, Math.min(7, Math.round(u * 8))));
    const p = packSigned({ rows: N, cols: K, bits: 4, groupSize: 16, q, step: randomArray(N * 3, 6, 0.1), offset: randomArray(N * 3, 7, 0.05) });
    expect(p.fzeros).not.toBeNull();
    const x = randomArray(2 * K, 8);
    expect(relErr(await run(g, x, 2, p, null), await run(cpu, x, 2, p, null))).toBeLessThanOrEqual(1e-5);
  });

  it('a quantized model: GPU logits equal CPU logits, and differ from the dense model', async () => {
    g ??= await makeBackend(gpu!);
    const config = parseModelConfig(
      { architectures: ['LlamaForCausalLM'], hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 64, max_position_embeddings: 64, rms_norm_eps: 1e-5, tie_word_embeddings: true },
      'tiny',
    );
    const weights = randomWeights(config, 3);
    const qw = quantizeLinears(weights, (t) => rtnQuantize(t.data, t.shape[0]!, t.shape[1]!, { bits: 3, groupSize: 16, symmetric: false }));
    const ids = Int32Array.from({ length: 9 }, (_, i) => (i * 7) % 64);
    const logits = async (b: Backend, w: typeof weights) => {
      const m = new LlamaModel(config, b, w);
      const out = m.forward(ids);
      const r = await b.read(out);
      b.dispose(out);
      m.dispose();
      return r;
    };
    const gq = await logits(g, qw);
    const cq = await logits(cpu, qw);
    const cd = await logits(cpu, weights);
    expect(relErr(gq, cq)).toBeLessThanOrEqual(1e-5);
    expect(relErr(cq, cd)).toBeGreaterThan(1e-3);

    // On the GPU the quantized linears take their packed bytes only (no float copy): the
    // model's buffers shrink by exactly the linears' float32 buffers minus their packed
    // buffers (codes, scales, zero points; each rounded up to the pool's size class).
    const held = (w: typeof weights) => {
      const before = g!.memory().bytesInUse;
      const m = new LlamaModel(config, g!, w);
      const bytes = g!.memory().bytesInUse - before;
      m.dispose();
      return bytes;
    };
    const words = (n: number) => Math.max(4, Math.ceil(n / 4) * 4);
    let saved = 0;
    qw.layers.forEach((l, i) => {
      for (const n of LINEAR_NAMES) {
        const p = l[n].packed!;
        saved += sizeClass(4 * weights.layers[i]![n].data.length) - sizeClass(words(p.qweight.length)) - sizeClass(words(4 * p.scales.length)) - sizeClass(words(p.qzeros!.length));
      }
    });
    expect(held(weights) - held(qw)).toBe(saved);
    expect(saved).toBeGreaterThan(0);
  });
});

/**
 * The browser half of bench/chromium.ts: times one forward pass of T tokens (logits for every
 * position, read back) on WebGPU and on the CPU backend, best of N after a warm-up, and
 * reports tokens/s, the adapter, the kernels chosen and the shares of matmul and attention
 * (each timed alone with the forward's shapes) in the forward.
 */
import type { Backend } from '../../src/engine/backend/backend';
import { CpuBackend } from '../../src/engine/backend/cpu/cpu-backend';
import { createWebGpuBackend, WebGpuBackend } from '../../src/engine/backend/webgpu';
import { LlamaModel } from '../../src/engine/model/llama';
import { seededRandom } from '../../src/engine/random';
import { benchModel, serveBenchmark } from './bench-page';
import { attentionOnly, matmulOnly } from '../forward-parts';

interface Options {
  model?: string;
  tokens?: string;
  reps?: string;
  layers?: string;
  backends?: string;
}

async function time(reps: number, f: () => Promise<void>, warmUp = true): Promise<number> {
  if (warmUp) await f(); // pipeline compilation (the CPU backend needs none)
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await f();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

async function run(o: Options) {
  const T = Number(o.tokens ?? 512);
  const reps = Number(o.reps ?? 3);
  const { name, cfg, weights } = await benchModel(o);
  const rand = seededRandom(1);
  const ids = Int32Array.from({ length: T }, () => Math.floor(rand() * cfg.vocabSize));
  const results = [];
  const which = (o.backends ?? 'webgpu,cpu').split(',');
  for (const kind of which) {
    const b: Backend = kind === 'cpu' ? new CpuBackend() : await createWebGpuBackend(navigator.gpu);
    const lm = new LlamaModel(cfg, b, weights);
    const ms = await time(
      reps,
      async () => {
        const t = lm.forward(ids);
        await b.read(t);
        b.dispose(t);
      },
      b instanceof WebGpuBackend,
    );
    const r: Record<string, unknown> = { backend: b.info.name, device: b.info.device, tokens: T, ms: Math.round(ms), tokensPerSecond: Math.round((T / ms) * 1000) };
    if (b instanceof WebGpuBackend) {
      r.matmulKernel = b.matmulKernelFor(T, cfg.hiddenSize);
      r.attention = b.attentionKernelFor(cfg.headDim);
      r.matmulShare = Number(((await matmulOnly(b, lm, T, (f) => time(reps, f))) / ms).toFixed(2));
      r.attentionShare = Number(((await attentionOnly(b, lm, T, (f) => time(reps, f))) / ms).toFixed(2));
    }
    results.push(r);
    lm.dispose();
    b.destroy();
  }
  return { model: name, userAgent: navigator.userAgent, results };
}

serveBenchmark(run);

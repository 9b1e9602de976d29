/**
 * Forward-pass benchmark: `npx tsx bench/forward.ts [--tokens 512] [--model stories260K|smollm2|both]
 *                                                   [--backend cpu|webgpu|both] [--reps 3]`
 *
 * For each model and backend: one forward pass of T tokens (logits for every position),
 * best of N after a warm-up, as tokens/s = T / time (time includes reading the logits
 * back). On WebGPU it also reports
 *   - the share of the forward spent in matmul: the same sequence of matmuls (every
 *     linear of every layer and the LM head, same shapes) timed alone, divided by the
 *     forward time;
 *   - the share spent in attention: every layer's attention (same shapes, the kernel the
 *     backend picks, named) timed alone, divided by the forward time;
 *   - peak GPU memory of the forward from the buffer pool's accounting, against the bytes
 *     of the weights.
 * Models: the bundled stories260K, and a random-weight model with the shape of
 * SmolLM2-135M (30 layers, hidden 576, 9/3 heads, intermediate 1536, vocab 49152).
 *
 * In Node without a GPU: VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { createWebGpuBackend, WebGpuBackend } from '../src/engine/backend/webgpu';
import { nodeGpu } from '../src/engine/backend/webgpu/node';
import { dirSource } from '../src/cli/fs-source';
import type { ModelConfig } from '../src/engine/model/config';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel } from '../src/engine/model/load';
import { randomWeights, shapeConfig } from '../src/engine/model/random-model';
import type { HostTensor, ModelWeights } from '../src/engine/model/weights';
import { seededRandom } from '../src/engine/random';
import { attentionOnly, matmulOnly } from './forward-parts';
import { cliOption as opt } from './cli-args';

const T = Number(opt('tokens', '512'));
const reps = Number(opt('reps', '3'));
const which = opt('model', 'both');
const backends = opt('backend', 'both');

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function models(): Promise<{ name: string; cfg: ModelConfig; weights: ModelWeights<HostTensor> }[]> {
  const out = [];
  if (which === 'both' || which === 'stories260K') {
    const m = await loadModel('stories260K', dirSource(path.join(root, 'public/models/stories260K')));
    out.push({ name: 'stories260K', cfg: m.config, weights: m.weights });
  }
  if (which === 'both' || which === 'smollm2') {
    const cfg = shapeConfig('SmolLM2-135M');
    out.push({ name: 'SmolLM2-135M shape (random weights)', cfg, weights: randomWeights(cfg, 1) });
  }
  return out;
}

/** CPU time of this process (ms) during the fastest repeat of the last `time` call. */
let lastCpuMs = 0;

/**
 * Best wall time of `reps` runs. The process's CPU time (process.cpuUsage: a software
 * adapter's threads run in this process) of that run is kept in lastCpuMs: on a machine
 * that others load, it says what the run itself cost.
 */
async function time(f: () => Promise<void>, warmUp = true): Promise<number> {
  if (warmUp) await f(); // pipeline compilation, buffer pool (the CPU backend needs none)
  let best = Infinity;
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await f();
    const ms = performance.now() - t0;
    if (ms < best) {
      best = ms;
      const c = process.cpuUsage(c0);
      lastCpuMs = (c.user + c.system) / 1000;
    }
  }
  return best;
}

async function main() {
  const gpu = backends === 'cpu' ? null : await nodeGpu();
  for (const m of await models()) {
    const rand = seededRandom(1);
    const ids = Int32Array.from({ length: T }, () => Math.floor(rand() * m.cfg.vocabSize));
    const weightBytes = new Set<HostTensor>();
    let wb = 0;
    for (const t of [m.weights.embed, m.weights.norm, m.weights.lmHead, ...m.weights.layers.flatMap((l) => [l.inputNorm, l.q, l.k, l.v, l.o, l.postNorm, l.gate, l.up, l.down])]) {
      if (!weightBytes.has(t)) {
        weightBytes.add(t);
        wb += t.data.byteLength;
      }
    }
    const runs: { label: string; make: () => Promise<Backend> }[] = [];
    if (backends !== 'webgpu') runs.push({ label: 'cpu', make: async () => new CpuBackend() });
    if (gpu) runs.push({ label: 'webgpu', make: () => createWebGpuBackend(gpu) });
    for (const r of runs) {
      const b = await r.make();
      const lm = new LlamaModel(m.cfg, b, m.weights);
      const forward = async () => {
        const t = lm.forward(ids);
        await b.read(t);
        b.dispose(t);
      };
      if (b instanceof WebGpuBackend) {
        await forward();
        b.runtime.pool.resetPeak();
      }
      const ms = await time(forward, b instanceof WebGpuBackend);
      const cpuMs = lastCpuMs;
      let extra = '';
      if (b instanceof WebGpuBackend) {
        const peak = b.memory().peakBytes;
        // Shares of wall time, and of CPU time (steadier when other jobs load the machine).
        const mm = await matmulOnly(b, lm, ids.length, time);
        const mmCpu = lastCpuMs;
        const att = await attentionOnly(b, lm, T, time);
        const attCpu = lastCpuMs;
        const pct = (a: number, c: number) => `${((100 * a) / ms).toFixed(0)}% (CPU ${((100 * c) / cpuMs).toFixed(0)}%)`;
        extra = ` | matmul ${pct(mm, mmCpu)} of forward | attention (${b.attentionKernelFor(m.cfg.headDim)}) ${pct(att, attCpu)} | peak GPU memory ${(peak / 2 ** 20).toFixed(1)} MiB = ${(peak / wb).toFixed(2)}× weights (${(wb / 2 ** 20).toFixed(1)} MiB)`;
      }
      console.log(`${m.name} | ${b.info.name} (${b.info.device}) | ${T} tokens | ${ms.toFixed(0)} ms (CPU ${(cpuMs / 1000).toFixed(1)} s) | ${((T / ms) * 1000).toFixed(0)} tokens/s${extra}`);
      lm.dispose();
      b.destroy();
    }
  }
}

await main();

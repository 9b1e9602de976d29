/**
 * L4Q parameter-side benchmark on WebGPU (Node, Dawn): `npx tsx bench/l4q-ops.ts
 *     [--model stories260K|smollm2] [--layers 2] [--steps 2] [--rows 1536 --cols 576]`
 *
 * 1. Each QuantTrainOps kernel (merge, fake quantization, its gradient, LoRA gradients, Adam)
 *    on one [rows, cols] linear (default: SmolLM2-135M's gate_proj), mean over 5 calls with
 *    the GPU finished, next to the backend's own elementwise add of the same size.
 * 2. Joint-phase L4Q steps of the trainer's two paths on the same backend: the host path
 *    (effective weights uploaded, every Γ read back, quantizer/LoRA/Adam on the CPU) and the
 *    device path (WebGpuQuantTrainOps; only the loss read back), alternated, with the losses.
 *
 * Without a GPU, Dawn runs on Chromium's SwiftShader (VK_ICD_FILENAMES is set to it when the
 * file exists and the variable is unset).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dirSource } from '../src/cli/fs-source';
import { isTrainingBackend } from '../src/engine/backend/training';
import { createWebGpuBackend } from '../src/engine/backend/webgpu';
import { nodeGpu } from '../src/engine/backend/webgpu/node';
import { WebGpuQuantTrainOps } from '../src/engine/backend/webgpu/quant-train-ops';
import { loadModel } from '../src/engine/model/load';
import { randomWeights, shapeConfig } from '../src/engine/model/random-model';
import { quantGrid } from '../src/engine/quant/l4q';
import { L4Q_DEFAULTS, L4QTrainer } from '../src/engine/quant/train';
import { seededRandom } from '../src/engine/random';
import { cliOption as opt } from './cli-args';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
if (existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES ??= SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= '/tmp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const steps = Number(opt('steps', '2'));

const gb = await createWebGpuBackend(await nodeGpu());
console.log(`adapter: ${gb.info.device}`);
const ops = new WebGpuQuantTrainOps(gb);

// ---- 1. kernels on one linear ----------------------------------------------------------------
{
  const rows = Number(opt('rows', '1536'));
  const cols = Number(opt('cols', '576'));
  const r = 8;
  const G = 32;
  const rnd = seededRandom(3);
  const arr = (n: number) => Float32Array.from({ length: n }, () => rnd() - 0.5);
  const groups = rows * Math.ceil(cols / G);
  const w0 = gb.upload(arr(rows * cols), [rows, cols]);
  const gamma = gb.upload(arr(rows * cols), [rows, cols]);
  const A = gb.upload(arr(r * cols), [r, cols]);
  const B = gb.upload(arr(rows * r), [rows, r]);
  const s = gb.upload(new Float32Array(groups).fill(0.05), [groups]);
  const b = gb.upload(new Float32Array(groups), [groups]);
  const [m, v, dA] = [gb.upload(new Float32Array(r * cols), [r, cols]), gb.upload(new Float32Array(r * cols), [r, cols]), gb.upload(arr(r * cols), [r, cols])];
  const grid = quantGrid(4);
  const time = async (name: string, f: () => void) => {
    f();
    await gb.sync();
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) f();
    await gb.sync();
    console.log(`  ${name.padEnd(16)} ${((performance.now() - t0) / 5).toFixed(2)} ms`);
  };
  console.log(`kernels on a [${rows}, ${cols}] linear (rank ${r}, G ${G}), ms per call:`);
  await time('add (backend)', () => gb.dispose(gb.add(w0, gamma)));
  await time('loraMerge', () => gb.dispose(ops.loraMerge(w0, A, B, 2, null)));
  await time('fakeQuant', () => gb.dispose(ops.fakeQuant(w0, s, b, grid, G, null)));
  await time('fakeQuantGrad', () => Object.values(ops.fakeQuantGrad(w0, gamma, s, b, grid, G, 0.1, null)).forEach((t) => gb.dispose(t)));
  await time('loraGrads', () => Object.values(ops.loraGrads(gamma, A, B, 2, null)).forEach((t) => gb.dispose(t)));
  await time('adamStep (A)', () => ops.adamStep(A, dA, m, v, { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, t: 1 }));
  for (const t of [w0, gamma, A, B, s, b, m, v, dA]) gb.dispose(t);
}

// ---- 2. trainer steps, host path vs device path ------------------------------------------------
if (!isTrainingBackend(gb)) {
  console.log('this WebGPU backend has no GradOps: no training steps to time');
} else {
  const smol = opt('model', 'stories260K') === 'smollm2';
  const cfg = smol ? shapeConfig('SmolLM2-135M', { layers: Number(opt('layers', '2')), vocab: 2048 }) : null;
  const model = cfg ? { config: cfg, weights: randomWeights(cfg, 1) } : await loadModel('stories260K', dirSource(path.join(root, 'public/models/stories260K')));
  const [T, batch] = smol ? [64, 1] : [128, 4];
  const rnd = seededRandom(1);
  const samples = Array.from({ length: batch * 2 }, () => Int32Array.from({ length: T + 1 }, () => Math.floor(rnd() * model.config.vocabSize)));
  console.log(`${smol ? `SmolLM2-135M shape, ${model.config.numLayers} layers, vocab 2048` : 'stories260K'}: ${batch} × ${T} tokens per step, joint phase, ms per step:`);
  for (let round = 0; round < 2; round++) {
    for (const [name, o] of [['host path', null], ['device path', ops]] as const) {
      const tr = new L4QTrainer(gb, model.config, model.weights, samples, { ...L4Q_DEFAULTS, steps: steps + 1, warmup: 0, batch }, true, o);
      try {
        const losses = [(await tr.trainStep()).loss];
        let ms = 0;
        for (let i = 0; i < steps; i++) {
          const st = await tr.trainStep();
          ms += st.ms;
          losses.push(st.loss);
        }
        console.log(`  ${name.padEnd(12)} ${(ms / steps).toFixed(0)} ms/step; losses ${losses.map((x) => x.toFixed(6)).join(' ')}`);
      } finally {
        tr.dispose();
      }
    }
  }
}
gb.destroy();

/**
 * L4Q training-step benchmark: `npx tsx bench/l4q-train.ts [--model stories260K|smollm2|both]
 *     [--tokens 128] [--batch 4] [--steps 3] [--layers N] [--vocab V] [--backend cpu|webgpu|both]
 *     [--adapter swiftshader|lavapipe|default|all]`
 *
 * Times optimizer steps of the joint phase (fake-quantized forward, full backward, LoRA and
 * quantizer gradients, two Adam updates) and reports steps/s and tokens/s (predictions per
 * second), with the training memory (LoRA, s/b, Adam, activations, Γ) and, on WebGPU, the
 * GPU buffer pool's peak. One untimed step first (JIT, pipeline compilation, buffer pool);
 * each step's time includes reading its loss back, so GPU work is finished when it ends.
 * The process's CPU time per step is printed too: on a shared machine wall time depends on
 * the other load, CPU time less so (software adapters run their threads in this process).
 * A second line times the model's forward + backward alone (train-model.ts
 * sequenceLossAndGrads on the same sequences, Γ of every linear accumulated, without the
 * LoRA/quantizer side of the step), best of --steps batches after a warm-up one.
 * Models: the bundled stories260K and a random-weight model with SmolLM2-135M's shape
 * (--layers cuts its depth, --vocab its vocabulary, for a run that ends in reasonable time
 * on a CPU; the defaults for that shape are stated in the output line).
 *
 * Backends: the CPU reference, and WebGPU in Node (Dawn) on each Vulkan driver asked for:
 * 'swiftshader' (Chromium's, /usr/lib/chromium/vk_swiftshader_icd.json), 'lavapipe'
 * (.cache/lavapipe/lvp_icd.json, from scripts/setup-lavapipe.sh; skipped when missing),
 * 'default' (whatever VK_ICD_FILENAMES / the system gives: a real GPU), or 'all' (the two
 * software ones). Dawn reads VK_ICD_FILENAMES once, so each adapter runs in a child process
 * of this script (`--adapter-child`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dirSource } from '../src/cli/fs-source';
import { CpuTrainingBackend } from '../src/engine/backend/cpu/cpu-grad';
import type { TrainingBackend } from '../src/engine/backend/training';
import { createWebGpuBackend, WebGpuBackend } from '../src/engine/backend/webgpu';
import { nodeGpu } from '../src/engine/backend/webgpu/node';
import type { ModelConfig } from '../src/engine/model/config';
import { loadModel } from '../src/engine/model/load';
import { randomWeights, shapeConfig } from '../src/engine/model/random-model';
import type { HostTensor, ModelWeights } from '../src/engine/model/weights';
import { sequenceLossAndGrads, type TrainWeights } from '../src/engine/quant/train-model';
import { LINEAR_NAMES, type LinearName } from '../src/engine/model/weights';
import type { Tensor } from '../src/engine/backend/backend';
import { describeTiming, timeTrainingSteps, trainingSamples } from './l4q-steps';
import { cliOption as opt } from './cli-args';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ICDS: Record<string, string> = {
  swiftshader: '/usr/lib/chromium/vk_swiftshader_icd.json',
  lavapipe: path.join(root, '.cache/lavapipe/lvp_icd.json'),
};

const T = Number(opt('tokens', '128'));
const batch = Number(opt('batch', '4'));
const steps = Number(opt('steps', '3'));
const which = opt('model', 'stories260K');
const backends = opt('backend', 'both');
const child = opt('adapter-child', '');

async function bench(name: string, cfg: ModelConfig, weights: ModelWeights<HostTensor>, b: TrainingBackend, label: string) {
  const cpuClock = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const t = await timeTrainingSteps(b, cfg, weights, { tokens: T, batch, steps, cpuClock });
  const gpuPeak = b instanceof WebGpuBackend ? `, GPU pool peak ${(b.memory().peakBytes / 1048576).toFixed(2)} MiB` : '';
  console.log(`${describeTiming(name, label, t)}${gpuPeak}`);
  // The same sequences as the timed steps (trainingSamples), for the model pass alone.
  const samples = trainingSamples(cfg, { tokens: T, batch });
  const ms = await modelPass(cfg, weights, b, samples);
  console.log(`${name} · ${label}: model forward + backward alone ${ms.toFixed(0)} ms per ${batch} × ${T} tokens (${((batch * T * 1000) / ms).toFixed(1)} tokens/s)`);
}

/** Forward + backward of the model alone: batch sequences per call, every Γ accumulated; ms per batch (best of `steps`). */
async function modelPass(cfg: ModelConfig, weights: ModelWeights<HostTensor>, b: TrainingBackend, samples: Int32Array[]): Promise<number> {
  const up = (h: HostTensor) => b.upload(h.data, h.shape);
  const uploaded: Tensor[] = [];
  const keep = <T extends Tensor | null>(t: T): T => {
    if (t) uploaded.push(t);
    return t;
  };
  const embed = keep(up(weights.embed));
  const W: TrainWeights = {
    embed,
    norm: keep(up(weights.norm)),
    lmHead: weights.lmHead === weights.embed ? embed : keep(up(weights.lmHead)),
    layers: weights.layers.map((l) => {
      const o = { ...l, inputNorm: keep(up(l.inputNorm)), postNorm: keep(up(l.postNorm)), qBias: keep(l.qBias && up(l.qBias)), kBias: keep(l.kBias && up(l.kBias)), vBias: keep(l.vBias && up(l.vBias)), oBias: keep(l.oBias && up(l.oBias)), downBias: keep(l.downBias && up(l.downBias)) } as unknown as TrainWeights['layers'][number];
      for (const n of LINEAR_NAMES) (o as unknown as Record<LinearName, Tensor>)[n] = keep(up(l[n]));
      return o;
    }),
  };
  const once = async () => {
    const gammas: Partial<Record<LinearName, Tensor>>[] = W.layers.map(() => ({}));
    const t0 = performance.now();
    for (const seq of samples.slice(0, batch)) await sequenceLossAndGrads(b, cfg, W, seq, 1 / (batch * T), gammas);
    if (b instanceof WebGpuBackend) await b.sync();
    const ms = performance.now() - t0;
    for (const g of gammas) for (const t of Object.values(g)) b.dispose(t);
    return ms;
  };
  try {
    await once();
    let best = Infinity;
    for (let i = 0; i < steps; i++) best = Math.min(best, await once());
    return best;
  } finally {
    for (const t of uploaded) b.dispose(t);
  }
}

async function models(): Promise<{ name: string; cfg: ModelConfig; weights: ModelWeights<HostTensor> }[]> {
  const out = [];
  if (which === 'stories260K' || which === 'both') {
    const m = await loadModel('stories260K', dirSource(path.join(root, 'public/models/stories260K')));
    out.push({ name: 'stories260K', cfg: m.config, weights: m.weights });
  }
  if (which === 'smollm2' || which === 'both') {
    const layers = Number(opt('layers', '30'));
    const vocab = Number(opt('vocab', '49152'));
    const cfg = shapeConfig('SmolLM2-135M', { layers, vocab });
    out.push({ name: `SmolLM2-135M shape (${layers} layers, vocab ${vocab}, random weights)`, cfg, weights: randomWeights(cfg, 1) });
  }
  return out;
}

if (child) {
  // One WebGPU adapter, in this process (VK_ICD_FILENAMES set by the parent).
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const b = await createWebGpuBackend(await nodeGpu());
  try {
    for (const m of await models()) await bench(m.name, m.cfg, m.weights, b, `WebGPU ${b.info.device}`);
  } finally {
    b.destroy();
  }
} else {
  if (backends === 'cpu' || backends === 'both') {
    for (const m of await models()) await bench(m.name, m.cfg, m.weights, new CpuTrainingBackend(), 'CPU reference');
  }
  if (backends === 'webgpu' || backends === 'both') {
    const adapter = opt('adapter', 'all');
    const names = adapter === 'all' ? ['swiftshader', 'lavapipe'] : [adapter];
    for (const a of names) {
      const icd = ICDS[a];
      if (icd && !existsSync(icd)) {
        console.log(`WebGPU ${a}: skipped, ${icd} is missing${a === 'lavapipe' ? ' (run scripts/setup-lavapipe.sh)' : ''}`);
        continue;
      }
      const env = { ...process.env, ...(icd ? { VK_ICD_FILENAMES: icd } : {}) };
      const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2), '--adapter-child', a], { env, stdio: 'inherit' });
      if (r.status !== 0) console.log(`WebGPU ${a}: the run failed (exit ${r.status ?? r.signal})`);
    }
  }
}

/**
 * L4Q training-step benchmark: `npx tsx bench/l4q-train.ts [--model stories260K|smollm2|both]
 *                                  [--tokens 128] [--batch 4] [--steps 3] [--layers N]`
 *
 * Times optimizer steps of the joint phase (fake-quantized forward, full backward, LoRA and
 * quantizer gradients, two Adam updates) and reports steps/s and tokens/s (predictions per
 * second), with the training memory (LoRA, s/b, Adam, activations, Γ). Models: the bundled
 * stories260K and a random-weight model with SmolLM2-135M's shape (--layers cuts its depth,
 * --vocab its vocabulary, for a run that ends in reasonable time on a CPU).
 *
 * Backends: the CPU reference only — the WebGPU backward kernels are not written yet, so
 * there is no WebGPU number to report (and none is made up here).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dirSource } from '../src/cli/fs-source';
import { CpuTrainingBackend } from '../src/engine/backend/cpu/cpu-grad';
import type { ModelConfig } from '../src/engine/model/config';
import { loadModel } from '../src/engine/model/load';
import { randomWeights, shapeConfig } from '../src/engine/model/random-model';
import type { HostTensor, ModelWeights } from '../src/engine/model/weights';
import { L4Q_DEFAULTS, L4QTrainer } from '../src/engine/quant/train';
import { seededRandom } from '../src/engine/random';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : fallback;
};
const T = Number(opt('tokens', '128'));
const batch = Number(opt('batch', '4'));
const steps = Number(opt('steps', '3'));
const which = opt('model', 'stories260K');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

async function bench(name: string, cfg: ModelConfig, weights: ModelWeights<HostTensor>) {
  const r = seededRandom(1);
  const samples = Array.from({ length: batch * 2 }, () => Int32Array.from({ length: T + 1 }, () => Math.floor(r() * cfg.vocabSize)));
  // warmup 0: every timed step is a joint (quantized) step; one extra untimed step warms the JIT.
  const tr = new L4QTrainer(new CpuTrainingBackend(), cfg, weights, samples, { ...L4Q_DEFAULTS, steps: steps + 1, warmup: 0, batch });
  await tr.trainStep();
  let ms = 0;
  for (let i = 0; i < steps; i++) ms += (await tr.trainStep()).ms;
  const perStep = ms / steps;
  const m = tr.memory();
  const mib = (b: number) => `${(b / 1048576).toFixed(2)} MiB`;
  console.log(
    `${name} cpu: ${(1000 / perStep).toFixed(3)} steps/s, ${((batch * T * 1000) / perStep).toFixed(1)} tokens/s (${batch} × ${T} tokens per step, ${perStep.toFixed(0)} ms/step); ` +
      `memory LoRA ${mib(m.loraBytes)}, s/b ${mib(m.quantParamBytes)}, Adam ${mib(m.optimizerBytes)}, activations ${mib(m.activationBytes)}, Γ ${mib(m.gradientBytes)}`,
  );
}

if (which === 'stories260K' || which === 'both') {
  const m = await loadModel('stories260K', dirSource(path.join(root, 'public/models/stories260K')));
  await bench('stories260K', m.config, m.weights);
}
if (which === 'smollm2' || which === 'both') {
  const layers = Number(opt('layers', '30'));
  const vocab = Number(opt('vocab', '49152'));
  const cfg = shapeConfig('SmolLM2-135M', { layers, vocab });
  await bench(`SmolLM2-135M shape (${layers} layers, vocab ${vocab}, random weights)`, cfg, randomWeights(cfg, 1));
}

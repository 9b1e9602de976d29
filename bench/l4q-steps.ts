/**
 * Times L4Q optimizer steps of the joint phase (fake-quantized forward, full backward, LoRA
 * and quantizer gradients, two Adam updates) on a training backend: shared by the Node bench
 * (bench/l4q-train.ts) and the Chromium one (bench/l4q-chromium.ts), so both time the same thing.
 */
import type { TrainingBackend } from '../src/engine/backend/training';
import type { ModelConfig } from '../src/engine/model/config';
import type { HostTensor, ModelWeights } from '../src/engine/model/weights';
import { L4Q_DEFAULTS, L4QTrainer, type TrainingMemory } from '../src/engine/quant/train';
import { seededRandom } from '../src/engine/random';

export interface TrainingTiming {
  msPerStep: number;
  stepsPerSecond: number;
  /** Predictions (scored tokens) per second: batch × tokens per step. */
  tokensPerSecond: number;
  batch: number;
  tokens: number;
  losses: number[];
  memory: TrainingMemory;
  /** Process CPU time per timed step, when the caller gave a CPU clock (Node). */
  cpuMsPerStep?: number;
}

/** Two batches of random token sequences (seeded), tokens + 1 ids each. */
export function trainingSamples(cfg: ModelConfig, o: { tokens: number; batch: number }): Int32Array[] {
  const r = seededRandom(1);
  return Array.from({ length: o.batch * 2 }, () => Int32Array.from({ length: o.tokens + 1 }, () => Math.floor(r() * cfg.vocabSize)));
}

export async function timeTrainingSteps(
  b: TrainingBackend,
  cfg: ModelConfig,
  weights: ModelWeights<HostTensor>,
  o: { tokens: number; batch: number; steps: number; cpuClock?: () => number },
): Promise<TrainingTiming> {
  const samples = trainingSamples(cfg, o);
  // warmup 0: every timed step is a joint (quantized) step; one extra untimed step compiles
  // pipelines and warms the JIT.
  const tr = new L4QTrainer(b, cfg, weights, samples, { ...L4Q_DEFAULTS, steps: o.steps + 1, warmup: 0, batch: o.batch });
  try {
    const losses = [(await tr.trainStep()).loss];
    let ms = 0;
    const cpu0 = o.cpuClock?.();
    for (let i = 0; i < o.steps; i++) {
      const s = await tr.trainStep();
      ms += s.ms;
      losses.push(s.loss);
    }
    const msPerStep = ms / o.steps;
    const t: TrainingTiming = { msPerStep, stepsPerSecond: 1000 / msPerStep, tokensPerSecond: (o.batch * o.tokens * 1000) / msPerStep, batch: o.batch, tokens: o.tokens, losses, memory: tr.memory() };
    if (o.cpuClock && cpu0 !== undefined) t.cpuMsPerStep = (o.cpuClock() - cpu0) / o.steps;
    return t;
  } finally {
    tr.dispose();
  }
}

export function describeTiming(name: string, backend: string, t: TrainingTiming): string {
  const mib = (x: number) => `${(x / 1048576).toFixed(2)} MiB`;
  const m = t.memory;
  const cpu = t.cpuMsPerStep === undefined ? '' : `, process CPU time ${t.cpuMsPerStep.toFixed(0)} ms/step`;
  return (
    `${name} · ${backend}: ${t.stepsPerSecond.toFixed(3)} steps/s, ${t.tokensPerSecond.toFixed(1)} tokens/s (${t.batch} × ${t.tokens} tokens per step, ${t.msPerStep.toFixed(0)} ms/step${cpu}); ` +
    `memory LoRA ${mib(m.loraBytes)}, s/b ${mib(m.quantParamBytes)}, Adam ${mib(m.optimizerBytes)}, activations ${mib(m.activationBytes)}, Γ ${mib(m.gradientBytes)}`
  );
}

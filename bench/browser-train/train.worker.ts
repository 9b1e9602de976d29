/**
 * The browser half of bench/l4q-chromium.ts: L4Q joint-phase training steps (bench/l4q-steps.ts)
 * on the WebGPU backend and on the CPU reference, in a worker as the studio's job runs them.
 */
import type { Backend } from '../../src/engine/backend/backend';
import { CpuTrainingBackend } from '../../src/engine/backend/cpu/cpu-grad';
import { isTrainingBackend } from '../../src/engine/backend/training';
import { createWebGpuBackend } from '../../src/engine/backend/webgpu';
import type { ModelConfig } from '../../src/engine/model/config';
import { loadModel } from '../../src/engine/model/load';
import { randomWeights, shapeConfig } from '../../src/engine/model/random-model';
import { urlSource } from '../../src/engine/model/source';
import type { HostTensor, ModelWeights } from '../../src/engine/model/weights';
import { timeTrainingSteps } from '../l4q-steps';

type Options = Partial<Record<'model' | 'tokens' | 'batch' | 'steps' | 'layers' | 'vocab' | 'backends', string>>;

async function run(o: Options) {
  let name: string;
  let cfg: ModelConfig;
  let weights: ModelWeights<HostTensor>;
  if ((o.model ?? 'stories260K') === 'stories260K') {
    const m = await loadModel('stories260K', urlSource(new URL('/models/stories260K/', self.location.href).href));
    name = 'stories260K';
    cfg = m.config;
    weights = m.weights;
  } else {
    cfg = shapeConfig('SmolLM2-135M', { layers: Number(o.layers ?? 2), vocab: Number(o.vocab ?? 4096) });
    name = `SmolLM2-135M shape, ${cfg.numLayers} layers, vocab ${cfg.vocabSize} (random weights)`;
    weights = randomWeights(cfg, 1);
  }
  const shape = { tokens: Number(o.tokens ?? 128), batch: Number(o.batch ?? 4), steps: Number(o.steps ?? 3) };
  const results = [];
  for (const kind of (o.backends ?? 'webgpu,cpu').split(',')) {
    if (kind === 'cpu') {
      results.push({ backend: 'cpu', device: 'CPU reference (JavaScript)', ...(await timeTrainingSteps(new CpuTrainingBackend(), cfg, weights, shape)) });
      continue;
    }
    const b = await createWebGpuBackend(navigator.gpu);
    try {
      const tb: Backend = b;
      if (!isTrainingBackend(tb)) throw new Error('this WebGPU backend has no backward kernels (GradOps)');
      results.push({ backend: 'webgpu', device: b.info.device, ...(await timeTrainingSteps(tb, cfg, weights, shape)) });
    } finally {
      b.destroy();
    }
  }
  return { model: name, userAgent: navigator.userAgent, results };
}

self.onmessage = async (e: MessageEvent<Options>) => {
  try {
    self.postMessage(await run(e.data));
  } catch (err) {
    self.postMessage({ error: err instanceof Error ? `${err.message}\n${err.stack ?? ''}` : String(err) });
  }
};

/**
 * The browser half of bench/l4q-chromium.ts: L4Q joint-phase training steps (bench/l4q-steps.ts)
 * on the WebGPU backend and on the CPU reference, in a worker as the studio's job runs them.
 */
import type { Backend } from '../../src/engine/backend/backend';
import { CpuTrainingBackend } from '../../src/engine/backend/cpu/cpu-grad';
import { isTrainingBackend } from '../../src/engine/backend/training';
import { createWebGpuBackend } from '../../src/engine/backend/webgpu';
import { timeTrainingSteps } from '../l4q-steps';
import { benchModel, serveBenchmark } from '../browser/bench-page';

type Options = Partial<Record<'model' | 'tokens' | 'batch' | 'steps' | 'layers' | 'vocab' | 'backends', string>>;

async function run(o: Options) {
  const { name, cfg, weights } = await benchModel({ ...o, layers: o.layers ?? '2', vocab: o.vocab ?? '4096' });
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

serveBenchmark(run);

/**
 * GPU and CPU give the same masks: Wanda (sequential) and FLAP on the bundled model with
 * calibration on the WebGPU backend (its statistics kernel, and host reads) against the
 * CPU reference. Skipped when no WebGPU adapter (or no WebGPU backend) is available; with
 * CI=true that fails instead.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Backend } from '../src/engine/backend/backend';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { calibrate, calibrationSamples, hostChannelSums, kernelChannelSums, type ChannelSumsFn } from '../src/engine/calibrate';
import { tokenStream } from '../src/engine/data';
import { LINEAR_NAMES } from '../src/engine/model/weights';
import { FLAP_DEFAULTS, flapPrune } from '../src/engine/prune/flap';
import { magnitudePrune } from '../src/engine/prune/magnitude';
import { pruneOpsFor } from '../src/engine/prune/ops';
import { runWanda, wandaPrune } from '../src/engine/prune/wanda';
import { bundledModel } from './support/bundled';
import { REPO_ROOT } from './support/paths';
import { prerequisiteMissing } from './support/skip';

/** The WebGPU backend on whatever adapter the test support finds, or why there is none. */
async function webGpuBackend(): Promise<Backend | string> {
  try {
    // Loaded lazily by name: the WebGPU backend and its test support are developed in their
    // own files; without them this test skips instead of failing to load.
    const spec = './support/webgpu';
    const support = (await import(/* @vite-ignore */ spec)) as {
      testGpu(): Promise<unknown>;
      webGpuUnavailable(): string;
      makeBackend(g: unknown): Promise<Backend>;
    };
    const gpu = await support.testGpu();
    if (!gpu) return support.webGpuUnavailable();
    return await support.makeBackend(gpu);
  } catch (e) {
    return `WebGPU backend unavailable: ${e instanceof Error ? e.message : String(e)}`;
  }
}

describe('GPU and CPU masks', () => {
  it('are identical for Wanda (50 %, 2:4), magnitude and FLAP (WIFV, WIFN), scored and selected on each backend', async (ctx) => {
    const gpu = await webGpuBackend();
    // Skips with the reason; with CI=true fails (support/skip.ts).
    if (typeof gpu === 'string') return prerequisiteMissing(ctx, gpu);
    const model = await bundledModel();
    const text = readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 12_000);
    const samples = calibrationSamples(tokenStream(model.tokenizer, text).ids, { samples: 4, seqlen: 64, offset: 0 });
    const settings = { sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false } as const;
    // Statistics, scores and selections all on the backend given (its PruneOps: the WebGPU
    // kernels on the GPU, the host reference on the CPU).
    const run = async (b: Backend, sumsFn: ChannelSumsFn) => {
      const ops = pruneOpsFor(b, 'device');
      const w = await runWanda(model.config, b, model.weights, samples, settings, { sumsFn, ops });
      const st = (await calibrate(model.config, b, model.weights, samples, { sumsFn })).stats;
      const w24 = await wandaPrune(model.weights, st, { ...settings, pattern: '2:4', mode: 'one-shot' }, ops);
      const flap = await Promise.all((['WIFV', 'WIFN'] as const).map(async (metric) => (await flapPrune(model.config, model.weights, st, { ...FLAP_DEFAULTS, metric }, ops)).kept));
      const magnitude = await magnitudePrune(model.weights, { sparsity: 0.5, pattern: 'unstructured', granularity: 'matrix' }, ops);
      return { ops, pruned: [w.weights, w24.weights, magnitude.weights], flap };
    };
    const ref = await run(new CpuBackend(), hostChannelSums);
    expect(ref.ops.device).toBe('cpu');
    try {
      for (const sumsFn of [kernelChannelSums, hostChannelSums]) {
        const got = await run(gpu, sumsFn);
        expect(got.ops.device).toBe(gpu.info.name);
        expect(got.flap).toEqual(ref.flap);
        got.pruned.forEach((weights, m) =>
          weights.layers.forEach((l, i) => {
            for (const n of LINEAR_NAMES) {
              const a = l[n].data;
              const r = ref.pruned[m]!.layers[i]![n].data;
              let diff = 0;
              for (let j = 0; j < a.length; j++) if ((a[j] === 0) !== (r[j] === 0)) diff++;
              expect(diff, `method ${m} layer ${i} ${n}`).toBe(0);
            }
          }),
        );
      }
      const fallbacks = (got: unknown) => (got as { hostFallbacks?: Map<string, number> }).hostFallbacks?.size ?? 0;
      expect(fallbacks(pruneOpsFor(gpu, 'device'))).toBe(0);
    } finally {
      gpu.destroy();
    }
  });
});

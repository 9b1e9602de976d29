/**
 * Magnitude and Wanda on the bundled model: exact sparsity per matrix / row / N:M block,
 * sequential against one-shot, the variant's target, and the experiment records of every
 * method (perplexity before and after on the same windows).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { calibrate, calibrationSamples, type LayerStats } from '../src/engine/calibrate';
import { tokenStream } from '../src/engine/data';
import { modelRefOf } from '../src/engine/experiment';
import type { LoadedModel } from '../src/engine/model/load';
import { LINEAR_NAMES, type HostTensor } from '../src/engine/model/weights';
import { runPruneExperiment } from '../src/engine/prune/experiment';
import { FLAP_DEFAULTS } from '../src/engine/prune/flap';
import { magnitudePrune } from '../src/engine/prune/magnitude';
import { countZeros } from '../src/engine/prune/report';
import { runWanda, wandaPrune } from '../src/engine/prune/wanda';
import { parseExperimentRecord, type MethodSpec } from '../src/engine/record';
import { bundledModel } from './support/bundled';
import { REPO_ROOT } from './support/paths';

let model: LoadedModel;
let text: string;
let samples: Int32Array[];
let denseStats: LayerStats[];
const b = new CpuBackend();

beforeAll(async () => {
  model = await bundledModel();
  text = readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 12_000);
  samples = calibrationSamples(tokenStream(model.tokenizer, text).ids, { samples: 4, seqlen: 64, offset: 200 });
  denseStats = (await calibrate(model.config, b, model.weights, samples)).stats;
});

function rowZeros(t: HostTensor): number[] {
  const [rows, cols] = t.shape as [number, number];
  return Array.from({ length: rows }, (_, r) => countZeros(t.data.subarray(r * cols, (r + 1) * cols)));
}

describe('magnitude', () => {
  it('per matrix prunes ⌊numel·p⌋ + 1 weights (no ties in these weights)', () => {
    const r = magnitudePrune(model.weights, { sparsity: 0.5, pattern: 'unstructured', granularity: 'matrix' });
    for (const l of r.layers) for (const m of l.matrices) expect(m.zeros).toBe(Math.floor(m.rows * m.cols * 0.5) + 1);
    expect(r.sparsity.kind).toBe('zeros');
    expect(r.sparsity.zerosAfter).toBe(226560 / 2 + 35);
    // Inputs are untouched (pure).
    expect(countZeros(model.weights.layers[0]!.q.data)).toBe(0);
  });

  it('per row and N:M prune exact counts', () => {
    const row = magnitudePrune(model.weights, { sparsity: 0.3, pattern: 'unstructured', granularity: 'row' });
    for (const l of row.weights.layers) for (const n of LINEAR_NAMES) for (const z of rowZeros(l[n])) expect(z).toBe(Math.floor(l[n].shape[1]! * 0.3));
    const nm = magnitudePrune(model.weights, { sparsity: 0.5, pattern: '4:8', granularity: 'matrix' });
    const down = nm.weights.layers[0]!.down;
    // 172 = 21·8 + 4: 21·4 + 4 zeros per row (the partial block is pruned whole).
    for (const z of rowZeros(down)) expect(z).toBe(88);
    expect(nm.layers[0]!.matrices.find((m) => m.name === 'down')!.sparsity).toBeCloseTo(88 / 172, 12);
    const l0 = magnitudePrune(model.weights, { sparsity: 0.5, pattern: '2:4', granularity: 'matrix' }).weights.layers[0]!;
    const q = l0.q.data;
    for (let i = 0; i < q.length; i += 4) expect(countZeros(q.subarray(i, i + 4))).toBe(2);
  });
});

describe('Wanda', () => {
  it('prunes exactly ⌊p·in⌋ per row', () => {
    const r = wandaPrune(model.weights, denseStats, { sparsity: 0.5, pattern: 'unstructured', mode: 'one-shot', variant: false });
    for (const l of r.weights.layers) for (const n of LINEAR_NAMES) for (const z of rowZeros(l[n])) expect(z).toBe(Math.floor(l[n].shape[1]! / 2));
    expect(r.sparsity.achieved).toBe(0.5);
  });

  it('sequential: layer 0 as one-shot, later layers calibrated on pruned outputs', async () => {
    const s = { sparsity: 0.5, pattern: 'unstructured', variant: false } as const;
    const seq = await runWanda(model.config, b, model.weights, samples, { ...s, mode: 'sequential' });
    const one = await runWanda(model.config, b, model.weights, samples, { ...s, mode: 'one-shot' });
    expect(seq.weights.layers[0]).toEqual(one.weights.layers[0]);
    expect(seq.weights.layers[3]!.down.data).not.toEqual(one.weights.layers[3]!.down.data);
    expect(seq.layers.map((l) => l.layer)).toEqual([0, 1, 2, 3, 4]);
  });

  it('variant reaches the target within 0.001 per matrix (or stops on the α interval)', () => {
    const r = wandaPrune(model.weights, denseStats, { sparsity: 0.5, pattern: 'unstructured', mode: 'one-shot', variant: true });
    for (const l of r.layers) {
      for (const m of l.matrices) {
        expect(m.alpha).toBeGreaterThan(0);
        expect(m.alpha).toBeLessThan(0.8);
        expect(Math.abs(m.sparsity - 0.5)).toBeLessThan(0.01);
      }
    }
    expect(Math.abs(r.sparsity.achieved - 0.5)).toBeLessThan(0.002);
    // Rows get different counts.
    const zeros = rowZeros(r.weights.layers[1]!.gate);
    expect(new Set(zeros).size).toBeGreaterThan(1);
  });
});

describe('experiment records', () => {
  it('every method gives a valid record with before/after on the same windows', async () => {
    const methods: MethodSpec[] = [
      { name: 'magnitude', sparsity: 0.5, pattern: '2:4', granularity: 'matrix' },
      { name: 'wanda', sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false },
      { name: 'flap', ...FLAP_DEFAULTS },
    ];
    let baseline: number | null = null;
    for (const method of methods) {
      const r = await runPruneExperiment({
        model,
        modelRef: modelRefOf(model, 'bundled'),
        backend: b,
        text,
        dataset: { name: 'stories-prefix', source: 'paste' },
        seqlen: 128,
        windows: '0:2',
        calibration: { sampling: { samples: 4, seqlen: 64, offset: 200 } },
        method,
        runtime: 'node',
      });
      const rec = parseExperimentRecord(JSON.parse(JSON.stringify(r.record)));
      expect(rec.method).toEqual(method);
      expect(rec.scoredTokens).toBe(2 * 127);
      expect(rec.baseline!.scoredTokens).toBe(rec.scoredTokens);
      baseline ??= rec.baseline!.ppl;
      expect(rec.baseline!.ppl).toBe(baseline);
      expect(rec.ppl).toBeGreaterThan(rec.baseline!.ppl);
      expect(rec.layers).toHaveLength(5);
      expect(rec.timings.evalMs).toBeGreaterThan(0);
      expect(rec.timings.baselineEvalMs).toBeGreaterThan(0);
      if (method.name === 'magnitude') {
        expect(rec.calibration).toBeUndefined();
        expect(rec.sparsity!.achieved).toBe(0.5);
      } else {
        expect(rec.calibration).toMatchObject({ samples: 4, seqlen: 64, offset: 200, sampling: 'contiguous' });
        expect(rec.timings.calibrateMs).toBeGreaterThan(0);
      }
      if (method.name === 'flap') {
        expect(rec.sparsity!.kind).toBe('removed');
        expect(rec.parametersAfter).toBeLessThan(model.parameters);
        expect(r.config.layerShapes).toBeTruthy();
      }
    }
  });
});

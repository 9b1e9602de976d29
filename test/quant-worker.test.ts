/**
 * The worker's `quantize` job from Node (bundled files over HTTP, as the page gets them):
 * an RTN record with sizes and progress, settings validated, prune-then-quantize keeping
 * the zeros, cancellation.
 */
import { describe, expect, it } from 'vitest';
import { LINEAR_NAMES } from '../src/engine/model/weights';
import { parseExperimentRecord, type MethodSpec } from '../src/engine/record';
import type { JobEvent } from '../src/worker/protocol';
import { PASTED_STORY, servedEngineApi } from './support/served-engine';

const served = servedEngineApi({ loadBundled: true });

const job = (jobId: string, method: MethodSpec, extra: object = {}) => ({ jobId, method, dataset: PASTED_STORY, datasetsUrl: `${served.base}datasets/`, seqlen: 64, windows: '0:2', backend: 'cpu' as const, ...extra });

describe('worker quantize job', () => {
  it('quantizes with RTN, reports phases, returns sizes and before/after perplexity', async () => {
    const events: JobEvent[] = [];
    const r = parseExperimentRecord(await served.api.quantize(job('q-1', { name: 'rtn', bits: 3, groupSize: 32, symmetric: false }), (e) => events.push(e)));
    expect(r.method).toEqual({ name: 'rtn', bits: 3, groupSize: 32, symmetric: false });
    expect(r.baseline!.scoredTokens).toBe(r.scoredTokens);
    expect(r.ppl).toBeGreaterThan(r.baseline!.ppl);
    expect(r.size!.bytesAfter).toBeLessThan(r.size!.bytesBefore / 2);
    expect(new Set(events.map((e) => e.phase))).toEqual(new Set(['tokenize', 'baseline', 'quantize', 'evaluate']));
    expect(served.api.lastCompressed()!.weights.layers[0]!.gate.packed?.bits).toBe(3);
  });

  it('refuses bad settings and a prune-then-quantize without a pruned model', async () => {
    await expect(served.api.quantize(job('q-2', { name: 'rtn', bits: 9, groupSize: 32, symmetric: true } as MethodSpec), () => {})).rejects.toThrow(/quantization settings/);
    await expect(served.api.quantize(job('q-3', { name: 'magnitude', sparsity: 0.5, pattern: 'unstructured', granularity: 'matrix' }), () => {})).rejects.toThrow(/not a quantization method/);
    // The last compressed model is the quantized one from the first test.
    await expect(served.api.quantize(job('q-4', { name: 'rtn', bits: 4, groupSize: 64, symmetric: true }, { afterPrune: true }), () => {})).rejects.toThrow(/already quantized/);
  });

  it('prune then quantize: the pruned zeros stay exactly zero in the integer model', async () => {
    await served.api.prune(
      {
        ...job('p-1', { name: 'magnitude', sparsity: 0.5, pattern: '2:4', granularity: 'matrix' }),
        calibration: { dataset: { kind: 'bundled', name: 'tinystories' }, sampling: { samples: 1, seqlen: 8, offset: 0, seed: null } },
      },
      () => {},
    );
    const pruned = served.api.lastCompressed()!.weights;
    const r = await served.api.quantize(job('q-5', { name: 'rtn', bits: 4, groupSize: 64, symmetric: true }, { afterPrune: true }), () => {});
    const q = served.api.lastCompressed()!;
    expect(q.recordId).toBe(r.id);
    let zeros = 0;
    pruned.layers.forEach((l, i) => {
      for (const n of LINEAR_NAMES) {
        const after = q.weights.layers[i]![n].data;
        l[n].data.forEach((v, j) => {
          if (v === 0) {
            zeros++;
            expect(Math.abs(after[j]!)).toBe(0); // −0 with a negative symmetric scale
          }
        });
      }
    });
    expect(zeros).toBeGreaterThan(100_000);
  });

  it('a cancelled job rejects as cancelled', async () => {
    const p = served.api.quantize(job('q-6', { name: 'rtn', bits: 4, groupSize: 64, symmetric: false }), () => {});
    served.api.cancel('q-6');
    await expect(p).rejects.toThrow(/cancelled/);
  });
});

/**
 * The worker's engine API driven from Node, against the bundled files served over HTTP on
 * 127.0.0.1 (as the page serves them): load, evaluate, prune with before/after numbers,
 * cancellation, and a failed load keeping the earlier model.
 */
import { describe, expect, it } from 'vitest';
import { parseExperimentRecord } from '../src/engine/record';
import type { JobEvent } from '../src/worker/protocol';
import { loadBundled, PASTED_STORY, servedEngineApi, storyPruneJob } from './support/served-engine';

const served = servedEngineApi();

describe('engine API (worker)', () => {
  it('loads the bundled model over HTTP and reports download progress', async () => {
    const events: JobEvent[] = [];
    const s = await loadBundled(served.api, served.base, 'auto', (e) => events.push(e), 'load-1');
    expect(s.ref.parameters).toBe(260032);
    expect(s.backend.name).toBe('wasm');
    expect(s.fallbackReason).toMatch(/WebGPU is not available/);
    expect(events.some((e) => e.phase === 'download' && e.unit === 'bytes' && e.done === e.total)).toBe(true);
  });

  it('keeps the earlier model when a load fails', async () => {
    await expect(served.api.loadModel({ jobId: 'load-2', id: 'missing', url: `${served.base}models/missing/`, source: 'local', backend: 'cpu' }, () => {})).rejects.toThrow(
      /config\.json: not found \(HTTP 404\)/,
    );
    const r = await served.api.evaluate({ jobId: 'ev-1', dataset: PASTED_STORY, datasetsUrl: `${served.base}datasets/`, seqlen: 64, windows: '0:1', backend: 'cpu' }, () => {});
    expect(r.model.id).toBe('stories260K');
  });

  it('prunes with Wanda and returns before/after on the same windows', async () => {
    const phases = new Set<string>();
    const r = await served.api.prune(
      storyPruneJob(served.base, 'prune-1', { name: 'wanda', sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false }),
      (e) => phases.add(e.phase),
    );
    const rec = parseExperimentRecord(JSON.parse(JSON.stringify(r)));
    expect(rec.method.name).toBe('wanda');
    expect(rec.baseline).toBeDefined();
    expect(rec.baseline!.scoredTokens).toBe(rec.scoredTokens);
    expect(rec.ppl).toBeGreaterThan(rec.baseline!.ppl);
    expect(rec.sparsity?.kind).toBe('zeros');
    expect(rec.sparsity?.achieved).toBeCloseTo(0.5, 2);
    // Sequential Wanda prunes each layer inside its calibration pass.
    expect([...phases]).toEqual(expect.arrayContaining(['baseline', 'calibrate', 'evaluate']));
    expect(served.api.lastCompressed()?.recordId).toBe(rec.id);
  });

  it('refuses method settings that do not fit the schema', async () => {
    const bad = { name: 'wanda', sparsity: 1.5, pattern: 'unstructured', mode: 'sequential', variant: false } as const;
    await expect(
      served.api.prune(
        storyPruneJob(served.base, 'prune-bad', bad, { windows: '0:1', calibration: { dataset: PASTED_STORY, sampling: { samples: 2, seqlen: 32, offset: 0, seed: null } } }),
        () => {},
      ),
    ).rejects.toThrow(/method settings: sparsity/);
  });

  it('cancels a prune job', async () => {
    const run = served.api.prune(
      storyPruneJob(served.base, 'prune-2', { name: 'wanda', sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false }, { windows: '0:4', calibration: { dataset: PASTED_STORY, sampling: { samples: 8, seqlen: 64, offset: 0, seed: null } } }),
      (e) => {
        if (e.phase === 'calibrate') served.api.cancel('prune-2');
      },
    );
    await expect(run).rejects.toThrow(/cancelled/);
  });
});

/**
 * The worker API's generation, teaching-mode and histogram calls, driven from Node against
 * the bundled files served over HTTP (CPU backend): streaming, seeded sampling, the dense
 * and the last compressed model, cancellation, and clear errors.
 */
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { generate } from '../src/engine/generate';
import { LlamaModel } from '../src/engine/model/llama';
import type { GenerateEvent, GenerateRequest } from '../src/worker/protocol';
import { bundledModel } from './support/bundled';
import { PASTED_STORY, servedEngineApi, storyPruneJob } from './support/served-engine';

const served = servedEngineApi({ loadBundled: true });

const req = (over: Partial<GenerateRequest> = {}): GenerateRequest => ({
  jobId: 'gen',
  model: 'dense',
  prompt: 'Once upon a time',
  maxNewTokens: 30,
  temperature: 0,
  topK: 0,
  topP: 1,
  seed: 0,
  backend: 'cpu',
  ...over,
});

describe('generate (worker API)', () => {
  it('refuses the compressed model before any pruning run', async () => {
    await expect(served.api.generate(req({ model: 'compressed' }), () => {})).rejects.toThrow(/no compressed model yet/);
    await expect(served.api.generate(req({ maxNewTokens: 0 }), () => {})).rejects.toThrow(/new tokens/);
  });

  it('streams greedy text from the dense model, equal to the engine generate', async () => {
    const events: GenerateEvent[] = [];
    const r = await served.api.generate(req(), (e) => events.push(e));
    const m = await bundledModel();
    const prompt = [1, ...m.tokenizer.encode('Once upon a time')];
    const want = await generate(new LlamaModel(m.config, new CpuBackend(), m.weights), prompt, { maxNewTokens: 30, stopIds: [1, 2] });
    expect(r.ids).toEqual(want);
    expect(r.promptTokens).toBe(prompt.length);
    expect(r.text.startsWith(r.promptText)).toBe(true);
    expect(r.text.length).toBeGreaterThan(r.promptText.length);
    expect(events).toHaveLength(r.ids.length);
    expect(events.at(-1)!.text).toBe(r.text);
    expect(r.tokensPerSecond).toBeGreaterThan(0);
    expect(r.recordId).toBeNull();
  });

  it('seeded sampling is reproducible and depends on the seed', async () => {
    const a = await served.api.generate(req({ temperature: 1, topK: 40, topP: 0.95, seed: 5 }), () => {});
    const b = await served.api.generate(req({ temperature: 1, topK: 40, topP: 0.95, seed: 5 }), () => {});
    const c = await served.api.generate(req({ temperature: 1, topK: 40, topP: 0.95, seed: 6 }), () => {});
    expect(b.ids).toEqual(a.ids);
    expect(c.ids).not.toEqual(a.ids);
  });

  it('generates with the last compressed model, and compares its weights in a histogram', async () => {
    const rec = await served.api.prune(
      storyPruneJob(served.base, 'prune', { name: 'wanda', sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false }, { windows: '0:1' }),
      () => {},
    );
    const dense = await served.api.generate(req(), () => {});
    const pruned = await served.api.generate(req({ model: 'compressed' }), () => {});
    expect(pruned.recordId).toBe(rec.id);
    expect(pruned.ids).not.toEqual(dense.ids);

    const h = await served.api.weightHistogram({ layer: 1, matrix: 'up', bins: 40 });
    expect(h.recordId).toBe(rec.id);
    expect(h.edges).toHaveLength(41);
    expect(h.dense.counts.reduce((x, y) => x + y)).toBe(172 * 64);
    expect(h.compressed!.counts.reduce((x, y) => x + y)).toBe(172 * 64);
    expect(h.compressed!.zeros).toBe(172 * 32);
    await expect(served.api.weightHistogram({ layer: 7, matrix: 'up', bins: 40 })).rejects.toThrow(/layer 7 does not exist/);
  });

  it('cancels a generation between tokens', async () => {
    const run = served.api.generate(req({ jobId: 'gen-cancel', maxNewTokens: 500, prompt: '' }), (e) => {
      if (e.tokens === 5) served.api.cancel('gen-cancel');
    });
    await expect(run).rejects.toThrow(/cancelled/);
  });
});

describe('inspectLayer (worker API)', () => {
  it('explains one FLAP layer on the calibration text, and names a bad request', async () => {
    const calibration = { dataset: PASTED_STORY, sampling: { samples: 4, seqlen: 32, offset: 10, seed: null } };
    const flap = { name: 'flap', pruningRatio: 0.2, metric: 'WIFV', structure: 'AL-AM', removeHeads: null, headCost: 'truncated', gqaUnit: 'group', biasCompensation: true, fluctuation: 'official', baselineDtype: 'fp32' } as const;
    const phases = new Set<string>();
    const r = await served.api.inspectLayer({ jobId: 'insp', method: flap, layer: 0, matrix: 'o', calibration, datasetsUrl: `${served.base}datasets/`, backend: 'cpu' }, (e) => phases.add(e.phase));
    expect(r.method).toBe('flap');
    expect(r.input.tokens).toBe(128);
    expect(r.flap!.heads).toBe(8);
    expect([...phases]).toEqual(expect.arrayContaining(['calibrate', 'evaluate']));
    await expect(
      served.api.inspectLayer({ jobId: 'insp2', method: { ...flap, pruningRatio: 2 }, layer: 0, matrix: 'o', calibration, datasetsUrl: `${served.base}datasets/`, backend: 'cpu' }, () => {}),
    ).rejects.toThrow(/method settings: pruningRatio/);
  });
});

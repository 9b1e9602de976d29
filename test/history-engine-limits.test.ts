/**
 * The engine's job checks refuse runs whose record could not be saved (RECORD_LIMITS), with
 * the limit in the message, before any window runs: an explicit window range over the
 * limit, "all" windows at seqlen 2 on the bundled text (known only after tokenizing),
 * L4Q steps over the limit, calibration samples over the limit.
 */
import { describe, expect, it } from 'vitest';
import type { L4QMethod } from '../src/engine/record';
import type { JobEvent } from '../src/worker/protocol';
import { main } from '../src/cli/main';
import { PASTED_STORY, servedEngineApi, storyPruneJob } from './support/served-engine';

const served = servedEngineApi({ loadBundled: true });
const L4Q: L4QMethod = { name: 'l4q', bits: 4, groupSize: 32, symmetric: false, rank: 4, alpha: 8, steps: 100_001, warmup: 0, lr: 1e-3, lrQuant: 1e-3, batch: 1, seed: 0, init: 'l4q', gradScale: null };

describe('engine job limits', () => {
  it('refuses an explicit window range over the limit before downloading anything', async () => {
    const events: JobEvent[] = [];
    await expect(served.api.evaluate({ jobId: 'w1', dataset: { kind: 'bundled', name: 'tinystories' }, datasetsUrl: `${served.base}datasets/`, seqlen: 2, windows: '0:100001', backend: 'cpu' }, (e) => events.push(e))).rejects.toThrow(
      'windows 0:100001 are 100001 windows, over the limit of 100000 per run; choose fewer windows',
    );
    expect(events).toEqual([]);
  });

  it('refuses "all" windows at seqlen 2 on the bundled text after tokenizing, before any window runs', async () => {
    const phases: string[] = [];
    await expect(served.api.evaluate({ jobId: 'w2', dataset: { kind: 'bundled', name: 'tinystories' }, datasetsUrl: `${served.base}datasets/`, seqlen: 2, windows: 'all', backend: 'cpu' }, (e) => phases.push(e.phase))).rejects.toThrow(
      /windows 0:196509 are 196509 windows of 2 tokens, over the limit of 100000 per run/,
    );
    expect(phases).not.toContain('evaluate');
  });

  it('refuses L4Q steps and calibration samples over the limits', async () => {
    const calibration = { dataset: PASTED_STORY, sampling: { samples: 2, seqlen: 32, offset: 0, seed: null } };
    await expect(
      served.api.l4q({ jobId: 'l1', method: L4Q, dataset: PASTED_STORY, datasetsUrl: `${served.base}datasets/`, seqlen: 64, windows: '0:1', calibration, backend: 'cpu' }, () => {}),
    ).rejects.toThrow(/L4Q settings: steps: .*100000/);
    await expect(
      served.api.prune(storyPruneJob(served.base, 'p1', { name: 'wanda', sparsity: 0.5, pattern: 'unstructured', mode: 'sequential', variant: false }, { calibration: { ...calibration, sampling: { samples: 100_001, seqlen: 32, offset: 0, seed: null } } }), () => {}),
    ).rejects.toThrow('Calibration: 100001 samples is over the limit of 100000');
  });
});

describe('CLI job limits', () => {
  const run = async (args: string[]) => {
    let out = '';
    let err = '';
    const code = await main(args, { out: (x) => (out += x), err: (x) => (err += x) });
    return { code, out, err };
  };

  it('studio quantize --method l4q refuses steps over the limit; studio eval refuses "all" at seqlen 2', async () => {
    const l4q = await run(['quantize', '--method', 'l4q', '--model', 'stories260K', '--seqlen', '64', '--windows', '0:1', '--steps', '100001', '--warmup', '0', '--json']);
    expect(l4q.code).not.toBe(0);
    expect(l4q.err).toMatch(/L4Q: 100001 steps is over the limit of 100000/);
    const ev = await run(['eval', '--model', 'stories260K', '--dataset', 'tinystories', '--seqlen', '2', '--windows', 'all', '--json']);
    expect(ev.code).not.toBe(0);
    expect(ev.err).toMatch(/196509 windows of 2 tokens, over the limit of 100000 per run/);
  });
});

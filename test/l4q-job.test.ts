/**
 * The L4Q training job through the worker's engine API (Node, bundled model over HTTP):
 * streamed loss curve with step/ETA progress, pause/resume/cancel, determinism for a seed,
 * a valid record with sizes and memory, and refused settings.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExperimentRecord, type L4QMethod } from '../src/engine/record';
import { createEngineApi, type EngineApi } from '../src/worker/engine-api';
import { isL4QStepEvent, type L4QEvent, type L4QJobRequest, type L4QStepEvent } from '../src/worker/protocol';
import { REPO_ROOT } from './support/paths';

const PUBLIC = path.join(REPO_ROOT, 'public');
let server: Server;
let base = '';
let api: EngineApi;

beforeAll(async () => {
  server = createServer((req, res) => {
    const file = path.join(PUBLIC, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
    if (!file.startsWith(PUBLIC) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/`;
  api = createEngineApi(() => undefined);
  await api.loadModel({ jobId: 'load', id: 'stories260K', url: `${base}models/stories260K/`, source: 'bundled', backend: 'cpu' }, () => {});
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

const paste = { kind: 'text' as const, name: 'story', source: 'paste' as const, text: 'Once upon a time, there was a little girl named Lily. She liked to play with her red ball in the park.\n'.repeat(40) };

const method: L4QMethod = { name: 'l4q', bits: 3, groupSize: 32, symmetric: false, rank: 2, alpha: 4, steps: 6, warmup: 2, lr: 1e-3, lrQuant: 1e-4, batch: 2, seed: 3, init: 'l4q', gradScale: null };

function request(jobId: string, m: L4QMethod = method): L4QJobRequest {
  return {
    jobId,
    method: m,
    dataset: paste,
    datasetsUrl: `${base}datasets/`,
    seqlen: 64,
    windows: '0:1',
    calibration: { dataset: paste, sampling: { samples: 4, seqlen: 24, offset: 0, seed: null } },
    backend: 'cpu',
  };
}

describe('L4Q job (worker API)', () => {
  it('streams every step with ETA and returns a valid record; the same seed gives the same curve', async () => {
    const events: L4QEvent[] = [];
    const r = await api.l4q(request('l4q-1'), (e) => events.push(e));
    const steps = events.filter(isL4QStepEvent);
    expect(steps.map((s) => s.step)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(steps.every((s) => s.run === 'l4q')).toBe(true);
    expect(steps.map((s) => s.phase)).toEqual(['warmup', 'warmup', 'joint', 'joint', 'joint', 'joint']);
    expect(steps.every((s) => s.total === 6 && s.etaMs >= 0 && Number.isFinite(s.loss))).toBe(true);
    expect(steps[5]!.etaMs).toBe(0);
    expect(events.some((e) => !isL4QStepEvent(e) && e.phase === 'train')).toBe(true);
    const rec = parseExperimentRecord(JSON.parse(JSON.stringify(r)));
    expect(rec.method.name).toBe('l4q');
    expect(rec.training!.loss.map((p) => p.loss)).toEqual(steps.map((s) => s.loss));
    expect(rec.training!.rtn).not.toBeNull();
    expect(rec.training!.rtnLoraLoss).toBeUndefined();
    expect(rec.size!.linearBytesAfter).toBeLessThan(rec.size!.linearBytesBefore / 4);
    expect(rec.training!.memory.loraBytes).toBeGreaterThan(0);
    expect(rec.training!.memory.activationBytes).toBeGreaterThan(0);
    // The last compressed model is the packed integer one.
    expect(api.lastCompressed()!.weights.layers[0]!.q.packed?.bits).toBe(3);

    const again = await api.l4q({ ...request('l4q-2'), compareRtn: false }, () => {});
    expect(again.training!.loss).toEqual(rec.training!.loss);
    expect(again.ppl).toBe(rec.ppl);
  });

  it('trains the RTN-then-LoRA baseline first when asked: its own phase in steps, its perplexity in the record', async () => {
    const events: L4QEvent[] = [];
    const r = await api.l4q({ ...request('l4q-base', { ...method, steps: 3, warmup: 1 }), compareRtnLora: true }, (e) => events.push(e));
    const phases = events.filter((e) => !isL4QStepEvent(e));
    const base = phases.filter((e) => e.phase === 'train-baseline');
    expect(base.filter((e) => e.total !== null).map((e) => [e.done, e.total, e.unit])).toEqual([
      [1, 3, 'steps'],
      [2, 3, 'steps'],
      [3, 3, 'steps'],
    ]);
    // Before L4Q's own training; its steps stream as the baseline's, then L4Q's.
    expect(phases.findIndex((e) => e.phase === 'train-baseline')).toBeLessThan(phases.findIndex((e) => e.phase === 'train'));
    const steps = events.filter(isL4QStepEvent);
    expect(steps.map((e) => [e.run, e.step, e.phase])).toEqual([
      ['rtn-lora', 0, 'warmup'],
      ['rtn-lora', 1, 'warmup'],
      ['rtn-lora', 2, 'warmup'],
      ['l4q', 0, 'warmup'],
      ['l4q', 1, 'joint'],
      ['l4q', 2, 'joint'],
    ]);
    // The baseline's time left includes L4Q's steps still to come.
    expect(steps[2]!.etaMs).toBeGreaterThan(0);
    const rec = parseExperimentRecord(JSON.parse(JSON.stringify(r)));
    // The record keeps both curves, as they streamed.
    expect(rec.training!.rtnLoraLoss).toEqual(steps.slice(0, 3).map((e) => ({ step: e.step, loss: e.loss })));
    expect(rec.training!.loss.map((p) => p.loss)).toEqual(steps.slice(3).map((e) => e.loss));
    expect(rec.training!.rtnLora!.ppl).toBeGreaterThan(1);
    expect(rec.training!.rtnLora!.ppl).not.toBe(rec.training!.rtn!.ppl);
    expect(rec.training!.rtnLora!.scoredTokens).toBe(rec.scoredTokens);
    // Merged and rounded again: an integer model, not the float-adapter one.
    expect(rec.training!.rtnLoraMerged!.ppl).toBeGreaterThan(1);
    expect(rec.training!.rtnLoraMerged!.ppl).not.toBe(rec.training!.rtnLora!.ppl);
  });

  it('pauses between steps, resumes, and cancels a paused job at once', async () => {
    const steps: L4QStepEvent[] = [];
    let paused!: () => void;
    const pausedAt = new Promise<void>((r) => (paused = r));
    const job = api.l4q({ ...request('l4q-3', { ...method, steps: 4 }), compareRtn: false }, (e) => {
      if (!isL4QStepEvent(e)) return;
      steps.push(e);
      if (e.step === 1) {
        api.pause('l4q-3');
        paused();
      }
    });
    await pausedAt;
    await new Promise((r) => setTimeout(r, 400));
    expect(steps).toHaveLength(2);
    api.resume('l4q-3');
    const r = await job;
    expect(r.training!.loss).toHaveLength(4);

    let pausedB!: () => void;
    const atB = new Promise<void>((r2) => (pausedB = r2));
    const jobB = api.l4q({ ...request('l4q-4'), compareRtn: false }, (e) => {
      if (isL4QStepEvent(e) && e.step === 0) {
        api.pause('l4q-4');
        pausedB();
      }
    });
    await atB;
    api.cancel('l4q-4');
    await expect(jobB).rejects.toThrow(/cancelled/);
  });

  it('refuses bad settings with a message', async () => {
    await expect(api.l4q(request('l4q-5', { ...method, steps: 0 }), () => {})).rejects.toThrow(/L4Q settings: steps/);
    await expect(api.l4q(request('l4q-6', { ...method, warmup: 9 }), () => {})).rejects.toThrow(/warm-up/);
    // The last compressed model is the L4Q one from above: quantizing it again is refused.
    await expect(api.l4q({ ...request('l4q-7'), afterPrune: true }, () => {})).rejects.toThrow(/already quantized/);
  });
});

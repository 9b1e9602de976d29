/**
 * The perplexity protocol on the bundled model: windows, scored-token counts, the record,
 * and agreement with an independent llama2.c forward pass on the original checkpoint.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { parseWindows, tokenStream, windowCount, windowTokens } from '../src/engine/data';
import { evaluatePerplexity } from '../src/engine/eval/perplexity';
import { modelRefOf, runEvaluation } from '../src/engine/experiment';
import { LlamaModel } from '../src/engine/model/llama';
import type { LoadedModel } from '../src/engine/model/load';
import { parseExperimentRecord } from '../src/engine/record';
import { CancelledError } from '../src/engine/errors';
import { bundledModel, originalCheckpoint } from './support/bundled';
import { llama2cForward, nllOf } from './support/llama2c-reference';
import { REPO_ROOT } from './support/paths';

const text = readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8');
let model: LoadedModel;
let stream: Int32Array;

beforeAll(async () => {
  model = await bundledModel();
  stream = tokenStream(model.tokenizer, text).ids;
});

describe('windows', () => {
  it('parses window ranges', () => {
    expect(parseWindows('0:20', 759)).toEqual({ start: 0, end: 20 });
    expect(parseWindows('5', 759)).toEqual({ start: 5, end: 6 });
    expect(parseWindows('700:', 759)).toEqual({ start: 700, end: 759 });
    expect(parseWindows(':3', 759)).toEqual({ start: 0, end: 3 });
    expect(parseWindows('all', 759)).toEqual({ start: 0, end: 759 });
    expect(() => parseWindows('0:900', 759)).toThrow(/windows 0:900 out of range: the text has 759 windows/);
    expect(() => parseWindows('4:4', 759)).toThrow(/empty or invalid/);
    expect(() => parseWindows('a-b', 759)).toThrow(/not of the form A:B/);
  });

  it('refuses sequence lengths that cannot make a window', async () => {
    const lm = new LlamaModel(model.config, new CpuBackend(), model.weights);
    for (const seqlen of [0, 1, 2.5, 513]) {
      await expect(evaluatePerplexity(lm, stream, { seqlen, windows: { start: 0, end: 1 } })).rejects.toThrow(/seqlen/);
    }
  });

  it('builds the stream as BOS + encode(whole text)', () => {
    expect(stream[0]).toBe(1);
    expect(stream.length).toBe(393019);
    expect(windowCount(stream.length, 512)).toBe(767);
    expect([...windowTokens(stream, 512, 2)]).toEqual([...stream.subarray(1024, 1536)]);
  });
});

describe('perplexity', () => {
  it('agrees with an independent llama2.c forward pass on the original checkpoint', async () => {
    const ck = originalCheckpoint();
    const lm = new LlamaModel(model.config, new CpuBackend(), model.weights);
    for (const w of [0, 300]) {
      const ids = windowTokens(stream, 512, w);
      const refLogits = llama2cForward(ck, [...ids.subarray(0, 511)]);
      let refSum = 0;
      refLogits.forEach((l, t) => (refSum += nllOf(l, ids[t + 1]!)));
      const r = await evaluatePerplexity(lm, stream, { seqlen: 512, windows: { start: w, end: w + 1 } });
      expect(r.scoredTokens).toBe(511);
      expect(Math.abs(r.meanNll - refSum / 511) / (refSum / 511)).toBeLessThan(1e-5);
    }
  });

  it('gives ppl 4.002 on tinystories windows 0:20 (reference stream protocol: 3.66)', async () => {
    const lm = new LlamaModel(model.config, new CpuBackend(), model.weights);
    const r = await evaluatePerplexity(lm, stream, { seqlen: 512, windows: { start: 0, end: 20 } });
    expect(r.scoredTokens).toBe(20 * 511);
    expect(r.windowMeanNll).toHaveLength(20);
    // Our protocol keeps the file's blank lines and has no per-story BOS (see docs/perplexity.md), so it
    // sits above the reference's 3.66 on block-joined text; the figure itself is pinned.
    expect(r.ppl).toBeGreaterThan(3.5);
    expect(r.ppl).toBeLessThan(4.5);
    expect(r.ppl).toBeCloseTo(4.0022, 3);
    expect(r.ppl).toBeCloseTo(Math.exp(r.windowMeanNll.reduce((a, b) => a + b, 0) / 20), 10);
  });

  it('stops when cancelled', async () => {
    const lm = new LlamaModel(model.config, new CpuBackend(), model.weights);
    const ctl = new AbortController();
    const run = evaluatePerplexity(lm, stream, {
      seqlen: 64,
      windows: { start: 0, end: 50 },
      signal: ctl.signal,
      onProgress: (p) => {
        if (p.done === 3) ctl.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
  });

  it('produces a valid ExperimentRecord', async () => {
    const catsText = 'Once upon a time there was a cat. '.repeat(40);
    const rec = await runEvaluation({
      model,
      modelRef: modelRefOf(model, 'bundled'),
      backend: new CpuBackend(),
      text: catsText,
      dataset: { name: 'cats', source: 'paste' },
      seqlen: 64,
      windows: '0:3',
      runtime: 'node',
    });
    expect(parseExperimentRecord(JSON.parse(JSON.stringify(rec)))).toEqual(rec);
    expect(rec.scoredTokens).toBe(3 * 63);
    expect(rec.protocol.windows).toEqual({ start: 0, end: 3 });
    expect(rec.protocol.stream).toBe('bos+text');
    expect(rec.ppl).toBeCloseTo(Math.exp(rec.meanNll), 12);
    const lm = new LlamaModel(model.config, new CpuBackend(), model.weights);
    const direct = await evaluatePerplexity(lm, tokenStream(model.tokenizer, catsText).ids, {
      seqlen: 64,
      windows: { start: 0, end: 3 },
    });
    expect(rec.meanNll).toBe(direct.meanNll);
  });
});

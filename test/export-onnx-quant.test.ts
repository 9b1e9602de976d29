/**
 * Quantized models exported with com.microsoft.MatMulNBits (block size = group size) run
 * in onnxruntime-web (wasm EP) with the engine's perplexity: RTN 4-bit asymmetric (packed
 * integer zero points) and symmetric (default zero point 8, negative scales), per-channel
 * rows re-blocked to a power of two, L4Q's float zero points, and a FLAP-pruned model
 * quantized afterwards.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { calibrate, calibrationSamples } from '../src/engine/calibrate';
import { tokenStream } from '../src/engine/data';
import { evaluatePerplexity } from '../src/engine/eval/perplexity';
import { exportOnnxModel } from '../src/engine/export/onnx/export';
import { matMulNBitsLayout } from '../src/engine/export/onnx/llama-graph';
import { createOrtDecoder, ortPerplexity } from '../src/engine/export/onnx/ort-run';
import type { ModelConfig } from '../src/engine/model/config';
import { LlamaModel } from '../src/engine/model/llama';
import type { LoadedModel } from '../src/engine/model/load';
import type { HostTensor, ModelWeights } from '../src/engine/model/weights';
import { FLAP_DEFAULTS, flapPrune } from '../src/engine/prune/flap';
import { initGroupQuant, quantGrid, quantizeToIntegers } from '../src/engine/quant/l4q';
import { dequantize, packSigned } from '../src/engine/quant/pack';
import { quantizeLinears } from '../src/engine/quant/quantized-linear';
import { rtnQuantize, type RtnSettings } from '../src/engine/quant/rtn';
import { bundledModel } from './support/bundled';
import { REPO_ROOT } from './support/paths';

ort.env.wasm.numThreads = 1;
const b = new CpuBackend();
const SEQLEN = 128;
const WINDOWS = { start: 0, end: 2 };
let model: LoadedModel;
let stream: Int32Array;

beforeAll(async () => {
  model = await bundledModel();
  const text = readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 12_000);
  stream = tokenStream(model.tokenizer, text).ids;
});

const rtn = (w: ModelWeights<HostTensor>, s: RtnSettings) => quantizeLinears(w, (t) => rtnQuantize(t.data, t.shape[0]!, t.shape[1]!, s));

async function parity(cfg: ModelConfig, w: ModelWeights<HostTensor>) {
  const exported = exportOnnxModel(cfg, w);
  const d = await createOrtDecoder(ort, exported.model);
  const onnx = await ortPerplexity(d, stream, SEQLEN, WINDOWS);
  await d.session.release();
  const lm = new LlamaModel(cfg, b, w);
  const engine = await evaluatePerplexity(lm, stream, { seqlen: SEQLEN, windows: WINDOWS });
  lm.dispose();
  const rel = Math.abs(onnx.meanNll - engine.meanNll) / engine.meanNll;
  if (process.env.EXPORT_LOG) console.log(`${expect.getState().currentTestName}: onnx ${onnx.meanNll} engine ${engine.meanNll} rel ${rel.toExponential(2)}`);
  return { rel, exported, onnx, engine };
}

describe('quantized models as MatMulNBits', () => {
  it('RTN 4-bit asymmetric, group 32 (down_proj: 172 columns, a padded last block)', async () => {
    const w = rtn(model.weights, { bits: 4, groupSize: 32, symmetric: false });
    const r = await parity(model.config, w);
    expect(r.exported.quantized).toHaveLength(35);
    expect(r.exported.quantized.every((q) => q.as === 'MatMulNBits' && q.blockSize === 32)).toBe(true);
    expect(r.rel).toBeLessThan(1e-3);
    // A really different model from the dense one.
    expect(Math.abs(r.engine.meanNll - 1.42265)).toBeGreaterThan(1e-3);
  });

  it('RTN 4-bit symmetric per-channel (negative scales, default zero point, re-blocked rows)', async () => {
    const w = rtn(model.weights, { bits: 4, groupSize: null, symmetric: true });
    const r = await parity(model.config, w);
    expect(r.exported.quantized.filter((q) => q.name.endsWith('down_proj')).map((q) => q.blockSize)).toEqual([256, 256, 256, 256, 256]);
    expect(r.exported.quantized.every((q) => q.as === 'MatMulNBits')).toBe(true);
    expect(r.rel).toBeLessThan(1e-3);
  });

  it('RTN 8-bit symmetric, group 16 (MatMulNBits bits = 8 on the wasm EP)', async () => {
    const w = rtn(model.weights, { bits: 8, groupSize: 16, symmetric: true });
    const r = await parity(model.config, w);
    expect(r.exported.quantized.every((q) => q.as === 'MatMulNBits')).toBe(true);
    expect(r.rel).toBeLessThan(1e-3);
    // 3-bit has no MatMulNBits kernel in onnxruntime-web: written as float, said so.
    const q3 = exportOnnxModel(model.config, rtn(model.weights, { bits: 3, groupSize: 32, symmetric: false }));
    expect(q3.quantized.every((q) => q.as === 'float' && /3-bit/.test(q.reason!))).toBe(true);
  });

  it('re-blocking a single-block row changes no weight', () => {
    const t = model.weights.layers[0]!.down;
    const p = rtnQuantize(t.data, t.shape[0]!, t.shape[1]!, { bits: 4, groupSize: null, symmetric: false });
    const re = matMulNBitsLayout(p);
    if (typeof re === 'string') throw new Error(re);
    expect(re.blockSize).toBe(256);
    expect(dequantize(re)).toEqual(dequantize(p));
  });

  it('L4Q integers with offsets (float zero points), group 16', async () => {
    const grid = quantGrid(4);
    const w = quantizeLinears(model.weights, (t) => {
      const [rows, cols] = t.shape as [number, number];
      const gq = initGroupQuant(t.data, rows, cols, 16, grid, 'minmax');
      const q = quantizeToIntegers(t.data, gq, grid);
      return packSigned({ rows, cols, bits: 4, groupSize: 16, q: q.codes, step: q.scales, offset: q.offsets });
    });
    expect(w.layers[0]!.q.packed!.fzeros).not.toBeNull();
    const r = await parity(model.config, w);
    expect(r.exported.quantized.every((q) => q.as === 'MatMulNBits' && q.blockSize === 16)).toBe(true);
    expect(r.rel).toBeLessThan(1e-3);
  });

  it('FLAP 50 % then RTN 4-bit (heterogeneous shapes, biases, packed)', async () => {
    const samples = calibrationSamples(stream, { samples: 4, seqlen: 64, offset: 200 });
    const stats = (await calibrate(model.config, b, model.weights, samples, { points: ['o', 'down'] })).stats;
    const f = flapPrune(model.config, model.weights, stats, { ...FLAP_DEFAULTS, pruningRatio: 0.5 });
    const w = rtn(f.weights, { bits: 4, groupSize: 32, symmetric: false });
    const r = await parity(f.config, w);
    expect(r.rel).toBeLessThan(1e-3);
    // A group size that is not a power of two falls back to float weights, said per linear.
    const odd = exportOnnxModel(model.config, rtn(model.weights, { bits: 4, groupSize: 24, symmetric: false }));
    expect(odd.quantized.every((q) => q.as === 'float' && /power of two/.test(q.reason!))).toBe(true);
  });
});

/**
 * FLAP on the bundled model (GQA 8/4) and its MHA-expanded copy: bias compensation,
 * structural removal against masking, layers with no heads or channels, head maps,
 * structure counts, and the pruned checkpoint round trip.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { calibrate, calibrationSamples, ChannelStats, type LayerStats } from '../src/engine/calibrate';
import { tokenStream } from '../src/engine/data';
import type { ModelConfig } from '../src/engine/model/config';
import { expandGqaToMha } from '../src/engine/model/expand-gqa';
import { LlamaModel } from '../src/engine/model/llama';
import { loadModel, type LoadedModel } from '../src/engine/model/load';
import { hubCheckpointFiles, readCompanions } from '../src/engine/model/save';
import type { HostTensor, LayerWeights, ModelWeights } from '../src/engine/model/weights';
import { compressLayer, f16round, FLAP_DEFAULTS, flapPrune, type FlapSettings } from '../src/engine/prune/flap';
import { dirSource } from '../src/cli/fs-source';
import { bundledModel } from './support/bundled';
import { memorySource } from './support/memory-source';
import { BUNDLED_MODEL_DIR, REPO_ROOT } from './support/paths';

let model: LoadedModel;
let stream: Int32Array;
let stats: LayerStats[];
let mha: { config: ModelConfig; weights: ModelWeights<HostTensor> };
let mhaStats: LayerStats[];
const b = new CpuBackend();

beforeAll(async () => {
  model = await bundledModel();
  const text = readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 20_000);
  stream = tokenStream(model.tokenizer, text).ids;
  const samples = calibrationSamples(stream, { samples: 6, seqlen: 64, offset: 300 });
  stats = (await calibrate(model.config, b, model.weights, samples, { points: ['o', 'down'] })).stats;
  mha = expandGqaToMha(model.config, model.weights);
  mhaStats = (await calibrate(mha.config, b, mha.weights, samples, { points: ['o', 'down'] })).stats;
});

const ids = () => stream.subarray(0, 40);

/** max |a − b| / max |b| */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return a.length === b.length ? num / den : Infinity;
}

async function logits(cfg: ModelConfig, w: ModelWeights<HostTensor>): Promise<Float32Array> {
  const lm = new LlamaModel(cfg, b, w);
  return b.read(lm.forward(ids()));
}

/** Masked (same shapes) version of a compression: removed o_proj / down_proj inputs zeroed, the pruned layer's biases. */
function masked(l: LayerWeights<HostTensor>, pruned: LayerWeights<HostTensor>, keptHeads: number[], keptChannels: number[], hd: number): LayerWeights<HostTensor> {
  const o = Float32Array.from(l.o.data);
  const cols = l.o.shape[1]!;
  const heads = new Set(keptHeads);
  for (let r = 0; r < l.o.shape[0]!; r++) for (let c = 0; c < cols; c++) if (!heads.has(Math.floor(c / hd))) o[r * cols + c] = 0;
  const down = Float32Array.from(l.down.data);
  const dc = l.down.shape[1]!;
  const ch = new Set(keptChannels);
  for (let r = 0; r < l.down.shape[0]!; r++) for (let c = 0; c < dc; c++) if (!ch.has(c)) down[r * dc + c] = 0;
  return { ...l, o: { shape: l.o.shape, data: o }, down: { shape: l.down.shape, data: down }, oBias: pruned.oBias, downBias: pruned.downBias };
}

function flap(over: Partial<FlapSettings>, cfg = model.config, w = model.weights, st = stats) {
  return flapPrune(cfg, w, st, { ...FLAP_DEFAULTS, ...over });
}

describe('bias compensation', () => {
  it('keeps the projection output exact when removed inputs sit at their calibration mean', () => {
    const l = model.weights.layers[2]!;
    const hd = model.config.headDim;
    const st: LayerStats = { o: new ChannelStats(64), down: new ChannelStats(172) };
    st.o!.flapMean.set(Float32Array.from({ length: 64 }, (_, i) => Math.sin(i) * 0.3));
    st.down!.flapMean.set(Float32Array.from({ length: 172 }, (_, i) => Math.cos(i) * 0.1));
    const keptHeads = [0, 1, 4, 5];
    const keptChannels = Array.from({ length: 172 }, (_, i) => i).filter((i) => i % 3 !== 1);
    const p = compressLayer(l, hd, keptHeads, [0, 2], keptChannels, st);
    expect(p.numHeads).toBe(4);
    expect(p.numKvHeads).toBe(2);
    expect(p.intermediateSize).toBe(keptChannels.length);
    expect(p.o.shape).toEqual([64, 32]);
    expect(p.down.shape).toEqual([64, keptChannels.length]);
    for (const [W, Wp, bias, mean, kept, n] of [
      [l.o, p.o, p.oBias!, st.o!.flapMean, keptHeads.flatMap((h) => [...Array(hd).keys()].map((e) => h * hd + e)), 64],
      [l.down, p.down, p.downBias!, st.down!.flapMean, keptChannels, 172],
    ] as const) {
      // x: arbitrary on kept inputs, the calibration mean on removed ones.
      const x = Float64Array.from({ length: n }, (_, j) => mean[j]!);
      kept.forEach((j, i) => (x[j] = Math.sin(3 * i + 1)));
      for (let r = 0; r < 64; r++) {
        let dense = 0;
        for (let j = 0; j < n; j++) dense += W.data[r * n + j]! * x[j]!;
        let pruned = bias.data[r]!;
        kept.forEach((j, i) => (pruned += Wp.data[r * kept.length + i]! * x[j]!));
        expect(Math.abs(pruned - dense)).toBeLessThan(1e-6 * (1 + Math.abs(dense)));
      }
    }
  });

  it('rounds the mean and the bias to fp16 when asked (the official .half())', () => {
    const l = model.weights.layers[0]!;
    const st: LayerStats = { o: new ChannelStats(64), down: new ChannelStats(172) };
    st.down!.flapMean.fill(1 / 3);
    const keep = [...Array(172).keys()].filter((c) => c !== 1 && c !== 2);
    const p = compressLayer(l, 8, [...Array(8).keys()], [0, 1, 2, 3], keep, st, 'fp16');
    expect(p.oBias).toBeNull(); // nothing removed from attention
    const bias = [...p.downBias!.data];
    expect(bias.map(f16round)).toEqual(bias);
    // b_i = (W_i1 + W_i2) · fp16(1/3), rounded to fp16.
    const want = [...Array(64).keys()].map((r) => f16round(Math.fround((l.down.data[r * 172 + 1]! + l.down.data[r * 172 + 2]!) * 0.333251953125)));
    bias.forEach((v, r) => expect(v).toBeCloseTo(want[r]!, 6));
  });
});

describe('structural removal', () => {
  it('gives the same logits as masking, for group and single-head removal and on the MHA copy', async () => {
    const cases = [
      { name: 'GQA groups', cfg: model.config, w: model.weights, st: stats, s: { pruningRatio: 0.5 } },
      { name: 'GQA heads', cfg: model.config, w: model.weights, st: stats, s: { pruningRatio: 0.5, gqaUnit: 'head' as const } },
      { name: 'MHA copy', cfg: mha.config, w: mha.weights, st: mhaStats, s: { pruningRatio: 0.4, structure: 'UL-UM' as const } },
    ];
    for (const c of cases) {
      const r = flap(c.s, c.cfg, c.w, c.st);
      const mask = { ...c.w, layers: c.w.layers.map((l, i) => masked(l, r.weights.layers[i]!, r.kept[i]!.heads, r.kept[i]!.channels, 8)) };
      const a = await logits(r.config, r.weights);
      const m = await logits(c.cfg, mask);
      expect(relErr(a, m), c.name).toBeLessThan(1e-5);
    }
  });

  it('masks like the official --unstr (q/k/v and gate/up rows zeroed) on the MHA copy', async () => {
    const r = flap({ pruningRatio: 0.3 }, mha.config, mha.weights, mhaStats);
    const zeroRows = (t: HostTensor, keep: (row: number) => boolean) => {
      const cols = t.shape[1]!;
      const d = Float32Array.from(t.data);
      for (let row = 0; row < t.shape[0]!; row++) if (!keep(row)) d.fill(0, row * cols, (row + 1) * cols);
      return { shape: t.shape, data: d };
    };
    const unstr = {
      ...mha.weights,
      layers: mha.weights.layers.map((l, i) => {
        const heads = new Set(r.kept[i]!.heads);
        const ch = new Set(r.kept[i]!.channels);
        const head = (row: number) => heads.has(Math.floor(row / 8));
        return {
          ...l,
          q: zeroRows(l.q, head),
          k: zeroRows(l.k, head),
          v: zeroRows(l.v, head),
          gate: zeroRows(l.gate, (c) => ch.has(c)),
          up: zeroRows(l.up, (c) => ch.has(c)),
          oBias: r.weights.layers[i]!.oBias,
          downBias: r.weights.layers[i]!.downBias,
        };
      }),
    };
    expect(relErr(await logits(r.config, r.weights), await logits(mha.config, unstr))).toBeLessThan(1e-5);
  });

  it('runs a layer that lost every head and every MLP channel (output = its biases)', async () => {
    const l = model.weights.layers[1]!;
    const empty = compressLayer(l, 8, [], [], [], stats[1]!);
    expect(empty.q.shape).toEqual([0, 64]);
    expect(empty.o.shape).toEqual([64, 0]);
    expect(empty.down.shape).toEqual([64, 0]);
    const w = { ...model.weights, layers: model.weights.layers.map((x, i) => (i === 1 ? empty : x)) };
    const m = { ...model.weights, layers: model.weights.layers.map((x, i) => (i === 1 ? masked(x, empty, [], [], 8) : x)) };
    expect(relErr(await logits(model.config, w), await logits(model.config, m))).toBeLessThan(1e-5);

    // It saves and loads back (zero-size tensors, per-layer sizes, biases).
    const cfg = { ...model.config, layerShapes: w.layers.map((x) => ({ numHeads: x.numHeads, numKvHeads: x.numKvHeads, intermediateSize: x.intermediateSize, kvHeadMap: null })) };
    const files = hubCheckpointFiles(cfg, w, await readCompanions(dirSource(BUNDLED_MODEL_DIR)));
    const back = await loadModel('empty', memorySource(files));
    expect(back.config.layerShapes![1]).toEqual({ numHeads: 0, numKvHeads: 0, intermediateSize: 0, kvHeadMap: null });
    expect(back.weights.layers[1]!.oBias!.data).toEqual(empty.oBias!.data);
    expect([...(await logits(back.config, back.weights))]).toEqual([...(await logits(model.config, w))]);
  });
});

describe('structures and reports', () => {
  it('UL-UM removes ⌊p·units⌋ units and ⌊p·I⌋ channels in every layer', () => {
    const r = flap({ pruningRatio: 0.5, structure: 'UL-UM' }, mha.config, mha.weights, mhaStats);
    for (const l of r.layers) {
      expect(l.heads).toEqual({ before: 8, after: 4 });
      expect(l.kvHeads).toEqual({ before: 8, after: 4 });
      expect(l.channels).toEqual({ before: 172, after: 86 });
    }
    const g = flap({ pruningRatio: 0.5, structure: 'UL-UM' });
    for (const l of g.layers) {
      expect(l.flap!.unit).toBe('group');
      expect(l.heads.after).toBe(4);
      expect(l.kvHeads.after).toBe(2);
    }
  });

  it('UL-MM and AL-MM follow remove_heads and the parameter budget', () => {
    const ul = flap({ pruningRatio: 0.2, structure: 'UL-MM', removeHeads: 10 }, mha.config, mha.weights, mhaStats);
    // 10 // 5 = 2 heads per layer; channels ⌊(0.2·(3·64·172 + 4·64²) − 2·4·64·8)/(3·64)⌋ = ⌊30.13⌋ = 30.
    for (const l of ul.layers) {
      expect(l.heads.after).toBe(6);
      expect(l.channels.after).toBe(172 - 30);
    }
    const al = flap({ pruningRatio: 0.2, structure: 'AL-MM', removeHeads: 7 }, mha.config, mha.weights, mhaStats);
    // Globally: 7 heads; ⌊(5·0.2·(3·64·172 + 4·64²) − 7·4·64·8)/(3·64)⌋ = ⌊182.67⌋ = 182 channels.
    expect(al.flap.removedHeads).toBe(7);
    expect(al.flap.removedChannels).toBe(182);
    expect(() => flap({ structure: 'AL-MM', removeHeads: null })).toThrow(/remove-heads/);
  });

  it('AL-AM removes about the requested parameter fraction and reports scores', () => {
    for (const [cfg, w, st] of [
      [model.config, model.weights, stats],
      [mha.config, mha.weights, mhaStats],
    ] as const) {
      const r = flap({ pruningRatio: 0.2 }, cfg, w, st);
      expect(r.sparsity.kind).toBe('removed');
      expect(Math.abs(r.sparsity.achieved - 0.2)).toBeLessThan(0.01);
      expect(r.flap.attentionThreshold).toBe(r.flap.mlpThreshold);
      for (const l of r.layers) {
        expect(l.flap!.attentionUnitScores.length).toBe(l.kvHeads.before === 8 ? 8 : 4);
        if (l.flap!.mlpRemovedMax !== null && l.flap!.mlpKeptMin !== null) expect(l.flap!.mlpRemovedMax).toBeLessThan(l.flap!.mlpKeptMin);
      }
    }
    const exact = flap({ pruningRatio: 0.2, headCost: 'exact' }, mha.config, mha.weights, mhaStats);
    expect(exact.flap.unitCost).toBeCloseTo(32 / 3, 12);
    expect(flap({ pruningRatio: 0.2 }, mha.config, mha.weights, mhaStats).flap.unitCost).toBe(10);
  });

  it('single query head removal on GQA keeps a query→key/value head map, reported per layer', () => {
    const r = flap({ pruningRatio: 0.5, gqaUnit: 'head' });
    let maps = 0;
    r.weights.layers.forEach((l, i) => {
      const rep = r.layers[i]!;
      expect(rep.keptHeads).toEqual(r.kept[i]!.heads);
      // A key/value head survives iff one of its query heads does.
      expect(rep.keptKvHeads).toEqual([...new Set(rep.keptHeads!.map((h) => Math.floor(h / 2)))]);
      if (l.kvHeadMap) {
        maps++;
        expect(rep.kvHeadMap).toEqual([...l.kvHeadMap]);
        expect(l.kvHeadMap).toEqual(rep.keptHeads!.map((h) => rep.keptKvHeads!.indexOf(Math.floor(h / 2))));
      }
    });
    expect(maps).toBeGreaterThan(0);
    expect(r.config.layerShapes).toBeTruthy();
  });
});

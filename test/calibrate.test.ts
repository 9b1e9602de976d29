/**
 * Calibration: sample layout, Python-compatible random offsets, per-channel statistics
 * (hand-computed official recurrences) and the layer-by-layer driver.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../src/engine/backend/cpu/cpu-backend';
import { calibrate, calibrationOffsets, calibrationSamples, ChannelStats, hostChannelSums, type ChannelSums } from '../src/engine/calibrate';
import { tokenStream } from '../src/engine/data';
import { LlamaModel } from '../src/engine/model/llama';
import type { LoadedModel } from '../src/engine/model/load';
import { PyRandom } from '../src/engine/py-random';
import { magnitudePruneLayer } from '../src/engine/prune/magnitude';
import { bundledModel } from './support/bundled';
import { REPO_ROOT } from './support/paths';

let model: LoadedModel;
let samples: Int32Array[];

beforeAll(async () => {
  model = await bundledModel();
  // A prefix of the text keeps tokenization fast.
  const text = readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 20_000);
  samples = calibrationSamples(tokenStream(model.tokenizer, text).ids, { samples: 4, seqlen: 48, offset: 100 });
});

function sums(values: number[][]): ChannelSums {
  // values[t][c]
  const C = values[0]!.length;
  const sum = new Float64Array(C);
  const sumSq = new Float64Array(C);
  for (const row of values) row.forEach((v, c) => ((sum[c] += v), (sumSq[c] += v * v)));
  return { channels: C, tokens: values.length, sum, sumSq };
}

describe('calibration samples', () => {
  it('lays samples out contiguously from the offset, without a BOS per sample', () => {
    const stream = Int32Array.from({ length: 1000 }, (_, i) => i);
    expect(calibrationOffsets(1000, { samples: 3, seqlen: 100, offset: 200 })).toEqual([200, 300, 400]);
    const s = calibrationSamples(stream, { samples: 2, seqlen: 5, offset: 10 });
    expect(s.map((x) => [...x])).toEqual([
      [10, 11, 12, 13, 14],
      [15, 16, 17, 18, 19],
    ]);
    expect(() => calibrationOffsets(1000, { samples: 9, seqlen: 100, offset: 200 })).toThrow(/calibration needs tokens 200…1100.*has 1000 tokens/);
    expect(() => calibrationOffsets(1000, { samples: 0, seqlen: 100, offset: 0 })).toThrow(/positive integer/);
  });

  it('draws random offsets exactly as Python random.seed(s); randint(0, T − S − 1)', () => {
    // python3 -c "import random; random.seed(0); print(random.random())"
    expect(new PyRandom(0).random()).toBe(0.8444218515250481);
    // python3 -c "import random; random.seed(0); print([random.randint(0, 393019-128-1) for _ in range(3)])"
    expect(calibrationOffsets(393019, { samples: 3, seqlen: 128, offset: 0, seed: 0 })).toEqual([201979, 220500, 21225]);
    // python3 -c "import random; random.seed(123456789012); print([random.randint(0,1000) for _ in range(3)])"
    const r = new PyRandom(123456789012);
    expect([r.randint(0, 1000), r.randint(0, 1000), r.randint(0, 1000)]).toEqual([386, 667, 21]);
    // python3 -c "import random; random.seed(7); print(random.getrandbits(32))"
    expect(new PyRandom(7).getrandbits(32)).toBe(1390851128);
  });
});

describe('channel statistics', () => {
  it('follows the official recurrences (hand-computed)', () => {
    // One channel, three samples of two tokens: [1, 3], [2, 6], [0, 4].
    const st = new ChannelStats(1);
    st.add(sums([[1], [3]]));
    // n = 0: mean = 2, fluctuation reset to 0, scaler = 1 + 9.
    expect([st.flapMean[0], st.flapFluc[0], st.scaler[0]]).toEqual([2, 0, 10]);
    st.add(sums([[2], [6]]));
    // n = 1: mean = 2·½ + 4·½ = 3; fluc = 0 + ((2−3)² + (6−3)²)/2 = 5; scaler = 10·½ + 40/2 = 25.
    expect([st.flapMean[0], st.flapFluc[0], st.scaler[0]]).toEqual([3, 5, 25]);
    st.add(sums([[0], [4]]));
    // n = 2: mean = 3·⅔ + 2/3 = 8/3; fluc = 5·½ + ((8/3)² + (4/3)²)/3 = 2.5 + 80/27; scaler = Σx²/3 = 22.
    expect(st.flapMean[0]).toBeCloseTo(8 / 3, 6);
    expect(st.flapFluc[0]).toBeCloseTo(2.5 + 80 / 27, 5);
    expect(st.scaler[0]).toBeCloseTo(22, 5);
    // Plain sums and the exact variance over all six tokens (1, 3, 2, 6, 0, 4).
    expect([st.sum[0], st.sumSq[0], st.tokens, st.samples]).toEqual([16, 66, 6, 3]);
    expect(st.mean()[0]).toBeCloseTo(16 / 6, 12);
    expect(st.variance()[0]).toBeCloseTo((66 - (16 * 16) / 6) / 5, 10);
    expect(st.l2Norm()[0]).toBeCloseTo(Math.sqrt(66), 6);
  });

  it('sums a tensor per channel on the host', async () => {
    const b = new CpuBackend();
    const x = b.upload(Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]);
    const s = await hostChannelSums(b, x);
    expect(s).toEqual({ channels: 2, tokens: 3, sum: Float64Array.from([9, 12]), sumSq: Float64Array.from([35, 56]) });
  });
});

describe('calibration driver', () => {
  it('collects, per layer, the statistics of every linear input of a plain forward pass', async () => {
    const b = new CpuBackend();
    const cal = await calibrate(model.config, b, model.weights, samples);
    // Reference: hooks on the ordinary forward pass.
    const lm = new LlamaModel(model.config, b, model.weights);
    const ref = new Map<string, ChannelStats>();
    for (const ids of samples) {
      const pending: Promise<void>[] = [];
      lm.forward(ids, {
        hooks: {
          linearInput: (e) => {
            const key = `${e.layer}:${e.linears[0]}`;
            pending.push(hostChannelSums(b, e.x).then((s) => (ref.get(key) ?? ref.set(key, new ChannelStats(s.channels)).get(key)!).add(s)));
          },
        },
      });
      await Promise.all(pending);
    }
    expect(cal.stats).toHaveLength(5);
    for (let l = 0; l < 5; l++) {
      const st = cal.stats[l]!;
      expect(st.attnIn!.channels).toBe(64);
      expect(st.o!.channels).toBe(64);
      expect(st.mlpIn!.channels).toBe(64);
      expect(st.down!.channels).toBe(172);
      expect(st.down!.tokens).toBe(4 * 48);
      expect(st.down!.samples).toBe(4);
      for (const [point, first] of [['attnIn', 'q'], ['o', 'o'], ['mlpIn', 'gate'], ['down', 'down']] as const) {
        const r = ref.get(`${l}:${first}`)!;
        expect([...st[point]!.flapFluc]).toEqual([...r.flapFluc]);
        expect([...st[point]!.scaler]).toEqual([...r.scaler]);
      }
    }
    expect(cal.weights.layers).toEqual(model.weights.layers);
  });

  it('in sequential mode, feeds each layer the outputs of the transformed layers before it', async () => {
    const b = new CpuBackend();
    const prune = (l: (typeof model.weights.layers)[number]) => magnitudePruneLayer(l, { sparsity: 0.5, pattern: 'unstructured', granularity: 'matrix' });
    const seen: number[] = [];
    const seq = await calibrate(model.config, b, model.weights, samples, {
      points: ['attnIn'],
      transform: (li, l) => {
        seen.push(li);
        return prune(l);
      },
    });
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(seq.stats[0]!.o).toBeUndefined();
    // Reference: layer 1's input statistics on a model whose layer 0 is already pruned.
    const w1 = { ...model.weights, layers: model.weights.layers.map((l, i) => (i === 0 ? prune(l) : l)) };
    const oneShot = await calibrate(model.config, b, w1, samples, { points: ['attnIn'] });
    expect([...seq.stats[1]!.attnIn!.sumSq]).toEqual([...oneShot.stats[1]!.attnIn!.sumSq]);
    const dense = await calibrate(model.config, b, model.weights, samples, { points: ['attnIn'] });
    expect([...seq.stats[0]!.attnIn!.sumSq]).toEqual([...dense.stats[0]!.attnIn!.sumSq]);
    expect([...seq.stats[1]!.attnIn!.sumSq]).not.toEqual([...dense.stats[1]!.attnIn!.sumSq]);
    expect(seq.weights.layers[4]).toEqual(prune(model.weights.layers[4]!));
  });
});

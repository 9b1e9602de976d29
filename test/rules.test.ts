/**
 * src/engine/rules.ts: each rule, and that every copy that applies it — the record schema,
 * the panels' bits-sweep parser, the `studio quantize` / `studio prune` options, and the
 * methods' own checks — accepts and refuses exactly the same values.
 */
import { describe, expect, it } from 'vitest';
import { methodFromArgs } from '../src/cli/prune-command';
import { l4qMethodFromArgs } from '../src/cli/l4q-command';
import { quantMethodFromArgs } from '../src/cli/quantize-command';
import { BITS, groupSizeOf, parseBitsSweep, type Granularity } from '../src/app/components/QuantFields';
import { checkBits, packSigned } from '../src/engine/quant/pack';
import { blockSizeFor } from '../src/engine/model/checkpoint';
import { quantGrid } from '../src/engine/quant/l4q';
import { estimateL4QMemory } from '../src/engine/quant/l4q-memory';
import { checkRtnSettings, rtnQuantize } from '../src/engine/quant/rtn';
import { checkL4QOptions, L4Q_DEFAULTS } from '../src/engine/quant/train';
import { l4qMethodSchema, magnitudeMethodSchema, rtnMethodSchema } from '../src/engine/record';
import { CODE_BITS, GROUP_SIZE, groupWidth, isCodeBits, isGroupSize, isPruneFraction, PRUNE_FRACTION, PRUNE_FRACTION_INPUT_MAX } from '../src/engine/rules';

const accepts = (f: () => unknown) => {
  try {
    f();
    return true;
  } catch {
    return false;
  }
};
const l4qMethod = l4qMethodFromArgs({});

describe('code bit widths (CODE_BITS, isCodeBits)', () => {
  it('are the integers from 2 to 8', () => {
    expect([CODE_BITS.min, CODE_BITS.max, CODE_BITS.text]).toEqual([2, 8, '2 to 8']);
    for (const b of [2, 3, 4, 5, 6, 7, 8]) expect(isCodeBits(b)).toBe(true);
    for (const b of [0, 1, 9, 16, 4.5, -4, NaN, Infinity]) expect(isCodeBits(b)).toBe(false);
    for (const b of BITS) expect(isCodeBits(b)).toBe(true);
  });

  it('the schemas, the sweep parser, both CLIs and both methods accept exactly these', () => {
    for (const b of [0, 1, 2, 3, 4, 7, 8, 9, 16, 4.5]) {
      const ok = isCodeBits(b);
      const copies = {
        rtnSchema: rtnMethodSchema.safeParse({ name: 'rtn', bits: b, groupSize: 32, symmetric: false }).success,
        l4qSchema: l4qMethodSchema.safeParse({ ...l4qMethod, bits: b }).success,
        sweep: Array.isArray(parseBitsSweep(String(b))),
        rtnCli: accepts(() => quantMethodFromArgs({ method: 'rtn', bits: String(b) })),
        l4qCli: accepts(() => l4qMethodFromArgs({ bits: String(b) })),
        packed: accepts(() => checkBits(b)),
        l4qGrid: accepts(() => quantGrid(b)),
        trainer: accepts(() => checkL4QOptions({ ...L4Q_DEFAULTS, bits: b })),
      };
      expect(copies, `bits ${b}`).toEqual(Object.fromEntries(Object.keys(copies).map((k) => [k, ok])));
    }
  });

  it('messages name the range from the rule', () => {
    expect(parseBitsSweep('9')).toBe('"9" is not a whole number of bits from 2 to 8.');
    expect(() => quantMethodFromArgs({ method: 'rtn', bits: '1' })).toThrow('--bits must be an integer from 2 to 8, got "1"');
    expect(() => l4qMethodFromArgs({ bits: '9' })).toThrow('--bits must be an integer from 2 to 8, got "9"');
    expect(() => checkBits(9)).toThrow('quantization: bits must be an integer from 2 to 8, got 9');
    expect(() => quantGrid(1)).toThrow('bits 1 must be an integer from 2 to 8');
  });
});

describe('group sizes (GROUP_SIZE, isGroupSize, groupWidth)', () => {
  it('are null (per channel) or a positive integer, with no upper bound', () => {
    for (const g of [null, 1, 32, 64, 128, 4096, 2 ** 21]) expect(isGroupSize(g)).toBe(true);
    for (const g of [0, -1, 1.5, NaN, Infinity, 2 ** 53]) expect(isGroupSize(g)).toBe(false);
    for (const g of GROUP_SIZE.choices) expect(isGroupSize(g)).toBe(true);
  });

  it('the panels offer the rule\'s choices', () => {
    const all: Granularity[] = ['32', '64', '128', 'channel'];
    expect(all.map(groupSizeOf)).toEqual([...GROUP_SIZE.choices, null]);
  });

  it('the schemas, both CLIs and both methods accept exactly these', () => {
    for (const g of [null, 1, 32, 128, 2 ** 21, 0, -1, 1.5]) {
      const ok = isGroupSize(g);
      const arg = g === null ? 'channel' : String(g);
      const copies = {
        rtnSchema: rtnMethodSchema.safeParse({ name: 'rtn', bits: 4, groupSize: g, symmetric: false }).success,
        l4qSchema: l4qMethodSchema.safeParse({ ...l4qMethod, groupSize: g }).success,
        rtnCli: accepts(() => quantMethodFromArgs({ method: 'rtn', group: arg })),
        l4qCli: accepts(() => l4qMethodFromArgs({ group: arg })),
        rtn: accepts(() => checkRtnSettings({ bits: 4, groupSize: g, symmetric: false })),
        // The trainer's options write per channel as 0 (l4q-experiment.ts: groupSize ?? 0).
        trainer: g === 0 ? ok : accepts(() => checkL4QOptions({ ...L4Q_DEFAULTS, group: g ?? 0 })),
      };
      expect(copies, `group ${g}`).toEqual(Object.fromEntries(Object.keys(copies).map((k) => [k, ok])));
    }
    expect(() => quantMethodFromArgs({ method: 'rtn', group: 'x' })).toThrow(/--group must be an integer/);
  });

  it('a group is G columns, or the whole row when G ≥ K or per channel; RTN, packing, the checkpoint and the L4Q estimate agree', () => {
    expect(groupWidth(32, 100)).toBe(32);
    expect(groupWidth(128, 100)).toBe(100);
    expect(groupWidth(null, 100)).toBe(100);
    for (const [g, k] of [[32, 100], [128, 100], [null, 100], [7, 7], [1, 3]] as const) {
      const w = groupWidth(g, k);
      expect(blockSizeFor(k, g)).toBe(w);
      expect(rtnQuantize(new Float32Array(2 * k).map((_, i) => Math.sin(i)), 2, k, { bits: 4, groupSize: g, symmetric: false }).blockSize).toBe(w);
      expect(packSigned({ rows: 1, cols: k, bits: 4, groupSize: g ?? k, q: new Int8Array(k), step: new Float32Array(Math.ceil(k / w)).fill(1), offset: null }).blockSize).toBe(w);
    }
    // L4Q's estimate: ⌈K / width⌉ groups per row, 8 bytes each (s and b).
    const shape = { layers: 1, hiddenSize: 48, heads: 2, kvHeads: 2, headDim: 24, intermediateSize: 100, vocabSize: 10 };
    const groups = (g: number | null) => [[48, 48], [48, 48], [48, 48], [48, 48], [100, 48], [100, 48], [48, 100]].reduce((n, [rows, cols]) => n + rows! * Math.ceil(cols! / groupWidth(g, cols!)), 0);
    for (const g of [32, 64, null]) expect(estimateL4QMemory(shape, { rank: 2, group: g ?? 0, symmetric: false, tokens: 8 }).quantParamBytes).toBe(8 * groups(g));
  });
});

describe('pruning fraction (PRUNE_FRACTION)', () => {
  it('is [0, 1); the panel inputs stop at the largest two-decimal fraction inside it', () => {
    expect(isPruneFraction(0)).toBe(true);
    expect(isPruneFraction(0.999)).toBe(true);
    expect(isPruneFraction(1)).toBe(false);
    expect(isPruneFraction(-0.1)).toBe(false);
    expect(PRUNE_FRACTION_INPUT_MAX).toBe(0.99);
    expect(isPruneFraction(PRUNE_FRACTION_INPUT_MAX)).toBe(true);
    expect(PRUNE_FRACTION.below - PRUNE_FRACTION_INPUT_MAX).toBeCloseTo(0.01, 12);
  });

  it('the schema and `studio prune` accept exactly these', () => {
    for (const p of [0, 0.5, 0.99, 0.999, 1, -0.1, 1.5]) {
      const ok = isPruneFraction(p);
      expect(magnitudeMethodSchema.safeParse({ name: 'magnitude', sparsity: p, pattern: 'unstructured', granularity: 'matrix' }).success, `sparsity ${p}`).toBe(ok);
      expect(accepts(() => methodFromArgs({ method: 'magnitude', sparsity: String(p) })), `--sparsity ${p}`).toBe(ok);
    }
  });
});

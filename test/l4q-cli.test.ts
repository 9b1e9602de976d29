/**
 * `studio quantize --method l4q` end to end on the bundled model with a tiny budget: the
 * record (loss curve, RTN comparison, packed sizes, memory), prune-then-quantize, and
 * usage errors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { l4qMethodFromArgs } from '../src/cli/l4q-command';
import { main } from '../src/cli/main';
import { l4qCalibration, L4Q_CALIBRATION } from '../src/engine/quant/l4q-experiment';
import { parseExperimentRecord } from '../src/engine/record';

async function run(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const tiny = ['--model', 'stories260K', '--seqlen', '64', '--windows', '0:1', '--calib-samples', '4', '--calib-seqlen', '24', '--steps', '3', '--warmup', '1', '--batch', '2', '--rank', '2'];

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('studio quantize --method l4q', () => {
  it('trains, merges and reports a valid record', async () => {
    const r = await run(['quantize', '--method', 'l4q', ...tiny, '--bits', '3', '--group', '32', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const rec = parseExperimentRecord(JSON.parse(r.out));
    expect(rec.method).toMatchObject({ name: 'l4q', bits: 3, groupSize: 32, symmetric: false, rank: 2, steps: 3, warmup: 1, batch: 2 });
    expect(rec.training!.loss.map((p) => p.phase)).toEqual(['warmup', 'joint', 'joint']);
    expect(rec.training!.tokensPerStep).toBe(46);
    expect(rec.training!.rtn!.scoredTokens).toBe(63);
    expect(rec.baseline!.ppl).toBeGreaterThan(1);
    // 3-bit codes + float32 step + float32 offset per 32 weights (some rows padded).
    expect(rec.size!.effectiveBits).toBeGreaterThan(3 + 2);
    expect(rec.size!.effectiveBits).toBeLessThan(3 + 2 + 1);
    expect(rec.calibration).toMatchObject({ samples: 4, seqlen: 24, sampling: 'contiguous' });
  });

  it('--rtn-lora also trains the RTN-then-LoRA baseline and reports it unmerged and merged', async () => {
    const r = await run(['quantize', '--method', 'l4q', ...tiny, '--rtn-lora']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^RTN {8}ppl \d/m);
    expect(r.out).toMatch(/^RTN\+LoRA {3}ppl \d+\.\d{4} \(LoRA on the frozen RTN model, same budget, unmerged\)$/m);
    expect(r.out).toMatch(/^RTN\+LoRA .*\n {2}loss {5}\d+\.\d{4} → \d+\.\d{4} \(step 0 → 2\)\n {2}merged /m);
    expect(r.out).toMatch(/^ {2}merged {3}ppl \d+\.\d{4} \(its adapters merged, the weights rounded again/m);
    // The shares printed are those of the perplexities printed (to their rounding).
    const ppl = (label: RegExp) => Number(r.out.match(new RegExp(`^${label.source}\\s+ppl (\\d+\\.\\d+)`, 'm'))![1]);
    const [dense, rtn, unmerged, merged, l4q] = [/dense/, /RTN/, /RTN\+LoRA/, / {2}merged/, /L4Q/].map(ppl) as [number, number, number, number, number];
    expect(rtn).toBeGreaterThan(dense);
    const recovered = Number(r.out.match(/^recovered {2}(-?\d+\.\d)% of the perplexity RTN loses against dense$/m)![1]);
    expect(recovered).toBeCloseTo((100 * (rtn - l4q)) / (rtn - dense), 0);
    const kept = r.out.match(/; keeps (-?\d+\.\d)% of what the adapters gained over RTN\)$/m);
    if (rtn > unmerged) expect(Number(kept![1])).toBeCloseTo((100 * (rtn - merged)) / (rtn - unmerged), 0);
    else expect(kept).toBeNull();
  });

  it('--out writes the merged integer model that studio eval reloads with the same perplexity', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'l4q-out-'));
    dirs.push(dir);
    const r = await run(['quantize', '--method', 'l4q', ...tiny, '--bits', '4', '--group', '32', '--no-rtn', '--json', '--out', dir]);
    expect(r.code).toBe(0);
    const rec = parseExperimentRecord(JSON.parse(r.out));
    const cfg = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(cfg.quantization_config).toMatchObject({ format: 'matmulnbits', bits: 4, group_size: 32 });
    const e = await run(['eval', '--model', dir, '--dataset', 'tinystories', '--seqlen', '64', '--windows', '0:1', '--json']);
    expect(e.err).toBe('');
    expect(e.code).toBe(0);
    expect(parseExperimentRecord(JSON.parse(e.out)).meanNll).toBe(rec.meanNll);
    const bad = await run(['quantize', '--method', 'l4q', ...tiny, '--format', 'onnx']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--format and --dtype apply to --out/);
  });

  it('prunes first in the same experiment (magnitude 50%); warns that the evaluation window holds training tokens', async () => {
    // Training tokens 10 … 105 of TinyStories; the evaluation window 0 is tokens 0 … 63.
    const r = await run(['quantize', '--method', 'l4q', ...tiny, '--prune', 'magnitude', '--sparsity', '0.5', '--no-rtn', '--calib-offset', '10']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^warning {4}1 of the 1 evaluation windows \(window 0\) contain calibration tokens/m);
    expect(r.out).toMatch(/pruned first: magnitude/);
    expect(r.out).toMatch(/pruned {5}ppl/);
    expect(r.out).toMatch(/L4Q {8}ppl/);
  });

  it('defaults: min-max initialisation with a learned offset, L4Q_init with --sym', () => {
    expect(l4qMethodFromArgs({})).toMatchObject({ bits: 4, groupSize: 32, symmetric: false, init: 'minmax', rank: 8, alpha: 16, steps: 60, warmup: 6, lr: 3e-4, lrQuant: 1e-4, batch: 1, gradScale: null });
    expect(l4qMethodFromArgs({ sym: true })).toMatchObject({ symmetric: true, init: 'l4q' });
    expect(l4qMethodFromArgs({ group: 'channel', init: 'lsq', 'grad-scale': '0.5' })).toMatchObject({ groupSize: null, init: 'lsq', gradScale: 0.5 });
  });

  it('trains on 16 windows of 512 tokens by default; a shorter context gets as many tokens in windows of its length', () => {
    expect(L4Q_CALIBRATION).toEqual({ samples: 16, seqlen: 512, offset: 200000, seed: null });
    expect(l4qCalibration(2048)).toEqual(L4Q_CALIBRATION);
    expect(l4qCalibration(512)).toEqual(L4Q_CALIBRATION);
    expect(l4qCalibration(256)).toEqual({ samples: 32, seqlen: 256, offset: 200000, seed: null });
    expect(l4qCalibration(100)).toEqual({ samples: 82, seqlen: 100, offset: 200000, seed: null });
  });

  it('explains bad options with usage (exit 2)', async () => {
    const bad = await run(['quantize', '--method', 'l4q', '--model', 'stories260K', '--steps', '2', '--warmup', '5']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--warmup must be an integer from 0 to --steps \(2\)/);
    const sym = await run(['quantize', '--method', 'l4q', '--model', 'stories260K', '--sym', '--init', 'minmax']);
    expect(sym.code).toBe(2);
    expect(sym.err).toMatch(/asymmetric/);
    const pr = await run(['quantize', '--method', 'l4q', '--model', 'stories260K', '--prune', 'sparsegpt']);
    expect(pr.code).toBe(2);
    const help = await run(['quantize', '--method', 'l4q', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/--lr-quant/);
  });
});

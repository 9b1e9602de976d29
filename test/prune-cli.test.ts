/** `studio prune`: records, --out checkpoints that `studio eval` reloads, usage errors. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseExperimentRecord } from '../src/engine/record';
import { runCli } from './support/cli';
import { REPO_ROOT } from './support/paths';


const MODEL = path.join(REPO_ROOT, 'public/models/stories260K');
const dir = mkdtempSync(path.join(tmpdir(), 'studio-prune-'));
const file = path.join(dir, 'stories.txt');
writeFileSync(file, readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 6_000));
const protocol = ['--dataset', file, '--seqlen', '128', '--windows', '0:2', '--calib-dataset', file, '--calib-offset', '0', '--calib-samples', '4', '--calib-seqlen', '64'];

describe('studio prune', () => {
  it('--json prints a valid record', async () => {
    const r = await runCli(['prune', '--model', MODEL, '--method', 'wanda', '--pattern', '4:8', '--one-shot', ...protocol, '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const rec = parseExperimentRecord(JSON.parse(r.out));
    expect(rec.method).toEqual({ name: 'wanda', sparsity: 0.5, pattern: '4:8', mode: 'one-shot', variant: false });
    expect(rec.calibration).toMatchObject({ samples: 4, seqlen: 64, offset: 0, sampling: 'contiguous', dataset: { name: 'stories.txt' } });
    expect(rec.protocol.windows).toEqual({ start: 0, end: 2 });
    expect(rec.ppl).toBeGreaterThan(rec.baseline!.ppl);
  });

  it('warns when evaluation windows contain calibration tokens, and only then', async () => {
    // protocol: calibration tokens 0…256 of the same file, evaluation windows 0 and 1 of 128.
    const r = await runCli(['prune', '--model', MODEL, '--method', 'wanda', '--one-shot', ...protocol]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^warning {4}2 of the 2 evaluation windows \(windows 0–1\) contain calibration tokens/m);
    const apart = await runCli(['prune', '--model', MODEL, '--method', 'wanda', '--one-shot', ...protocol, '--calib-offset', '800']);
    expect(apart.code).toBe(0);
    expect(apart.out).toMatch(/^windows /m);
    expect(apart.out).not.toMatch(/^warning/m);
  });

  it('--out writes a FLAP model that studio eval reloads with the same perplexity', async () => {
    const out = path.join(dir, 'flap');
    const r = await runCli(['prune', '--model', MODEL, '--method', 'flap', '--sparsity', '0.5', '--gqa', 'heads', ...protocol, '--json', '--out', out]);
    expect(r.code).toBe(0);
    const rec = parseExperimentRecord(JSON.parse(r.out));
    const cfg = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.intermediate_size_per_layer).toEqual(rec.layers!.map((l) => l.channels.after));
    expect(cfg.num_attention_heads_per_layer).toEqual(rec.layers!.map((l) => l.heads.after));
    const e = await runCli(['eval', '--model', out, '--dataset', file, '--seqlen', '128', '--windows', '0:2', '--json']);
    expect(e.code).toBe(0);
    const back = parseExperimentRecord(JSON.parse(e.out));
    expect(back.meanNll).toBe(rec.meanNll);
    expect(back.model.parameters).toBe(rec.parametersAfter);
  });

  it('--expand-gqa writes an MHA copy with the same perplexity', async () => {
    const out = path.join(dir, 'mha');
    const r = await runCli(['prune', '--model', MODEL, '--expand-gqa', ...protocol, '--out', out]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/method {5}none \(dense\)/);
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')).num_key_value_heads).toBe(8);
    const a = parseExperimentRecord(JSON.parse((await runCli(['eval', '--model', out, '--dataset', file, '--seqlen', '128', '--windows', '0:2', '--json'])).out));
    const d = parseExperimentRecord(JSON.parse((await runCli(['eval', '--model', MODEL, '--dataset', file, '--seqlen', '128', '--windows', '0:2', '--json'])).out));
    expect(Math.abs(a.ppl - d.ppl) / d.ppl).toBeLessThan(1e-6);
    expect(a.model.kvHeads).toBe(8);
  });

  it('gives usage errors with exit code 2', async () => {
    for (const [args, msg] of [
      [['--method', 'obs'], /unknown method "obs"/],
      [['--method', 'wanda', '--pattern', '2:4', '--variant'], /--variant works with --pattern unstructured only/],
      [['--method', 'flap', '--structure', 'UL-MM'], /--structure UL-MM needs --remove-heads K/],
      [['--method', 'flap', '--metric', 'XYZ'], /--metric must be one of WIFV, WIFN, IFV/],
      [['--method', 'magnitude', '--metric', 'WIFV'], /--metric does not apply to --method magnitude/],
      [['--method', 'magnitude', '--sparsity', '1.5'], /--sparsity must be a number in \[0, 1\)/],
      [['--method', 'magnitude', '--pattern', '2:4', '--sparsity', '0.3'], /--pattern 2:4 prunes 2\/4 of the weights/],
      [['--method', 'magnitude', '--backend', 'tpu', '--dataset', file], /unknown backend "tpu"/],
      [[], /--method is required/],
    ] as const) {
      const r = await runCli(['prune', '--model', MODEL, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err).toMatch(/usage:/);
    }
    const h = await runCli(['prune', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/--calib-offset O/);
  });
});

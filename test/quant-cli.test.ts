/**
 * `studio quantize --method rtn`: records with real sizes, 8-bit ≈ dense, 4-bit worse but
 * finite, --out checkpoints (packed U8 codes) that `studio eval` reloads with the same
 * perplexity, prune-then-quantize keeping the zeros, usage errors.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../src/cli/fs-source';
import { loadModel } from '../src/engine/model/load';
import { SafetensorsFile } from '../src/engine/model/safetensors';
import { LINEAR_NAMES } from '../src/engine/model/weights';
import { parseExperimentRecord } from '../src/engine/record';
import { runCli } from './support/cli';
import { REPO_ROOT } from './support/paths';

const MODEL = path.join(REPO_ROOT, 'public/models/stories260K');
const dir = mkdtempSync(path.join(tmpdir(), 'studio-quant-'));
const file = path.join(dir, 'stories.txt');
writeFileSync(file, readFileSync(path.join(REPO_ROOT, 'public/datasets/tinystories_val.txt'), 'utf8').slice(0, 6_000));
const protocol = ['--dataset', file, '--seqlen', '128', '--windows', '0:2'];

async function quantize(extra: string[]) {
  const r = await runCli(['quantize', '--model', MODEL, '--method', 'rtn', ...protocol, '--json', ...extra]);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  return parseExperimentRecord(JSON.parse(r.out));
}

describe('studio quantize --method rtn', () => {
  it('8-bit is within 0.2 % of dense; 4-bit group 64 is worse but finite; sizes are the packed bytes', async () => {
    const r8 = await quantize(['--bits', '8', '--group', '32']);
    expect(r8.method).toEqual({ name: 'rtn', bits: 8, groupSize: 32, symmetric: false });
    expect(Math.abs(r8.ppl - r8.baseline!.ppl) / r8.baseline!.ppl).toBeLessThan(0.002);

    const r4 = await quantize(['--bits', '4', '--group-size', '64', '--asym']);
    expect(r4.ppl).toBeGreaterThan(r4.baseline!.ppl * 1.01);
    expect(Number.isFinite(r4.ppl)).toBe(true);
    // Per layer, hand-computed: the six linears reading the 64-wide hidden state have 536
    // rows of one 64-column block (32 code bytes + 4 scale bytes + 1 zero byte); down_proj
    // has 64 rows of ⌈172/64⌉ = 3 blocks (3·32 + 3·4 + ⌈3·4/8⌉ = 110 bytes). 5 layers.
    const linear = 5 * (536 * 37 + 64 * 110);
    expect(r4.size!.linearBytesAfter).toBe(linear);
    expect(r4.size!.linearBytesBefore).toBe(5 * 4 * (536 * 64 + 64 * 172));
    // Embedding (tied head) and norms stay float32.
    const floats = 4 * (512 * 64 + 5 * 2 * 64 + 64);
    expect(r4.size!.bytesBefore).toBe(floats + r4.size!.linearBytesBefore);
    expect(r4.size!.bytesAfter).toBe(floats + linear);
    expect(r4.size!.effectiveBits).toBeCloseTo((8 * linear) / (5 * (536 * 64 + 64 * 172)), 10);
    expect(r4.timings.quantizeMs).toBeGreaterThan(0);

    const g = await quantize(['--bits', '4', '--group', '64', '--sym-rule', 'gptq']);
    expect(g.method).toEqual({ name: 'rtn', bits: 4, groupSize: 64, symmetric: true, symmetricRule: 'gptq' });
    expect(g.ppl).not.toBe(r4.ppl);
    expect(g.size!.linearBytesAfter).toBe(5 * (536 * 36 + 64 * 108)); // no zero points stored
  }, 60_000);

  it('--out writes packed integers that studio eval reloads with identical perplexity', async () => {
    const out = path.join(dir, 'rtn3');
    const rec = await quantize(['--bits', '3', '--group', '32', '--sym', '--out', out]);
    const cfg = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.quantization_config).toMatchObject({ quant_method: 'pq-studio', format: 'matmulnbits', bits: 3, group_size: 32 });
    const st = new SafetensorsFile(readFileSync(path.join(out, 'model.safetensors')));
    expect(st.entry('model.layers.0.self_attn.q_proj.qweight')).toMatchObject({ dtype: 'U8', shape: [64, 2, 12] });
    expect(st.entry('model.layers.0.mlp.down_proj.scales')).toMatchObject({ dtype: 'F32', shape: [64, 6] });
    expect(st.names.some((n) => n.endsWith('q_proj.weight') || n.endsWith('.qzeros'))).toBe(false); // symmetric: no zero points
    const e = await runCli(['eval', '--model', out, ...protocol, '--json']);
    expect(e.code).toBe(0);
    expect(parseExperimentRecord(JSON.parse(e.out)).meanNll).toBe(rec.meanNll);
    const m = await loadModel('rtn3', dirSource(out));
    expect(m.weights.layers[2]!.down.packed).toMatchObject({ bits: 3, blockSize: 32, kBlocks: 6 });

    // A config that does not match the packed tensors is refused, naming the problem.
    const bad = path.join(dir, 'rtn3-bad');
    cpSync(out, bad, { recursive: true });
    const badCfg = (q: object) => writeFileSync(path.join(bad, 'config.json'), JSON.stringify({ ...cfg, quantization_config: { ...cfg.quantization_config, ...q } }));
    badCfg({ bits: 4 });
    await expect(loadModel('bad', dirSource(bad))).rejects.toThrow(/q_proj\.qweight" has shape \[64, 2, 12\], expected \[64, 2, 16\] for 4-bit blocks of 32/);
    badCfg({ group_size: 64 });
    await expect(loadModel('bad', dirSource(bad))).rejects.toThrow(/scales" has 2 blocks per row; 64 inputs in groups of 64 make 1/);
    badCfg({ quant_method: 'gptq' });
    await expect(loadModel('bad', dirSource(bad))).rejects.toThrow(/only "quant_method": "pq-studio"/);
    const { quantization_config: _q, ...plain } = cfg;
    writeFileSync(path.join(bad, 'config.json'), JSON.stringify(plain));
    await expect(loadModel('bad', dirSource(bad))).rejects.toThrow(/packed U8 tensors .* no quantization_config/);
  }, 60_000);

  it('--format onnx writes the quantized model as ONNX (MatMulNBits), the same as exporting its checkpoint', async () => {
    const packed = path.join(dir, 'rtn4-st');
    const direct = path.join(dir, 'rtn4-onnx');
    await quantize(['--bits', '4', '--group', '32', '--out', packed]);
    await quantize(['--bits', '4', '--group', '32', '--out', direct, '--format', 'onnx']);
    expect(readdirSync(direct)).toEqual(expect.arrayContaining(['config.json', 'model.onnx', 'tokenizer.json']));
    const viaExport = path.join(dir, 'rtn4-export');
    const e = await runCli(['export', '--model', packed, '--format', 'onnx', '--out', viaExport, '--verify', '--json']);
    expect(e.code).toBe(0);
    expect(JSON.parse(e.out).verify.relative).toBeLessThan(1e-3);
    expect(readFileSync(path.join(direct, 'model.onnx')).toString('latin1')).toContain('MatMulNBits');
    // Same weights through the same exporter; only embedded metadata strings may differ.
    expect(Math.abs(readFileSync(path.join(direct, 'model.onnx')).byteLength - readFileSync(path.join(viaExport, 'model.onnx')).byteLength)).toBeLessThan(400);
    expect((await runCli(['quantize', '--model', MODEL, '--method', 'rtn', '--format', 'onnx'])).code).toBe(2);
  });

  it('prune then quantize: the pruned zeros stay exactly zero', async () => {
    const pruned = path.join(dir, 'pruned');
    const p = await runCli(['prune', '--model', MODEL, '--method', 'magnitude', '--sparsity', '0.5', ...protocol, '--no-baseline', '--json', '--out', pruned]);
    expect(p.code).toBe(0);
    const out = path.join(dir, 'pruned-rtn');
    const r = await runCli(['quantize', '--model', pruned, '--method', 'rtn', '--bits', '4', '--group', '64', ...protocol, '--json', '--out', out]);
    expect(r.code).toBe(0);
    const before = await loadModel('p', dirSource(pruned));
    const after = await loadModel('q', dirSource(out));
    let zeros = 0;
    for (let i = 0; i < before.weights.layers.length; i++) {
      for (const n of LINEAR_NAMES) {
        const a = before.weights.layers[i]![n].data;
        const b = after.weights.layers[i]![n].data;
        expect(after.weights.layers[i]![n].packed).toBeDefined();
        for (let j = 0; j < a.length; j++) {
          if (a[j] === 0) {
            zeros++;
            expect(b[j]).toBe(0);
          }
        }
      }
    }
    expect(zeros).toBeGreaterThan(100_000);
  }, 60_000);

  it('usage errors exit with status 2 and say what is wrong', async () => {
    for (const [args, msg] of [
      [['--bits', '9'], /--bits must be an integer from 2 to 8/],
      [['--group', 'x'], /--group must be an integer/],
      [['--sym', '--asym'], /either --sym or --asym/],
      [['--sym-rule', 'x'], /--sym-rule must be mlas or gptq/],
      [['--sym-rule', 'gptq', '--asym'], /--sym-rule applies to symmetric/],
    ] as const) {
      const r = await runCli(['quantize', '--model', MODEL, '--method', 'rtn', ...args]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
    }
    const r = await runCli(['quantize', '--model', MODEL]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--method is required/);
  });
});

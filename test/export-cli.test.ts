/**
 * `studio export` and `prune --out --format`: the folders they write, reloading them, the
 * ONNX export verified in onnxruntime-web from the CLI, and bad options.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { dirSource } from '../src/cli/fs-source';
import { loadModel } from '../src/engine/model/load';
import { SafetensorsFile } from '../src/engine/model/safetensors';
import { hubCheckpointFiles, readCompanions } from '../src/engine/model/save';
import { quantizeLinears } from '../src/engine/quant/quantized-linear';
import { rtnQuantize } from '../src/engine/quant/rtn';
import { BUNDLED_MODEL_DIR } from './support/paths';
import { bundledModel } from './support/bundled';
import { runCli } from './support/cli';

ort.env.wasm.numThreads = 1;
const dir = mkdtempSync(path.join(tmpdir(), 'studio-export-'));

describe('studio export', () => {
  it('writes an ONNX folder and verifies it in onnxruntime-web', async () => {
    const out = path.join(dir, 'onnx');
    const r = await runCli(['export', '--model', 'stories260K', '--format', 'onnx', '--out', out, '--verify', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.verify.relative).toBeLessThan(1e-3);
    expect(readdirSync(out).sort()).toEqual(expect.arrayContaining(['config.json', 'model.onnx', 'tokenizer.json', 'tokenizer_config.json']));
    expect(s.files['model.onnx']).toBe(readFileSync(path.join(out, 'model.onnx')).byteLength);
    // The file on disk loads in a fresh session.
    const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(path.join(out, 'model.onnx'))), { executionProviders: ['wasm'] });
    expect(session.inputNames.slice(0, 5)).toEqual(['input_ids', 'attention_mask', 'position_ids', 'past_key_values.0.key', 'past_key_values.0.value']);
    expect(session.outputNames.slice(0, 3)).toEqual(['present.0.key', 'present.0.value', 'present.1.key']);
    expect(session.outputNames).toContain('logits');
    await session.release();
  });

  it('writes f16 safetensors that load back with nearly the same weights', async () => {
    const out = path.join(dir, 'st16');
    const r = await runCli(['export', '--model', 'stories260K', '--format', 'safetensors', '--dtype', 'f16', '--out', out]);
    expect(r.code).toBe(0);
    const st = new SafetensorsFile(new Uint8Array(readFileSync(path.join(out, 'model.safetensors'))), 'x');
    expect(st.entry('model.embed_tokens.weight').dtype).toBe('F16');
    expect(JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8')).torch_dtype).toBe('float16');
    const back = await loadModel('st16', dirSource(out));
    const dense = await bundledModel();
    const a = back.weights.layers[2]!.gate.data;
    const b = dense.weights.layers[2]!.gate.data;
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(Math.abs(b[i]!), 1e-3));
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(1e-3);
  });

  it('exports what prune --out wrote, and prune --format onnx writes ONNX directly (FLAP, per-layer shapes)', async () => {
    const pruned = path.join(dir, 'flap');
    const common = ['--model', 'stories260K', '--method', 'flap', '--sparsity', '0.5', '--gqa', 'heads', '--windows', '0:1', '--seqlen', '128', '--calib-samples', '4', '--calib-seqlen', '64', '--no-baseline'];
    expect((await runCli(['prune', ...common, '--out', pruned])).code).toBe(0);
    const viaExport = path.join(dir, 'flap-onnx');
    const r = await runCli(['export', '--model', pruned, '--format', 'onnx', '--out', viaExport, '--verify', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).verify.relative).toBeLessThan(1e-3);
    const config = JSON.parse(readFileSync(path.join(viaExport, 'config.json'), 'utf8'));
    expect(new Set(config.num_attention_heads_per_layer).size).toBeGreaterThan(1);

    const direct = path.join(dir, 'flap-direct');
    expect((await runCli(['prune', ...common, '--out', direct, '--format', 'onnx'])).code).toBe(0);
    // The same pruning gives the same graph and weights (only the metadata differs).
    expect(Math.abs(readFileSync(path.join(direct, 'model.onnx')).byteLength - readFileSync(path.join(viaExport, 'model.onnx')).byteLength)).toBeLessThan(400);
    const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(path.join(direct, 'model.onnx'))), { executionProviders: ['wasm'] });
    const heads = session.inputMetadata.filter((m) => /^past_key_values\.\d+\.key$/.test(m.name)).map((m) => (m.isTensor ? m.shape[1] : null));
    expect(heads).toEqual(config.num_key_value_heads_per_layer.map((h: number) => (h === 0 ? expect.any(String) : h)));
    await session.release();
  });

  it('exports a packed 4-bit checkpoint (as quantize --out writes it) to ONNX MatMulNBits and to dequantized safetensors', async () => {
    const packedDir = path.join(dir, 'q4');
    const dense = await bundledModel();
    const w = quantizeLinears(dense.weights, (t) => rtnQuantize(t.data, t.shape[0]!, t.shape[1]!, { bits: 4, groupSize: 32, symmetric: false }));
    mkdirSync(packedDir, { recursive: true });
    for (const [f, bytes] of Object.entries(hubCheckpointFiles(dense.config, w, await readCompanions(dirSource(BUNDLED_MODEL_DIR))))) writeFileSync(path.join(packedDir, f), bytes);
    const r = await runCli(['export', '--model', packedDir, '--format', 'onnx', '--out', path.join(dir, 'q4-onnx'), '--verify', '--json']);
    expect(r.err).toBe('');
    const s = JSON.parse(r.out);
    expect(s.quantized).toBe(true);
    expect(s.matMulNBits).toBe(35);
    expect(s.verify.relative).toBeLessThan(1e-3);
    expect(JSON.parse(readFileSync(path.join(dir, 'q4-onnx', 'config.json'), 'utf8')).quantization_config).toBeUndefined();
    // The dequantized variant: plain F32 weights equal to what the integers decode to.
    const deq = path.join(dir, 'q4-deq');
    expect((await runCli(['export', '--model', packedDir, '--format', 'safetensors', '--dequantize', '--out', deq])).code).toBe(0);
    const st = new SafetensorsFile(new Uint8Array(readFileSync(path.join(deq, 'model.safetensors'))), 'x');
    expect(st.entry('model.layers.0.mlp.down_proj.weight').dtype).toBe('F32');
    expect(st.float32('model.layers.0.mlp.down_proj.weight')).toEqual(w.layers[0]!.down.data);
    expect(JSON.parse(readFileSync(path.join(deq, 'config.json'), 'utf8')).quantization_config).toBeUndefined();
  });

  it('refuses bad options with a usage error', async () => {
    const cases: [string[], RegExp][] = [
      [['export', '--model', 'stories260K', '--format', 'onnx'], /--out is required/],
      [['export', '--model', 'stories260K', '--format', 'gguf', '--out', dir], /--format must be safetensors or onnx, got "gguf"/],
      [['export', '--model', 'stories260K', '--out', dir], /--format is required/],
      [['export', '--model', 'stories260K', '--format', 'onnx', '--dtype', 'bf16', '--out', dir], /--dtype must be f32 or f16, got "bf16"/],
      [['export', '--model', 'stories260K', '--format', 'safetensors', '--verify', '--out', dir], /--verify applies to --format onnx/],
      [['prune', '--model', 'stories260K', '--method', 'magnitude', '--format', 'onnx'], /--format and --dtype apply to --out/],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
    }
    const missing = await runCli(['export', '--model', path.join(dir, 'nope'), '--format', 'onnx', '--out', dir]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no such model directory/);
  });
});

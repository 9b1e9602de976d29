/**
 * `studio export`: any model the studio can load (a Hub-layout folder, a bundled name, a
 * Hub id, or what `prune`/`quantize --out` wrote) as a safetensors or ONNX folder;
 * `--verify` then runs the ONNX export in onnxruntime-web (wasm EP) and compares its
 * perplexity with the engine's on the same windows.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CpuBackend } from '../engine/backend/cpu/cpu-backend';
import { checkSeqlen, parseWindows, tokenStream, windowCount } from '../engine/data';
import { StudioError } from '../engine/errors';
import { evaluatePerplexity } from '../engine/eval/perplexity';
import { EXPORT_DTYPES, EXPORT_FORMATS, exportModelFiles, isQuantized, type ExportDtype, type ExportFormat, type ExportResult } from '../engine/export/export-model';
import { EXTERNAL_DATA_FILE } from '../engine/export/onnx/export';
import { createOrtDecoder, ortPerplexity } from '../engine/export/onnx/ort-run';
import { LlamaModel } from '../engine/model/llama';
import type { LoadedModel } from '../engine/model/load';
import { readCompanions } from '../engine/model/save';
import { loadCliModel, resolveDataset, UsageError, writeFiles, type Io } from './common';
import { HUB_CLI_OPTIONS, HUB_USAGE } from './hub-model';

export const EXPORT_USAGE = `usage:
  studio export --model DIR --format safetensors|onnx [--dtype f32|f16] [--dequantize] --out DIR [--verify] [--json]

  --model       a model folder in Hub layout (also what prune/quantize --out wrote), a bundled name, or a Hub id
  --format      safetensors: Hub layout (config.json with per-layer FLAP keys, packed integers for
                quantized layers); onnx: model.onnx (+ ${EXTERNAL_DATA_FILE} above 1 GiB), config.json and the
                tokenizer files, past_key_values inputs as transformers.js expects, MatMulNBits for 4/8-bit layers
  --dtype       f32 (default) or f16 weights (ONNX: f16 storage, f32 compute)
  --dequantize  write quantized layers as the float weights they decode to
  --out DIR     the folder to write (created if missing)
  --verify      onnx: run the export in onnxruntime-web (wasm) and compare its perplexity with the
                engine's (--dataset tinystories, --windows 0:2, --seqlen 128 by default)
  --json        print a JSON summary
${HUB_USAGE}`;

export async function cmdExport(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      format: { type: 'string' },
      dtype: { type: 'string' },
      dequantize: { type: 'boolean', default: false },
      out: { type: 'string' },
      verify: { type: 'boolean', default: false },
      dataset: { type: 'string' },
      windows: { type: 'string' },
      seqlen: { type: 'string' },
      ...HUB_CLI_OPTIONS,
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    io.out(`${EXPORT_USAGE}\n`);
    return 0;
  }
  const format = exportFormatOption(values.format, true);
  const dtype = exportDtypeOption(values.dtype);
  if (!values.out) throw new UsageError('--out is required');
  if (values.verify && format !== 'onnx') throw new UsageError('--verify applies to --format onnx');
  const { model, source } = await loadCliModel(values.model, values, io);
  const t0 = performance.now();
  const result = exportModelFiles(model.config, model.weights, await readCompanions(source), {
    format,
    dtype,
    dequantize: values.dequantize,
    metadata: { 'pq-studio': JSON.stringify({ source: model.id }) },
  });
  const exportMs = performance.now() - t0;
  await writeFiles(values.out, result.files);
  let verify: Awaited<ReturnType<typeof verifyOnnx>> | null = null;
  if (values.verify) verify = await verifyOnnx(model, result, values);
  const summary = {
    model: model.id,
    format,
    dtype,
    quantized: isQuantized(model.weights) && !values.dequantize,
    out: path.resolve(values.out),
    files: Object.fromEntries(Object.entries(result.files).map(([n, b]) => [n, b.byteLength])),
    matMulNBits: result.quantized.filter((q) => q.as === 'MatMulNBits').length,
    floatFallback: result.quantized.filter((q) => q.as === 'float').map((q) => `${q.name}: ${q.reason}`),
    exportMs,
    ...(verify ? { verify } : {}),
  };
  if (values.json) {
    io.out(`${JSON.stringify(summary)}\n`);
  } else {
    const lines = [`model      ${model.id}`, `format     ${format} (${dtype}${summary.quantized ? ', packed integers' : ''})`, `written    ${summary.out}`];
    for (const [n, size] of Object.entries(summary.files)) lines.push(`  ${n.padEnd(24)} ${size.toLocaleString('en-US')} bytes`);
    if (summary.matMulNBits) lines.push(`MatMulNBits ${summary.matMulNBits} linears`);
    for (const f of summary.floatFallback) lines.push(`float      ${f}`);
    if (verify) {
      lines.push(`verify     ${verify.dataset} windows ${verify.windows} of ${verify.seqlen} tokens: onnxruntime-web ppl ${verify.onnxPpl.toFixed(6)}, engine ${verify.enginePpl.toFixed(6)}, relative difference ${verify.relative.toExponential(2)}`);
    }
    io.out(`${lines.join('\n')}\n`);
  }
  if (verify && !(verify.relative < 1e-3)) throw new StudioError('numerics', `the ONNX export's perplexity differs from the engine's by ${verify.relative.toExponential(2)} relative`);
  return 0;
}

export function exportFormatOption(v: string | undefined, required: boolean): ExportFormat {
  if (v === undefined) {
    if (required) throw new UsageError('--format is required (safetensors or onnx)');
    return 'safetensors';
  }
  if (!(EXPORT_FORMATS as readonly string[]).includes(v)) throw new UsageError(`--format must be ${EXPORT_FORMATS.join(' or ')}, got "${v}"`);
  return v as ExportFormat;
}

export function exportDtypeOption(v: string | undefined): ExportDtype {
  if (v === undefined) return 'f32';
  if (!(EXPORT_DTYPES as readonly string[]).includes(v)) throw new UsageError(`--dtype must be ${EXPORT_DTYPES.join(' or ')}, got "${v}"`);
  return v as ExportDtype;
}

async function verifyOnnx(model: LoadedModel, result: ExportResult, v: { dataset?: string | undefined; windows?: string | undefined; seqlen?: string | undefined }) {
  const dataset = await resolveDataset(v.dataset ?? 'tinystories');
  const seqlen = v.seqlen === undefined ? Math.min(128, model.config.maxPositionEmbeddings) : Number(v.seqlen);
  if (!Number.isInteger(seqlen)) throw new UsageError(`--seqlen must be an integer, got "${v.seqlen}"`);
  checkSeqlen(seqlen, model.config.maxPositionEmbeddings);
  const stream = tokenStream(model.tokenizer, dataset.text, model.config.bosTokenId).ids;
  const windows = parseWindows(v.windows ?? '0:2', windowCount(stream.length, seqlen));
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const d = await createOrtDecoder(ort, result.files['model.onnx']!, { externalData: result.files[EXTERNAL_DATA_FILE] ?? null });
  const onnx = await ortPerplexity(d, stream, seqlen, windows);
  await d.session.release();
  const lm = new LlamaModel(model.config, new CpuBackend(), model.weights);
  const engine = await evaluatePerplexity(lm, stream, { seqlen, windows });
  lm.dispose();
  return {
    dataset: dataset.name,
    seqlen,
    windows: `${windows.start}:${windows.end}`,
    onnxPpl: onnx.ppl,
    enginePpl: engine.ppl,
    relative: Math.abs(onnx.meanNll - engine.meanNll) / engine.meanNll,
  };
}

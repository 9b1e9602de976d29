/**
 * `studio quantize`: round-to-nearest quantization of every decoder linear to packed
 * integers, perplexity before and after on the same windows, the real size before and
 * after, one ExperimentRecord; --out writes the packed model in Hub layout (or ONNX).
 */
import { parseArgs } from 'node:util';
import { runQuantizeExperiment } from '../engine/quant/experiment';
import type { ExperimentRecord, RtnMethod } from '../engine/record';
import { CODE_BITS, GROUP_SIZE, isGroupSize } from '../engine/rules';
import { loadCliModel, resolveDataset, UsageError, withUsage, type Io } from './common';
import { modelOutputFromArgs, writeModelOutput } from './model-output';
import { cmdL4Q, isL4QCall } from './l4q-command';
import { backendLine, beforeAfterLines, modelLine, printRecord, seconds, windowsLine } from './record-summary';
import { EXPERIMENT_OPTIONS, runOnCliBackend } from './run-experiment';

export const RTN_DEFAULTS = { bits: 4, groupSize: 64 as number | null, symmetric: false };

export const QUANTIZE_USAGE = `usage:
  studio quantize --model DIR --method rtn [--bits B] [--group G|channel] [--sym|--asym] [options] [--json] [--out DIR]

  --method rtn        round to nearest (--method l4q: LoRA + learned step sizes, studio quantize --method l4q --help)
  --bits B            ${CODE_BITS.text} (default ${RTN_DEFAULTS.bits})
  --group G           input columns per scale: 32, 64 (default), 128, any positive integer,
                      or "channel" (one scale per output row); --group-size is the same option.
                      A group wider than a row is the whole row.
  --sym               symmetric: scale = e/−2^(B−1) with e the group's signed extreme, zero point
                      2^(B−1) implied (ONNX Runtime's symmetric rule)
  --asym              asymmetric (default): min-max over [min(w,0), max(w,0)], stored zero point
  --sym-rule R        symmetric scale: mlas (default, above) or gptq (scale = 2·max|w|/(2^B−1),
                      zero point 2^(B−1); clips the positive extreme); implies --sym
  --dataset D         evaluation text (default: tinystories); --seqlen L (default 512); --windows A:B (default all)
  --no-baseline       skip the dense evaluation
  --backend B         cpu (default), wasm, webgpu or auto (as studio eval)
  --json              print the ExperimentRecord as JSON
  --out DIR           write the packed model in Hub layout (U8 codes + F32 scales + zero points in
                      model.safetensors, quantization_config in config.json); studio eval --model DIR reloads it
  --format F          with --out: safetensors (default) or onnx (model.onnx with com.microsoft.MatMulNBits)
  --dtype D           with --out: f32 (default) or f16 for the float weights (packed codes unchanged)`;

function int(v: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v.trim()) || Number(v) < min || Number(v) > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${v}"`);
  return Number(v);
}

/** --group G: a positive integer (rules.ts isGroupSize; no upper bound, a group wider than a row is the row). */
function groupOption(v: string): number {
  if (!/^\d+$/.test(v.trim()) || !isGroupSize(Number(v))) throw new UsageError(`--group must be an integer of at least ${GROUP_SIZE.min}, or "channel", got "${v}"`);
  return Number(v);
}

type Values = Record<string, string | boolean | undefined>;

/** Method settings from the command line (validated). */
export function quantMethodFromArgs(v: Values): RtnMethod {
  const method = v.method as string | undefined;
  if (!method) throw new UsageError('--method is required (rtn)');
  if (method !== 'rtn') throw new UsageError(`unknown method "${method}" (expected rtn)`);
  if (v.sym && v.asym) throw new UsageError('give either --sym or --asym, not both');
  const g = (v.group ?? v['group-size']) as string | undefined;
  if (v.group !== undefined && v['group-size'] !== undefined) throw new UsageError('give either --group or --group-size, not both');
  let groupSize = RTN_DEFAULTS.groupSize;
  if (g !== undefined) groupSize = g === 'channel' || g === 'per-channel' ? null : groupOption(g);
  const rule = v['sym-rule'] as string | undefined;
  if (rule !== undefined && rule !== 'mlas' && rule !== 'gptq') throw new UsageError(`--sym-rule must be mlas or gptq, got "${rule}"`);
  if (rule !== undefined && v.asym) throw new UsageError('--sym-rule applies to symmetric quantization, not --asym');
  const symmetric = v.sym || rule !== undefined ? true : v.asym ? false : RTN_DEFAULTS.symmetric;
  return {
    name: 'rtn',
    bits: int(v.bits as string | undefined, 'bits', RTN_DEFAULTS.bits, CODE_BITS.min, CODE_BITS.max),
    groupSize,
    symmetric,
    // Absent means the default (mlas), so records of the default rule stay as they were.
    ...(rule === 'gptq' ? { symmetricRule: 'gptq' as const } : {}),
  };
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(3)} MiB (${bytes.toLocaleString('en-US')} bytes)`;
}

function summary(r: ExperimentRecord): string {
  const m = r.method as RtnMethod;
  const lines = [
    modelLine(r),
    `method     rtn ${m.bits}-bit, ${m.groupSize === null ? 'per channel' : `groups of ${m.groupSize}`}, ${m.symmetric ? `symmetric (${m.symmetricRule ?? 'mlas'} scale)` : 'asymmetric'}`,
    windowsLine(r),
  ];
  if (r.size) {
    const s = r.size;
    lines.push(`size       ${mib(s.bytesBefore)} → ${mib(s.bytesAfter)}`);
    lines.push(`linears    ${mib(s.linearBytesBefore)} → ${mib(s.linearBytesAfter)}, ${s.effectiveBits.toFixed(3)} bits per weight with scales and zero points`);
  }
  lines.push(...beforeAfterLines(r));
  const t = r.timings;
  lines.push(`timings    quantize ${seconds(t.quantizeMs)}, baseline ${seconds(t.baselineEvalMs)}, eval ${seconds(t.evalMs)}, total ${seconds(t.wallMs)}`);
  lines.push(backendLine(r), '');
  return lines.join('\n');
}

export async function cmdQuantize(args: string[], io: Io): Promise<number> {
  // L4Q has its own options (training, calibration): l4q-command.ts parses them.
  if (isL4QCall(args)) return cmdL4Q(args, io);
  const { values } = parseArgs({
    args,
    options: {
      ...EXPERIMENT_OPTIONS,
      bits: { type: 'string' },
      group: { type: 'string' },
      'group-size': { type: 'string' },
      sym: { type: 'boolean' },
      asym: { type: 'boolean' },
      'sym-rule': { type: 'string' },
    },
    strict: true,
  });
  if (values.help) {
    io.out(`${QUANTIZE_USAGE}\n`);
    return 0;
  }
  return withUsage(QUANTIZE_USAGE, io, async () => {
    const method = quantMethodFromArgs(values);
    const output = modelOutputFromArgs(values);
    const seqlen = int(values.seqlen, 'seqlen', 512, 2, 1 << 20);
    const dataset = await resolveDataset(values.dataset ?? 'tinystories', '--dataset');
    const loaded = await loadCliModel(values.model, values, io);
    const result = await runOnCliBackend(values, io, loaded, dataset, seqlen, (inputs) => runQuantizeExperiment({ ...inputs, method, baseline: !values['no-baseline'] }));
    if (output) await writeModelOutput(output, loaded.source, result, { source: loaded.model.id, method: result.record.method });
    printRecord(io, result.record, values, summary);
    return 0;
  });
}

/**
 * `studio prune`: magnitude, Wanda or FLAP on a model, perplexity before and after on the
 * same windows, one ExperimentRecord; --out writes the pruned model in Hub layout.
 */
import { parseArgs } from 'node:util';
import { DEFAULT_CALIBRATION } from '../engine/calibrate';
import { runPruneExperiment } from '../engine/prune/experiment';
import { FLAP_DEFAULTS } from '../engine/prune/flap';
import { parsePattern } from '../engine/prune/nm';
import type { ExperimentRecord, MethodSpec } from '../engine/record';
import { isPruneFraction, PRUNE_FRACTION } from '../engine/rules';
import { isCount, loadCliModel, numberOption, UsageError, withUsage, type Io } from './common';
import { modelOutputFromArgs, writeModelOutput } from './model-output';
import { backendLine, beforeAfterLines, modelLine, overlapLines, printRecord, seconds, windowsLine } from './record-summary';
import { CALIBRATION_OPTIONS, calibrationSamplingOptions, EXPERIMENT_OPTIONS, evalAndCalibrationData, runOnCliBackend } from './run-experiment';

export const PRUNE_USAGE = `usage:
  studio prune --model DIR --method magnitude|wanda|flap [--sparsity P] [options] [--json] [--out DIR]
  studio prune --model DIR --expand-gqa --out DIR        (MHA-expanded copy of a GQA model)

  --sparsity P        fraction to prune (magnitude/wanda: default 0.5; flap: the pruning ratio, default 0.2)
  --pattern X         unstructured (default), 2:4, 4:8 or any N:M (magnitude, wanda)
  --granularity G     magnitude: matrix (one threshold per matrix, official; default) or row
  --one-shot          wanda: statistics from the dense model (default: sequential, as the official code)
  --variant           wanda: the per-row cumulative-score variant (unstructured only)
  --metric M          flap: WIFV (default), WIFN, IFV
  --structure S       flap: AL-AM (default), UL-UM, UL-MM, AL-MM
  --remove-heads K    flap UL-MM / AL-MM: heads to remove
  --head-cost C       flap: truncated (official integer head cost; default) or exact
  --gqa U             flap on GQA models: groups (remove whole key/value groups; default) or heads
  --fluctuation F     flap: official (running recurrence; default) or variance (exact)
  --no-bias           flap: no baseline bias compensation
  --baseline-fp16     flap: round the calibration means and biases to fp16 as the official code
  --expand-gqa        copy every key/value head per query head first (MHA with the same function)
  --calib-dataset D   calibration text (default: tinystories)
  --calib-offset O    first calibration token (default ${DEFAULT_CALIBRATION.offset})
  --calib-samples N   calibration samples (default ${DEFAULT_CALIBRATION.samples})
  --calib-seqlen S    tokens per calibration sample (default ${DEFAULT_CALIBRATION.seqlen})
  --calib-seed S      random sample offsets (Python random.seed(S); randint) instead of contiguous
  --dataset D         evaluation text (default: tinystories); --seqlen L (default 512); --windows A:B (default all)
  --no-baseline       skip the dense evaluation
  --backend B         cpu (default), wasm, webgpu or auto (as studio eval)
  --gpu-weights W     auto (default), f32 or f16: WebGPU weight storage (as studio eval)
  --json              print the ExperimentRecord as JSON
  --out DIR           write the result in Hub layout (safetensors + config.json + tokenizer files)
  --format F          with --out: safetensors (default) or onnx (model.onnx + config.json + tokenizer files)
  --dtype D           with --out: f32 (default) or f16 weights`;

function oneOf<T extends string>(v: string | undefined, name: string, allowed: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got "${v}"`);
  return v as T;
}

type Values = Record<string, string | boolean | undefined>;

/** Method settings from the command line (validated). */
export function methodFromArgs(v: Values): MethodSpec {
  const str = (k: string) => v[k] as string | undefined;
  const method = str('method') ?? (v['expand-gqa'] ? 'none' : undefined);
  if (!method) throw new UsageError('--method is required (magnitude, wanda or flap)');
  const ratio = (fallback: number) => numberOption(str('sparsity'), 'sparsity', fallback, isPruneFraction, `a number in ${PRUNE_FRACTION.text}`);
  const pattern = str('pattern') ?? 'unstructured';
  /** The pattern, checked; for N:M the sparsity is N/M (the official code asserts --sparsity 0.5 for 2:4 and 4:8). */
  const patternSparsity = (fallback: number): number => {
    let p: ReturnType<typeof parsePattern>;
    try {
      p = parsePattern(pattern);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (p === 'unstructured') return ratio(fallback);
    const implied = p.n / p.m;
    if (str('sparsity') !== undefined && ratio(implied) !== implied) throw new UsageError(`--pattern ${pattern} prunes ${p.n}/${p.m} of the weights; leave out --sparsity or give ${implied}`);
    return implied;
  };
  const onlyFor = (flags: string[], m: string) => {
    for (const k of flags) if (v[k] !== undefined && v[k] !== false) throw new UsageError(`--${k} does not apply to --method ${m}`);
  };
  const wandaFlags = ['one-shot', 'variant'];
  const flapFlags = ['metric', 'structure', 'remove-heads', 'head-cost', 'gqa', 'fluctuation', 'no-bias', 'baseline-fp16'];
  switch (method) {
    case 'none':
      onlyFor(['sparsity', 'pattern', 'granularity', ...wandaFlags, ...flapFlags], 'none');
      return { name: 'dense' };
    case 'magnitude':
      onlyFor([...wandaFlags, ...flapFlags], method);
      return { name: 'magnitude', sparsity: patternSparsity(0.5), pattern, granularity: oneOf(str('granularity'), 'granularity', ['matrix', 'row'] as const, 'matrix') };
    case 'wanda': {
      onlyFor(['granularity', ...flapFlags], method);
      if (v.variant && pattern !== 'unstructured') throw new UsageError('--variant works with --pattern unstructured only');
      return { name: 'wanda', sparsity: patternSparsity(0.5), pattern, mode: v['one-shot'] ? 'one-shot' : 'sequential', variant: Boolean(v.variant) };
    }
    case 'flap': {
      onlyFor(['pattern', 'granularity', ...wandaFlags], method);
      const structure = oneOf(str('structure'), 'structure', ['AL-AM', 'UL-UM', 'UL-MM', 'AL-MM'] as const, FLAP_DEFAULTS.structure);
      const removeHeads = str('remove-heads') === undefined ? null : numberOption(str('remove-heads'), 'remove-heads', 0, isCount, 'a non-negative integer');
      if ((structure === 'UL-MM' || structure === 'AL-MM') && removeHeads === null) throw new UsageError(`--structure ${structure} needs --remove-heads K`);
      return {
        name: 'flap',
        pruningRatio: ratio(FLAP_DEFAULTS.pruningRatio),
        metric: oneOf(str('metric'), 'metric', ['WIFV', 'WIFN', 'IFV'] as const, FLAP_DEFAULTS.metric),
        structure,
        removeHeads,
        headCost: oneOf(str('head-cost'), 'head-cost', ['truncated', 'exact'] as const, FLAP_DEFAULTS.headCost),
        gqaUnit: oneOf(str('gqa'), 'gqa', ['groups', 'heads'] as const, 'groups') === 'heads' ? 'head' : 'group',
        biasCompensation: !v['no-bias'],
        fluctuation: oneOf(str('fluctuation'), 'fluctuation', ['official', 'variance'] as const, FLAP_DEFAULTS.fluctuation),
        baselineDtype: v['baseline-fp16'] ? 'fp16' : 'fp32',
      };
    }
    default:
      throw new UsageError(`unknown method "${method}" (expected magnitude, wanda or flap)`);
  }
}

function methodLabel(m: MethodSpec): string {
  switch (m.name) {
    case 'dense':
      return 'none (dense)';
    case 'magnitude':
      return `magnitude ${m.pattern === 'unstructured' ? `${m.sparsity} unstructured per ${m.granularity}` : m.pattern}`;
    case 'wanda':
      return `wanda ${m.pattern === 'unstructured' ? `${m.sparsity} unstructured` : m.pattern}${m.variant ? ' variant' : ''} (${m.mode})`;
    case 'flap':
      return `flap ${m.pruningRatio} ${m.metric} ${m.structure}${m.removeHeads !== null ? ` remove-heads ${m.removeHeads}` : ''}, head cost ${m.headCost}, ${m.fluctuation} fluctuation${m.biasCompensation ? '' : ', no bias'}`;
    case 'rtn':
      return `rtn ${m.bits}-bit ${m.groupSize === null ? 'per channel' : `group ${m.groupSize}`} ${m.symmetric ? 'symmetric' : 'asymmetric'}`;
    case 'l4q':
      return `l4q ${m.bits}-bit ${m.groupSize === null ? 'per channel' : `group ${m.groupSize}`} rank ${m.rank}, ${m.steps} steps`;
  }
}

function summary(r: ExperimentRecord): string {
  const lines = [
    `${modelLine(r)}${r.modelTransform ? `, ${r.modelTransform}` : ''}`,
    `method     ${methodLabel(r.method)}`,
  ];
  if (r.calibration) {
    const c = r.calibration;
    lines.push(`calibrate  ${c.dataset.name}: ${c.samples} × ${c.seqlen} tokens, ${c.sampling === 'random' ? `random offsets (seed ${c.seed})` : `from token ${c.offset}`}`);
  }
  if (r.sparsity) {
    const s = r.sparsity;
    lines.push(
      s.kind === 'zeros'
        ? `sparsity   ${(100 * s.achieved).toFixed(3)}% zeros in decoder linears (${s.zerosAfter.toLocaleString('en-US')} of ${s.linearParamsAfter.toLocaleString('en-US')})`
        : `sparsity   ${(100 * s.achieved).toFixed(3)}% of decoder linear parameters removed (${s.linearParamsBefore.toLocaleString('en-US')} → ${s.linearParamsAfter.toLocaleString('en-US')})`,
    );
  }
  if (r.layers && r.method.name === 'flap') {
    for (const l of r.layers) lines.push(`  layer ${l.layer}  heads ${l.heads.before}→${l.heads.after}  kv ${l.kvHeads.before}→${l.kvHeads.after}  channels ${l.channels.before}→${l.channels.after}`);
  }
  lines.push(windowsLine(r), ...overlapLines(r), ...beforeAfterLines(r));
  const t = r.timings;
  lines.push(`timings    calibrate ${seconds(t.calibrateMs)}, prune ${seconds(t.pruneMs)}, baseline ${seconds(t.baselineEvalMs)}, eval ${seconds(t.evalMs)}, total ${seconds(t.wallMs)}`);
  lines.push(backendLine(r), '');
  return lines.join('\n');
}

/** The options methodFromArgs reads (studio prune, and quantize --method l4q --prune). */
export const PRUNE_METHOD_OPTIONS = {
  sparsity: { type: 'string' },
  pattern: { type: 'string' },
  granularity: { type: 'string' },
  'one-shot': { type: 'boolean' },
  variant: { type: 'boolean' },
  metric: { type: 'string' },
  structure: { type: 'string' },
  'remove-heads': { type: 'string' },
  'head-cost': { type: 'string' },
  gqa: { type: 'string' },
  fluctuation: { type: 'string' },
  'no-bias': { type: 'boolean' },
  'baseline-fp16': { type: 'boolean' },
} as const;

export async function cmdPrune(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...EXPERIMENT_OPTIONS,
      ...PRUNE_METHOD_OPTIONS,
      ...CALIBRATION_OPTIONS,
      'expand-gqa': { type: 'boolean' },
      'gpu-weights': { type: 'string' },
    },
    strict: true,
  });
  if (values.help) {
    io.out(`${PRUNE_USAGE}\n`);
    return 0;
  }
  return withUsage(PRUNE_USAGE, io, async () => {
    const method = methodFromArgs(values);
    const output = modelOutputFromArgs(values);
    const seqlen = numberOption(values.seqlen, 'seqlen', 512, isCount, 'a non-negative integer');
    const sampling = calibrationSamplingOptions(values, DEFAULT_CALIBRATION);
    const { dataset, calibration: calibData } = await evalAndCalibrationData(values);
    const loaded = await loadCliModel(values.model, values, io);
    const result = await runOnCliBackend(values, io, loaded, dataset, seqlen, (inputs) =>
      runPruneExperiment({
        ...inputs,
        calibration: { text: calibData.text, dataset: { name: calibData.name, source: calibData.source }, sampling },
        method,
        expandGqa: Boolean(values['expand-gqa']),
        baseline: !values['no-baseline'],
      }),
    );
    if (output) await writeModelOutput(output, loaded.source, result, { source: loaded.model.id, method: result.record.method, modelTransform: result.record.modelTransform ?? null });
    printRecord(io, result.record, values, summary);
    return 0;
  });
}

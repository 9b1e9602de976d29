/**
 * `studio quantize --method l4q`: L4Q quantization-aware training on calibration windows,
 * merged into packed integers; perplexity of the dense model, of RTN at the same settings
 * and of the L4Q integer model on the same windows; one ExperimentRecord.
 */
import { parseArgs } from 'node:util';
import { l4qCalibration, runL4QExperiment, L4Q_CALIBRATION } from '../engine/quant/l4q-experiment';
import { QUANT_INITS, type QuantInit } from '../engine/quant/l4q';
import { L4Q_DEFAULTS } from '../engine/quant/train';
import { l4qRecoveredShare, rtnLoraMergedKeptShare } from '../engine/quant/l4q-shares';
import type { ExperimentRecord, L4QMethod } from '../engine/record';
import { CODE_BITS, isCodeBits, isGroupSize } from '../engine/rules';
import { loadCliModel, UsageError, type Io } from './common';
import { modelOutputFromArgs, writeModelOutput } from './model-output';
import { CALIBRATION_OPTIONS, calibrationSamplingOptions, evalAndCalibrationData, EXPERIMENT_OPTIONS, runOnCliBackend } from './run-experiment';
import { methodFromArgs, PRUNE_METHOD_OPTIONS } from './prune-command';
import { overlapLines } from './record-summary';

export const L4Q_USAGE = `usage:
  studio quantize --model M --method l4q [--bits 4] [--group 32] [--sym|--asym] [--rank 8 --alpha 16]
                  [--steps T --warmup Tw --lr x --lr-quant y --batch n --seed s] [options] [--json] [--out DIR]

  --bits B            ${CODE_BITS.text} (default ${L4Q_DEFAULTS.bits}); integers q ∈ [−2^(B−1), 2^(B−1)−1]
  --group G           input columns per step/offset group (default ${L4Q_DEFAULTS.group}), or "channel" (one per row)
  --sym | --asym      symmetric: offset b ≡ 0; asymmetric (default): b learned (LSQ+)
  --rank r --alpha a  LoRA rank and alpha: W' = W0 + (a/r)·B·A (default r ${L4Q_DEFAULTS.rank}, a ${L4Q_DEFAULTS.alpha})
  --steps T           optimizer steps in all (default ${L4Q_DEFAULTS.steps}); --warmup Tw LoRA-only steps first (default ${L4Q_DEFAULTS.warmup})
  --lr x              Adam learning rate of LoRA A, B (default ${L4Q_DEFAULTS.lr})
  --lr-quant y        Adam learning rate of the steps s and offsets b (default ${L4Q_DEFAULTS.lrQuant})
  --batch n           calibration windows per step (default ${L4Q_DEFAULTS.batch}); --seed s (default ${L4Q_DEFAULTS.seed})
  --init I            s, b at the end of warm-up: minmax (default; s = (max−min)/(Qp−Qn), b = min − s·Qn),
                      l4q (L4Q_init: s = max(|min/Qn|, |max/Qp|), b = 0; the default with --sym)
                      or lsq (s = 2·mean|w|/√Qp, b = 0)
  --grad-scale g      LSQ gradient scale of s, b (default 1/√(G·Qp))
  --prune M           prune first in the same experiment: magnitude, wanda or flap, with the
                      options of studio prune (--sparsity, --pattern, --structure, …); zeros stay zero
  --no-rtn            skip the RTN comparison at the same bits/group/symmetry
  --rtn-lora          also train the RTN-then-LoRA baseline (LoRA with the same budget on the
                      frozen RTN model, evaluated unmerged); doubles the training time
  --calib-dataset D --calib-offset O --calib-samples N --calib-seqlen S --calib-seed S
                      training windows (as studio prune; default tinystories, ${L4Q_CALIBRATION.offset}, ${L4Q_CALIBRATION.samples}, ${L4Q_CALIBRATION.seqlen};
                      a model with a shorter context: windows of its context, as many tokens)
  --dataset D --seqlen L --windows A:B   evaluation (default tinystories, 512, all)
  --no-baseline       skip the dense evaluation
  --backend B         cpu (default), wasm, webgpu or auto: evaluation, and training where the backend has the
                      backward ops (cpu, webgpu; otherwise training runs on the CPU reference)
  --json              print the ExperimentRecord as JSON
  --out DIR           write the merged integer model (packed codes, scales, zero points; no LoRA) in
                      Hub layout; studio eval --model DIR reloads it with the same perplexity
  --format F          with --out: safetensors (default) or onnx (model.onnx with com.microsoft.MatMulNBits)
  --dtype D           with --out: f32 (default) or f16 for the float weights (packed codes unchanged)`;

class L4QUsageError extends UsageError {}

function number(v: string | undefined, name: string, fallback: number, ok: (x: number) => boolean, what: string): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new L4QUsageError(`--${name} must be ${what}, got "${v}"`);
  return x;
}
const int = (x: number) => Number.isSafeInteger(x) && x >= 0;
const pos = (x: number) => x > 0;

type Values = Record<string, string | boolean | undefined>;

/** The L4Q method record from the command line (validated here; the trainer checks again). */
export function l4qMethodFromArgs(v: Values): L4QMethod {
  const s = (k: string) => v[k] as string | undefined;
  if (v.sym && v.asym) throw new L4QUsageError('--sym and --asym exclude each other');
  const group = s('group') === 'channel' ? null : number(s('group'), 'group', L4Q_DEFAULTS.group, isGroupSize, 'a positive integer or "channel"');
  // The default initialisation is min-max, which needs a learned offset: symmetric runs use L4Q_init.
  const init = (s('init') ?? (v.sym ? 'l4q' : L4Q_DEFAULTS.init)) as QuantInit;
  if (!QUANT_INITS.includes(init)) throw new L4QUsageError(`--init must be one of ${QUANT_INITS.join(', ')}, got "${init}"`);
  const steps = number(s('steps'), 'steps', L4Q_DEFAULTS.steps, (x) => int(x) && x > 0, 'a positive integer');
  const m: L4QMethod = {
    name: 'l4q',
    bits: number(s('bits'), 'bits', L4Q_DEFAULTS.bits, isCodeBits, `an integer from ${CODE_BITS.text}`),
    groupSize: group,
    symmetric: Boolean(v.sym),
    rank: number(s('rank'), 'rank', L4Q_DEFAULTS.rank, (x) => int(x) && x > 0, 'a positive integer'),
    alpha: number(s('alpha'), 'alpha', L4Q_DEFAULTS.alpha, pos, 'a positive number'),
    steps,
    warmup: number(s('warmup'), 'warmup', Math.min(L4Q_DEFAULTS.warmup, steps), (x) => int(x) && x <= steps, `an integer from 0 to --steps (${steps})`),
    lr: number(s('lr'), 'lr', L4Q_DEFAULTS.lr, pos, 'a positive number'),
    lrQuant: number(s('lr-quant'), 'lr-quant', L4Q_DEFAULTS.lrQuant, pos, 'a positive number'),
    batch: number(s('batch'), 'batch', L4Q_DEFAULTS.batch, (x) => int(x) && x > 0, 'a positive integer'),
    seed: number(s('seed'), 'seed', L4Q_DEFAULTS.seed, int, 'a non-negative integer'),
    init,
    gradScale: s('grad-scale') === undefined ? null : number(s('grad-scale'), 'grad-scale', 0, pos, 'a positive number'),
  };
  if (m.symmetric && m.init === 'minmax') throw new L4QUsageError('--init minmax is asymmetric; use --init l4q or lsq with --sym');
  const prune = s('prune');
  if (prune !== undefined) {
    if (!['magnitude', 'wanda', 'flap'].includes(prune)) throw new L4QUsageError(`--prune must be magnitude, wanda or flap, got "${prune}"`);
    let p;
    try {
      p = methodFromArgs({ ...v, method: prune });
    } catch (e) {
      throw new L4QUsageError((e as Error).message);
    }
    if (p.name === 'magnitude' || p.name === 'wanda' || p.name === 'flap') m.prune = p;
  }
  return m;
}

function fmtBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

function summary(r: ExperimentRecord): string {
  const m = r.method as L4QMethod;
  const t = r.training!;
  const curve = t.loss;
  const baseCurve = t.rtnLoraLoss;
  const recovered = l4qRecoveredShare(r);
  const kept = rtnLoraMergedKeptShare(r);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const lines = [
    `model      ${r.model.id} (${r.model.architecture})`,
    `method     L4Q ${m.bits}-bit, group ${m.groupSize ?? 'per channel'}, ${m.symmetric ? 'symmetric' : 'asymmetric'}; LoRA r ${m.rank} α ${m.alpha}; ${m.steps} steps (${m.warmup} warm-up), lr ${m.lr} / ${m.lrQuant}, batch ${m.batch}, seed ${m.seed}, init ${m.init}${m.prune ? `; pruned first: ${m.prune.name}` : ''}`,
    `windows    ${r.protocol.windows.start}:${r.protocol.windows.end} of ${r.protocol.seqlen} tokens, ${r.scoredTokens} scored`,
    ...overlapLines(r),
    ...(r.baseline ? [`dense      ppl ${r.baseline.ppl.toFixed(4)}`] : []),
    ...(t.pruned ? [`pruned     ppl ${t.pruned.ppl.toFixed(4)}`] : []),
    ...(t.rtn ? [`RTN        ppl ${t.rtn.ppl.toFixed(4)} (same bits, group, symmetry)`] : []),
    ...(t.rtnLora ? [`RTN+LoRA   ppl ${t.rtnLora.ppl.toFixed(4)} (LoRA on the frozen RTN model, same budget, unmerged)`] : []),
    ...(baseCurve?.length ? [`  loss     ${baseCurve[0]!.loss.toFixed(4)} → ${baseCurve[baseCurve.length - 1]!.loss.toFixed(4)} (step 0 → ${baseCurve.length - 1})`] : []),
    ...(t.rtnLoraMerged ? [`  merged   ppl ${t.rtnLoraMerged.ppl.toFixed(4)} (its adapters merged, the weights rounded again: an integer model as L4Q's${kept === null ? '' : `; keeps ${pct(kept)} of what the adapters gained over RTN`})`] : []),
    `L4Q        ppl ${r.ppl.toFixed(4)} (merged integer model)`,
    ...(recovered === null ? [] : [`recovered  ${pct(recovered)} of the perplexity RTN loses against dense`]),
    `loss       ${curve[0]!.loss.toFixed(4)} → ${curve[curve.length - 1]!.loss.toFixed(4)} (step 0 → ${curve.length - 1})`,
    `size       ${fmtBytes(r.size!.bytesBefore)} → ${fmtBytes(r.size!.bytesAfter)}; linears ${fmtBytes(r.size!.linearBytesBefore)} → ${fmtBytes(r.size!.linearBytesAfter)}, ${r.size!.effectiveBits.toFixed(3)} bits per weight`,
    `memory     LoRA ${fmtBytes(t.memory.loraBytes)}, s/b ${fmtBytes(t.memory.quantParamBytes)}, Adam ${fmtBytes(t.memory.optimizerBytes)}, activations ${fmtBytes(t.memory.activationBytes)}, Γ ${fmtBytes(t.memory.gradientBytes)}`,
    `training   ${(r.timings.trainMs! / 1000).toFixed(1)} s, ${t.tokensPerSecond.toFixed(0)} tokens/s${t.backend ? ` on ${t.backend.name} (${t.backend.device})` : ''}`,
    `backend    ${r.backend.name} (${r.backend.device}), ${(r.timings.wallMs / 1000).toFixed(1)} s in all`,
    '',
  ];
  return lines.join('\n');
}

export const L4Q_OPTIONS = {
  ...EXPERIMENT_OPTIONS,
  bits: { type: 'string' },
  group: { type: 'string' },
  sym: { type: 'boolean' },
  asym: { type: 'boolean' },
  rank: { type: 'string' },
  alpha: { type: 'string' },
  steps: { type: 'string' },
  warmup: { type: 'string' },
  lr: { type: 'string' },
  'lr-quant': { type: 'string' },
  batch: { type: 'string' },
  seed: { type: 'string' },
  init: { type: 'string' },
  'grad-scale': { type: 'string' },
  prune: { type: 'string' },
  ...PRUNE_METHOD_OPTIONS,
  'no-rtn': { type: 'boolean' },
  'rtn-lora': { type: 'boolean' },
  ...CALIBRATION_OPTIONS,
} as const;

/** `--method l4q` or `--method=l4q` among the arguments. */
export function isL4QCall(args: readonly string[]): boolean {
  return args.some((a, i) => a === '--method=l4q' || (a === '--method' && args[i + 1] === 'l4q'));
}

export async function cmdL4Q(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: L4Q_OPTIONS, strict: true });
  if (values.help) {
    io.out(`${L4Q_USAGE}\n`);
    return 0;
  }
  try {
    if (values.method !== undefined && values.method !== 'l4q') throw new L4QUsageError(`--method must be l4q here, got "${values.method}"`);
    const method = l4qMethodFromArgs(values);
    const output = modelOutputFromArgs(values);
    const seqlen = number(values.seqlen, 'seqlen', 512, int, 'a non-negative integer');
    const { dataset, calibration: calibData } = await evalAndCalibrationData(values);
    const loaded = await loadCliModel(values.model, values, io);
    const sampling = calibrationSamplingOptions(values, l4qCalibration(loaded.model.config.maxPositionEmbeddings));
    const result = await runOnCliBackend(
      values,
      io,
      loaded,
      dataset,
      seqlen,
      (inputs) =>
        runL4QExperiment({
          ...inputs,
          calibration: { text: calibData.text, dataset: { name: calibData.name, source: calibData.source }, sampling },
          method,
          baseline: !values['no-baseline'],
          compareRtn: !values['no-rtn'],
          compareRtnLora: Boolean(values['rtn-lora']),
          // Training has a line of its own (loss, ETA); the generic progress line skips it.
          onStep: inputs.onProgress ? (s) => io.err(`\rtrain step ${s.step + 1}/${s.total} (${s.phase}) loss ${s.loss.toFixed(4)}, ${(s.etaMs / 1000).toFixed(0)} s left   `) : undefined,
        }),
      (p) => (p.phase === 'train' ? '' : `${p.phase} ${p.done}/${p.total}        `),
    );
    if (output) await writeModelOutput(output, loaded.source, result, { source: loaded.model.id, method: result.record.method });
    io.out(values.json ? `${JSON.stringify(result.record)}\n` : summary(result.record));
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`studio: ${e.message}\n${L4Q_USAGE}\n`);
      return 2;
    }
    throw e;
  }
}

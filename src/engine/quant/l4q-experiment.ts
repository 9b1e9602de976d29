/**
 * One L4Q experiment end to end, shared by the CLI and the worker (mirrors
 * quant/experiment.ts for RTN): tokenize → dense baseline → [pruning method] → [RTN at the
 * same bits/group, for comparison] → calibration windows → L4Q training (warm-up, then
 * joint) → merge into packed integers → evaluation of the integer model on the same
 * windows → ExperimentRecord with the loss curve, memory, sizes and timings. Tokenizing,
 * calibration, the dense baseline, the phases and the timings are the shared helpers of
 * experiment.ts and experiment-phases.ts; pruning first is quant/start.ts, as for RTN.
 *
 * Training runs on the backend given when it has the backward ops (GradOps: the CPU
 * reference and WebGPU), else on the CPU reference; evaluation always runs on the backend
 * given. The record's `training.backend` says which trained.
 */
import { CpuTrainingBackend } from '../backend/cpu/cpu-grad';
import { isTrainingBackend, type TrainingBackend } from '../backend/training';
import { DEFAULT_CALIBRATION, type CalibrationSampling } from '../calibrate';
import { StudioError, throwIfAborted } from '../errors';
import {
  calibrationData,
  denseBaseline,
  evalResult,
  evaluateWindows,
  evalStream,
  perplexityFields,
  recordEnvelope,
  wallTimings,
  type CalibrationInputs,
  type ExperimentInputs,
} from '../experiment';
import { phaseReporters, type ExperimentPhase } from '../experiment-phases';
import type { PerplexityResult } from '../eval/perplexity';
import type { ModelConfig } from '../model/config';
import { countWeightParameters, LINEAR_NAMES, type HostTensor, type ModelWeights } from '../model/weights';
import type { EvalResult, ExperimentRecord, L4QMethod } from '../record';
import { methodLimitProblem } from '../run-limits';
import { linearFloatBytes, rtnQuantizeModel } from './experiment';
import { modelSize } from './quantized-linear';
import { quantizationStart } from './start';
import { L4QTrainer, loraOnly, type L4QOptions, type StepInfo } from './train';

export interface L4QStep extends StepInfo {
  /** Whose step: the L4Q training, or the RTN-then-LoRA baseline's (trained first, when asked for). */
  run: 'l4q' | 'rtn-lora';
  total: number;
  /** Estimated time left for training (mean step time × steps left). */
  etaMs: number;
}

/**
 * Phases: tokenize, baseline, prune (with `method.prune`), quantize (the RTN comparison and
 * its evaluations), train-baseline (RTN-then-LoRA, when asked for), train, merge, evaluate.
 */
export interface L4QRequest extends ExperimentInputs {
  method: L4QMethod;
  /** The training windows (also the calibration of `method.prune`). */
  calibration: CalibrationInputs;
  /** Evaluate the dense model (default true) and RTN at the same settings (default true). */
  baseline?: boolean;
  compareRtn?: boolean;
  /**
   * Also train the RTN-then-LoRA baseline: LoRA (same rank, α, steps, lr, batch, seed) on the
   * frozen RTN model, evaluated with the adapter unmerged (float). Doubles the training time.
   */
  compareRtnLora?: boolean;
  /** Every training step's loss and progress, as it happens (the live curve). */
  onStep?: (s: L4QStep) => void;
  /** Awaited between steps: a paused job returns a promise that resolves on resume. */
  gate?: () => Promise<void>;
}

export interface L4QResult {
  record: ExperimentRecord;
  config: ModelConfig;
  /** The integer model: decoder linears carry `packed`. */
  weights: ModelWeights<HostTensor>;
}

/** Training settings of a method record. */
export function l4qOptions(m: L4QMethod): L4QOptions {
  return {
    bits: m.bits,
    group: m.groupSize ?? 0,
    symmetric: m.symmetric,
    rank: m.rank,
    alpha: m.alpha,
    steps: m.steps,
    warmup: m.warmup,
    lr: m.lr,
    lrQuant: m.lrQuant,
    batch: m.batch,
    seed: m.seed,
    init: m.init,
    gradScale: m.gradScale,
  };
}

/**
 * L4Q's training windows: 16 × 512 tokens of TinyStories from token 200,000 — as many tokens
 * as pruning's calibration (64 × 128), in windows as long as the default evaluation's, since
 * trained on shorter windows L4Q fits the short contexts it saw (docs/methods/l4q.md#why-these-defaults).
 * A sample of S tokens gives S − 1 next-token predictions. A model with a shorter context is
 * trained on windows of its context (l4qCalibration).
 */
export const L4Q_CALIBRATION: CalibrationSampling = { ...DEFAULT_CALIBRATION, samples: 16, seqlen: 512 };

/** L4Q_CALIBRATION with the windows cut to the model's context where it is shorter (the same tokens in more windows). */
export function l4qCalibration(maxPositions: number): CalibrationSampling {
  if (maxPositions >= L4Q_CALIBRATION.seqlen) return L4Q_CALIBRATION;
  const seqlen = Math.max(2, maxPositions);
  return { ...L4Q_CALIBRATION, seqlen, samples: Math.ceil((L4Q_CALIBRATION.samples * L4Q_CALIBRATION.seqlen) / seqlen) };
}

const yieldToEventLoop = () => new Promise<void>((r) => setTimeout(r, 0));

export async function runL4QExperiment(req: L4QRequest): Promise<L4QResult> {
  const t0 = performance.now();
  const b = req.backend;
  const m = req.method;
  const { phase, progress } = phaseReporters(req, 'L4Q');
  // Over RECORD_LIMITS (steps, rank, batch) the record could not be kept: refused before any work (CLI and worker alike).
  const limit = methodLimitProblem(m);
  if (limit) throw new StudioError('input', limit.replace(/\.$/, ''));
  const trainer0 = l4qOptions(m);
  if (req.model.weights.layers.some((l) => LINEAR_NAMES.some((n) => l[n].packed))) {
    throw new StudioError('input', `${req.model.id} is already quantized (packed integers); L4Q starts from float weights`);
  }

  phase('tokenize');
  const evalData = await evalStream(req);
  const { protocol: calibration, samples } = await calibrationData(req);
  const t1 = performance.now();

  let cfg = req.model.config;
  const evaluate = (weights: ModelWeights<HostTensor>, p: ExperimentPhase): Promise<PerplexityResult> => evaluateWindows(req, evalData, cfg, weights, progress(p));

  /**
   * Runs a trainer to its last step, streaming each step (`run` says whose) and its progress;
   * `stepsAfter`: steps of a later run that the time left includes. The steps and their time.
   */
  const trainSteps = async (trainer: L4QTrainer, run: L4QStep['run'], stepsAfter: number): Promise<{ steps: StepInfo[]; ms: number }> => {
    const steps: StepInfo[] = [];
    let ms = 0;
    while (!trainer.done) {
      // Let the worker take messages (pause, cancel) between steps: the CPU backend's reads
      // resolve as microtasks, so without this the loop would never yield to them.
      await yieldToEventLoop();
      if (req.gate) await req.gate();
      throwIfAborted(req.signal, 'L4Q');
      const s = await trainer.trainStep();
      ms += s.ms;
      steps.push(s);
      const left = m.steps - s.step - 1 + stepsAfter;
      req.onStep?.({ ...s, run, total: m.steps, etaMs: (ms / (s.step + 1)) * left });
      await progress(run === 'l4q' ? 'train' : 'train-baseline')({ done: s.step + 1, total: m.steps });
    }
    return { steps, ms };
  };

  const { baseline, baselineEvalMs } = await denseBaseline(req, phase, () => evaluate(req.model.weights, 'baseline'));

  // Prune first (same experiment): its zeros are the masks L4Q keeps.
  const start = await quantizationStart(req, m.prune ? { method: m.prune, calibration: req.calibration } : undefined, phase);
  cfg = start.config;
  const dense = start.weights;

  let rtn: EvalResult | null = null;
  let rtnLora: EvalResult | undefined;
  let rtnLoraMerged: EvalResult | undefined;
  const rtnLoraLoss: { step: number; loss: number }[] = [];
  const tb: TrainingBackend = isTrainingBackend(b) ? b : new CpuTrainingBackend();
  const trainedOn = { name: tb.info.name, device: tb.info.device };
  if ((req.compareRtn ?? true) || req.compareRtnLora) {
    phase('quantize');
    const rtnSettings = { bits: m.bits, groupSize: m.groupSize, symmetric: m.symmetric };
    const rtnModel = rtnQuantizeModel(dense, rtnSettings, req.signal);
    rtn = evalResult(await evaluate(rtnModel, 'quantize'));
    if (req.compareRtnLora) {
      // LoRA only (warm-up = all steps: the quantizer never starts), on the RTN weights.
      phase('train-baseline');
      const lt = new L4QTrainer(tb, cfg, rtnModel, samples, loraOnly(trainer0), false);
      try {
        // L4Q's steps still follow: they count in the time left.
        for (const s of (await trainSteps(lt, 'rtn-lora', m.steps)).steps) rtnLoraLoss.push({ step: s.step, loss: s.loss });
        const adapted = lt.floatWeights();
        rtnLora = evalResult(await evaluate(adapted, 'quantize'));
        // Deployable as L4Q's model is: merge the adapters, round again. Most of an update
        // smaller than half a step is lost here, which is what L4Q trains against.
        rtnLoraMerged = evalResult(await evaluate(rtnQuantizeModel(adapted, rtnSettings, req.signal), 'quantize'));
      } finally {
        lt.dispose();
      }
    }
  }

  const tt = phase('train');
  const trainer = new L4QTrainer(tb, cfg, dense, samples, trainer0);
  const loss: NonNullable<ExperimentRecord['training']>['loss'] = [];
  let trainedMs = 0;
  let merged;
  try {
    const run = await trainSteps(trainer, 'l4q', 0);
    trainedMs = run.ms;
    for (const s of run.steps) loss.push({ step: s.step, loss: s.loss, phase: s.phase });
    phase('merge');
    merged = trainer.merge();
  } finally {
    trainer.dispose();
    if (tb !== b) tb.destroy();
  }
  const trainMs = performance.now() - tt;
  const tokensPerStep = samples[0] ? m.batch * (samples[0].length - 1) : 0;

  const te = phase('evaluate');
  const res = await evaluate(merged.weights, 'evaluate');
  const t2 = performance.now();
  const before = modelSize(dense);
  const after = modelSize(merged.weights);

  const record: ExperimentRecord = {
    ...recordEnvelope(req, evalData, m),
    ...perplexityFields(res, baseline),
    calibration,
    parametersAfter: countWeightParameters(merged.weights),
    size: {
      bytesBefore: before.bytes,
      bytesAfter: after.bytes,
      linearBytesBefore: linearFloatBytes(dense),
      linearBytesAfter: after.quantizedBytes,
      effectiveBits: after.effectiveBits,
    },
    training: {
      loss,
      steps: m.steps,
      tokensPerStep,
      tokensPerSecond: trainedMs > 0 ? (tokensPerStep * m.steps) / (trainedMs / 1000) : 0,
      backend: trainedOn,
      memory: trainer.memory(),
      rtn,
      ...(rtnLora ? { rtnLora, rtnLoraLoss } : {}),
      ...(rtnLoraMerged ? { rtnLoraMerged } : {}),
      ...(start.pruned ? { pruned: start.pruned } : {}),
    },
    timings: {
      ...wallTimings(req, t0, t2),
      tokenizeMs: t1 - t0,
      ...(start.pruneMs !== undefined ? { pruneMs: start.pruneMs } : {}),
      trainMs,
      ...(baselineEvalMs !== undefined ? { baselineEvalMs } : {}),
      evalMs: t2 - te,
    },
  };
  return { record, config: cfg, weights: merged.weights };
}

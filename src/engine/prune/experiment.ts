/**
 * One pruning experiment end to end, shared by the CLI and the worker:
 * tokenize → dense baseline on the eval windows → calibration samples → method →
 * evaluation of the pruned model on the same windows → ExperimentRecord (+ the new weights).
 */
import { calibrate } from '../calibrate';
import {
  calibrationData,
  denseBaseline,
  evalStream,
  evaluateWindows,
  perplexityFields,
  recordEnvelope,
  wallTimings,
  type CalibrationInputs,
  type ExperimentInputs,
} from '../experiment';
import { phaseReporters } from '../experiment-phases';
import { StudioError } from '../errors';
import type { ModelConfig } from '../model/config';
import { expandGqaToMha } from '../model/expand-gqa';
import { countWeightParameters, type HostTensor, type ModelWeights } from '../model/weights';
import type { CalibrationProtocol, ExperimentRecord, MethodSpec } from '../record';
import { flapPrune } from './flap';
import { magnitudePrune } from './magnitude';
import { pruneOpsFor, type PruneOpsChoice } from './ops';
import { layerReport, sparsityReport, type PruneOutcome } from './report';
import { runWanda } from './wanda';

/** Phases: tokenize, baseline, calibrate (Wanda, FLAP), prune, evaluate. */
export interface PruneRequest extends ExperimentInputs {
  /** Calibration text (default: the evaluation text) and sample layout. */
  calibration: CalibrationInputs;
  method: MethodSpec;
  /** Copy every key/value head per query head first (an MHA model with the same function). */
  expandGqa?: boolean;
  /** Where scoring and selection run (default 'auto': on the backend's device when it is a hardware GPU). */
  pruneOps?: PruneOpsChoice;
  /** Evaluate the dense model on the same windows (default true). */
  baseline?: boolean;
}

export interface PruneResult {
  record: ExperimentRecord;
  /** The evaluated model: its config (per-layer sizes) and weights. */
  config: ModelConfig;
  weights: ModelWeights<HostTensor>;
}

function needsCalibration(m: MethodSpec): boolean {
  return m.name === 'wanda' || m.name === 'flap';
}

export async function runPruneExperiment(req: PruneRequest): Promise<PruneResult> {
  const t0 = performance.now();
  const cfg0 = req.model.config;
  const b = req.backend;
  const { phase, progress } = phaseReporters(req, 'pruning');

  phase('tokenize');
  const evalData = await evalStream(req);
  let calib: { protocol: CalibrationProtocol; samples: Int32Array[] } | null = null;
  if (needsCalibration(req.method)) {
    calib = await calibrationData(req);
  }
  const t1 = performance.now();

  const { baseline, baselineEvalMs } = await denseBaseline(req, phase, () => evaluateWindows(req, evalData, cfg0, req.model.weights, progress('baseline')));

  let cfg = cfg0;
  let weights = req.model.weights;
  if (req.expandGqa) ({ config: cfg, weights } = expandGqaToMha(cfg, weights));

  let outcome: PruneOutcome;
  let calibrateMs: number | undefined;
  let pruneMs: number | undefined;
  let flap: ExperimentRecord['flap'];
  const m = req.method;
  if (m.name === 'rtn' || m.name === 'l4q') {
    throw new StudioError('input', `${m.name} is a quantization method, not a pruning method (studio quantize)`);
  } else if (m.name === 'dense') {
    outcome = { weights, layers: weights.layers.map((l, i) => layerReport(i, l, l)), sparsity: sparsityReport(weights, weights, 'zeros') };
  } else if (m.name === 'magnitude') {
    const tp = phase('prune');
    outcome = await magnitudePrune(weights, m, pruneOpsFor(b, req.pruneOps));
    pruneMs = performance.now() - tp;
  } else if (m.name === 'wanda') {
    phase('calibrate');
    const r = await runWanda(cfg, b, weights, calib!.samples, m, { signal: req.signal, onProgress: progress('calibrate'), ops: pruneOpsFor(b, req.pruneOps) });
    outcome = r;
    calibrateMs = r.calibrateMs;
    pruneMs = r.pruneMs;
  } else {
    const tc = phase('calibrate');
    const cal = await calibrate(cfg, b, weights, calib!.samples, { points: ['o', 'down'], signal: req.signal, onProgress: progress('calibrate') });
    calibrateMs = performance.now() - tc;
    const tp = phase('prune');
    const r = await flapPrune(cfg, weights, cal.stats, m, pruneOpsFor(b, req.pruneOps));
    pruneMs = performance.now() - tp;
    outcome = r;
    cfg = r.config;
    flap = r.flap;
  }
  weights = outcome.weights;

  const te = phase('evaluate');
  const after = await evaluateWindows(req, evalData, cfg, weights, progress('evaluate'));
  const t2 = performance.now();

  const record: ExperimentRecord = {
    ...recordEnvelope(req, evalData, m),
    ...perplexityFields(after, baseline),
    ...(req.expandGqa ? { modelTransform: 'mha-expanded' as const } : {}),
    ...(calib ? { calibration: calib.protocol } : {}),
    sparsity: outcome.sparsity,
    layers: outcome.layers,
    ...(flap ? { flap } : {}),
    parametersAfter: countWeightParameters(weights),
    timings: {
      ...wallTimings(req, t0, t2),
      tokenizeMs: t1 - t0,
      ...(calibrateMs !== undefined ? { calibrateMs } : {}),
      ...(pruneMs !== undefined ? { pruneMs } : {}),
      ...(baselineEvalMs !== undefined ? { baselineEvalMs } : {}),
      evalMs: t2 - te,
    },
  };
  return { record, config: cfg, weights };
}

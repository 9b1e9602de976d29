/**
 * One pruning experiment end to end, shared by the CLI and the worker:
 * tokenize → dense baseline on the eval windows → calibration samples → method →
 * evaluation of the pruned model on the same windows → ExperimentRecord (+ the new weights).
 */
import type { Backend } from '../backend/backend';
import { calibrate, calibrationSamples, type CalibrationSampling } from '../calibrate';
import { cachedTokenStream, checkSeqlen, parseWindows, windowCount } from '../data';
import { throwIfAborted } from '../errors';
import { evaluatePerplexity, type PerplexityResult } from '../eval/perplexity';
import type { ModelConfig } from '../model/config';
import { expandGqaToMha } from '../model/expand-gqa';
import { LlamaModel } from '../model/llama';
import type { LoadedModel } from '../model/load';
import { countWeightParameters, type HostTensor, type ModelWeights } from '../model/weights';
import { RECORD_SCHEMA_ID, RECORD_VERSION, newRecordId, type CalibrationProtocol, type DatasetRef, type ExperimentRecord, type MethodSpec, type ModelRef } from '../record';
import { flapPrune } from './flap';
import { magnitudePrune } from './magnitude';
import { layerReport, sparsityReport, type PruneOutcome } from './report';
import { runWanda } from './wanda';

export type PrunePhase = 'tokenize' | 'baseline' | 'calibrate' | 'prune' | 'evaluate';

export interface PruneRequest {
  model: LoadedModel;
  modelRef: ModelRef;
  backend: Backend;
  fallbackReason?: string;
  /** Evaluation text and protocol (as runEvaluation). */
  text: string;
  dataset: { name: string; source: DatasetRef['source'] };
  seqlen: number;
  windows: string;
  /** Calibration text (default: the evaluation text) and sample layout. */
  calibration: {
    text?: string;
    dataset?: { name: string; source: DatasetRef['source'] };
    sampling: CalibrationSampling;
  };
  method: MethodSpec;
  /** Copy every key/value head per query head first (an MHA model with the same function). */
  expandGqa?: boolean;
  /** Evaluate the dense model on the same windows (default true). */
  baseline?: boolean;
  runtime: 'node' | 'browser';
  loadMs?: number;
  signal?: AbortSignal;
  onPhase?: (phase: PrunePhase) => void;
  onProgress?: (p: { phase: PrunePhase; done: number; total: number }) => void;
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
  checkSeqlen(req.seqlen, cfg0.maxPositionEmbeddings);
  const phase = (p: PrunePhase) => {
    throwIfAborted(req.signal, 'pruning');
    req.onPhase?.(p);
  };
  const progress = (p: PrunePhase) => (x: { done: number; total: number }) => req.onProgress?.({ phase: p, ...x });

  phase('tokenize');
  const bos = cfg0.bosTokenId;
  const stream = await cachedTokenStream(req.model.tokenizer, req.text, bos);
  const windows = parseWindows(req.windows, windowCount(stream.ids.length, req.seqlen));
  let calib: { protocol: CalibrationProtocol; samples: Int32Array[] } | null = null;
  if (needsCalibration(req.method)) {
    const text = req.calibration.text ?? req.text;
    const ds = req.calibration.dataset ?? req.dataset;
    const cs = await cachedTokenStream(req.model.tokenizer, text, bos);
    const sp = req.calibration.sampling;
    checkSeqlen(sp.seqlen, cfg0.maxPositionEmbeddings);
    const random = sp.seed !== null && sp.seed !== undefined;
    calib = {
      samples: calibrationSamples(cs.ids, sp),
      protocol: {
        dataset: { name: ds.name, source: ds.source, chars: text.length, sha256: cs.sha256 },
        samples: sp.samples,
        seqlen: sp.seqlen,
        sampling: random ? 'random' : 'contiguous',
        ...(random ? { seed: sp.seed! } : { offset: sp.offset }),
        streamTokens: cs.ids.length,
        stream: cs.bos ? 'bos+text' : 'text',
      },
    };
  }
  const t1 = performance.now();

  const evaluate = async (config: ModelConfig, weights: ModelWeights<HostTensor>, p: PrunePhase): Promise<PerplexityResult> => {
    const lm = new LlamaModel(config, b, weights);
    try {
      return await evaluatePerplexity(lm, stream.ids, { seqlen: req.seqlen, windows, signal: req.signal, onProgress: progress(p) });
    } finally {
      lm.dispose();
    }
  };

  let baseline: PerplexityResult | null = null;
  let baselineEvalMs: number | undefined;
  if (req.baseline ?? true) {
    phase('baseline');
    const tb = performance.now();
    baseline = await evaluate(cfg0, req.model.weights, 'baseline');
    baselineEvalMs = performance.now() - tb;
  }

  let cfg = cfg0;
  let weights = req.model.weights;
  if (req.expandGqa) ({ config: cfg, weights } = expandGqaToMha(cfg, weights));

  let outcome: PruneOutcome;
  let calibrateMs: number | undefined;
  let pruneMs: number | undefined;
  let flap: ExperimentRecord['flap'];
  const m = req.method;
  if (m.name === 'dense') {
    outcome = { weights, layers: weights.layers.map((l, i) => layerReport(i, l, l)), sparsity: sparsityReport(weights, weights, 'zeros') };
  } else if (m.name === 'magnitude') {
    phase('prune');
    const tp = performance.now();
    outcome = magnitudePrune(weights, m);
    pruneMs = performance.now() - tp;
  } else if (m.name === 'wanda') {
    phase('calibrate');
    const r = await runWanda(cfg, b, weights, calib!.samples, m, { signal: req.signal, onProgress: progress('calibrate') });
    outcome = r;
    calibrateMs = r.calibrateMs;
    pruneMs = r.pruneMs;
  } else {
    phase('calibrate');
    const tc = performance.now();
    const cal = await calibrate(cfg, b, weights, calib!.samples, { points: ['o', 'down'], signal: req.signal, onProgress: progress('calibrate') });
    calibrateMs = performance.now() - tc;
    phase('prune');
    const tp = performance.now();
    const r = flapPrune(cfg, weights, cal.stats, m);
    pruneMs = performance.now() - tp;
    outcome = r;
    cfg = r.config;
    flap = r.flap;
  }
  weights = outcome.weights;

  phase('evaluate');
  const te = performance.now();
  const after = await evaluate(cfg, weights, 'evaluate');
  const t2 = performance.now();

  const record: ExperimentRecord = {
    schema: RECORD_SCHEMA_ID,
    version: RECORD_VERSION,
    id: newRecordId(),
    createdAt: new Date().toISOString(),
    model: req.modelRef,
    method: m,
    protocol: {
      dataset: { name: req.dataset.name, source: req.dataset.source, chars: req.text.length, sha256: stream.sha256 },
      seqlen: req.seqlen,
      windows,
      streamTokens: stream.ids.length,
      stream: stream.bos ? 'bos+text' : 'text',
    },
    meanNll: after.meanNll,
    ppl: after.ppl,
    scoredTokens: after.scoredTokens,
    windowMeanNll: after.windowMeanNll,
    ...(baseline ? { baseline: { meanNll: baseline.meanNll, ppl: baseline.ppl, scoredTokens: baseline.scoredTokens, windowMeanNll: baseline.windowMeanNll } } : {}),
    ...(req.expandGqa ? { modelTransform: 'mha-expanded' as const } : {}),
    ...(calib ? { calibration: calib.protocol } : {}),
    sparsity: outcome.sparsity,
    layers: outcome.layers,
    ...(flap ? { flap } : {}),
    parametersAfter: countWeightParameters(weights),
    backend: { name: b.info.name, device: b.info.device, ...(req.fallbackReason ? { fallbackReason: req.fallbackReason } : {}) },
    runtime: req.runtime,
    timings: {
      wallMs: t2 - t0 + (req.loadMs ?? 0),
      ...(req.loadMs !== undefined ? { loadMs: req.loadMs } : {}),
      tokenizeMs: t1 - t0,
      ...(calibrateMs !== undefined ? { calibrateMs } : {}),
      ...(pruneMs !== undefined ? { pruneMs } : {}),
      ...(baselineEvalMs !== undefined ? { baselineEvalMs } : {}),
      evalMs: t2 - te,
    },
  };
  return { record, config: cfg, weights };
}

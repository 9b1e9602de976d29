/**
 * The float model a quantization experiment (RTN, L4Q) starts from: the one
 * prune-then-quantize path.
 *
 * The request's model may already be pruned: the worker passes the model its last prune
 * job produced (a quantize or L4Q job with `afterPrune`). `prune`, when given, runs that
 * pruning experiment first, here (L4Q's `method.prune`, the CLI's `--prune`), and goes on
 * with its model exactly as if it had been given. Either way, layers whose query heads
 * read key/value heads through a non-standard map (FLAP with single heads removed) are made
 * uniform first (the same function), so the packed q/o are the ones uploaded. Pruned
 * weights are exact zeros, and both quantizers keep them exactly 0.
 */
import { evalResult, type CalibrationInputs, type ExperimentInputs } from '../experiment';
import type { ModelConfig } from '../model/config';
import { uniformKvModel } from '../model/expand-gqa';
import type { HostTensor, ModelWeights } from '../model/weights';
import { runPruneExperiment } from '../prune/experiment';
import type { EvalResult, L4QMethod } from '../record';

/** A pruning method run first, in the same experiment, on the given calibration data. */
export interface PruneFirst {
  method: NonNullable<L4QMethod['prune']>;
  calibration: CalibrationInputs;
}

export interface QuantizationStart {
  config: ModelConfig;
  weights: ModelWeights<HostTensor>;
  /** The pruned model's perplexity and the pruning's time, when `prune` ran here. */
  pruned?: EvalResult;
  pruneMs?: number;
}

/** `phase` reports the 'prune' phase (and returns its start time) when a pruning method runs. */
export async function quantizationStart(req: ExperimentInputs, prune: PruneFirst | undefined, phase: (p: 'prune') => number): Promise<QuantizationStart> {
  if (!prune) return uniformKvModel(req.model.config, req.model.weights);
  const tp = phase('prune');
  // No baseline of its own (the experiment has one); its counts (calibration, the pruned
  // model's evaluation) are the 'prune' phase's.
  const r = await runPruneExperiment({
    ...req,
    calibration: prune.calibration,
    method: prune.method,
    baseline: false,
    onProgress: (p) => {
      if (p.total !== null) req.onProgress?.({ ...p, phase: 'prune' });
    },
  });
  const pruned = evalResult(r.record);
  const pruneMs = performance.now() - tp;
  return { ...uniformKvModel(r.config, r.weights), pruned, pruneMs };
}

/**
 * One quantization experiment end to end, shared by the CLI and the worker (mirrors
 * prune/experiment.ts): tokenize → dense baseline on the eval windows → quantize every
 * decoder linear to packed integers → evaluate the integer model on the same windows →
 * ExperimentRecord with the real sizes before and after (+ the quantized weights).
 *
 * The model given may already be pruned (prune then quantize, quant/start.ts): pruned
 * weights are exact zeros and RTN maps a zero to its group's zero-point code, which decodes
 * to exactly 0, so the masks survive quantization.
 */
import { denseBaseline, evalStream, evaluateWindows, perplexityFields, recordEnvelope, wallTimings, type ExperimentInputs } from '../experiment';
import { phaseReporters, type ExperimentPhase } from '../experiment-phases';
import { StudioError, throwIfAborted } from '../errors';
import type { ModelConfig } from '../model/config';
import { countWeightParameters, LINEAR_NAMES, type HostTensor, type ModelWeights } from '../model/weights';
import type { ExperimentRecord, RtnMethod } from '../record';
import { modelSize, quantizeLinears } from './quantized-linear';
import { checkRtnSettings, rtnQuantize } from './rtn';
import { quantizationStart } from './start';

/** Phases: tokenize, baseline, quantize, evaluate. */
export interface QuantizeRequest extends ExperimentInputs {
  method: RtnMethod;
  /** Evaluate the dense model on the same windows (default true). */
  baseline?: boolean;
}

export interface QuantizeResult {
  record: ExperimentRecord;
  config: ModelConfig;
  /** The integer model: decoder linears carry `packed`. */
  weights: ModelWeights<HostTensor>;
}

/** Every decoder linear of `w` rounded to nearest with settings `m`. */
export function rtnQuantizeModel(w: ModelWeights<HostTensor>, m: Pick<RtnMethod, 'bits' | 'groupSize' | 'symmetric' | 'symmetricRule'>, signal?: AbortSignal): ModelWeights<HostTensor> {
  checkRtnSettings(m);
  return quantizeLinears(w, (t, layer, name) => {
    throwIfAborted(signal, 'quantization');
    if (t.packed) throw new StudioError('input', `layer ${layer} ${name}: the model is already quantized`);
    return rtnQuantize(t.data, t.shape[0]!, t.shape[1]!, m);
  });
}

/** Float32 bytes of the decoder linears that are not packed (the "before" of the size report). */
export function linearFloatBytes(w: ModelWeights<HostTensor>): number {
  let n = 0;
  for (const l of w.layers) for (const name of LINEAR_NAMES) n += l[name].packed ? 0 : l[name].data.length * 4;
  return n;
}

export async function runQuantizeExperiment(req: QuantizeRequest): Promise<QuantizeResult> {
  const t0 = performance.now();
  const m = req.method;
  checkRtnSettings(m);
  const { phase, progress } = phaseReporters(req, 'quantization');

  phase('tokenize');
  const evalData = await evalStream(req);
  const t1 = performance.now();

  const { config: cfg, weights: dense } = await quantizationStart(req, undefined, phase);
  const evaluate = (weights: ModelWeights<HostTensor>, p: ExperimentPhase) => evaluateWindows(req, evalData, cfg, weights, progress(p));
  const { baseline, baselineEvalMs } = await denseBaseline(req, phase, () => evaluate(dense, 'baseline'));

  const tq = phase('quantize');
  const before = modelSize(dense);
  const weights = rtnQuantizeModel(dense, m, req.signal);
  const after = modelSize(weights);
  const quantizeMs = performance.now() - tq;

  const te = phase('evaluate');
  const res = await evaluate(weights, 'evaluate');
  const t2 = performance.now();

  const record: ExperimentRecord = {
    ...recordEnvelope(req, evalData, m),
    ...perplexityFields(res, baseline),
    parametersAfter: countWeightParameters(weights),
    size: {
      bytesBefore: before.bytes,
      bytesAfter: after.bytes,
      linearBytesBefore: linearFloatBytes(dense) + before.quantizedBytes,
      linearBytesAfter: after.quantizedBytes + linearFloatBytes(weights),
      effectiveBits: after.effectiveBits,
    },
    timings: {
      ...wallTimings(req, t0, t2),
      tokenizeMs: t1 - t0,
      quantizeMs,
      ...(baselineEvalMs !== undefined ? { baselineEvalMs } : {}),
      evalMs: t2 - te,
    },
  };
  return { record, config: cfg, weights };
}

/**
 * The worker's generation, teaching-mode and histogram jobs, written against plain inputs
 * (the loaded model, the last compressed model, a backend) so that engine-api.ts only
 * routes requests here and Node tests can drive them without a browser.
 */
import type { Backend } from '../engine/backend/backend';
import { calibrationSamples } from '../engine/calibrate';
import { cachedTokenStream, checkSeqlen } from '../engine/data';
import { StudioError } from '../engine/errors';
import { generateWithStats } from '../engine/generate';
import { layerMatrix, weightHistogram } from '../engine/inspect/histogram';
import { inspectLayer, type LayerInspection } from '../engine/inspect/layer-inspect';
import type { ModelConfig } from '../engine/model/config';
import { LlamaModel } from '../engine/model/llama';
import type { LoadedModel } from '../engine/model/load';
import type { HostTensor, ModelWeights } from '../engine/model/weights';
import { methodSchema } from '../engine/record';
import type { GenerateEvent, GenerateReply, GenerateRequest, HistogramReply, HistogramRequest, InspectLayerRequest, JobEvent } from './protocol';

export interface CompressedModel {
  recordId: string;
  config: ModelConfig;
  weights: ModelWeights<HostTensor>;
}

const MAX_NEW_TOKENS = 1024;

/**
 * The compressed model if it fits the loaded one (same vocabulary, width and depth): after
 * loading another model the worker still holds the last pruning result, made for another tokenizer.
 */
function sameBase(loaded: LoadedModel, c: CompressedModel | null): CompressedModel | null {
  if (!c) return null;
  const a = loaded.config;
  const b = c.config;
  return a.vocabSize === b.vocabSize && a.hiddenSize === b.hiddenSize && a.numLayers === b.numLayers ? c : null;
}

export async function generateJob(
  loaded: LoadedModel,
  compressed: CompressedModel | null,
  backend: Backend,
  req: GenerateRequest,
  signal: AbortSignal,
  onEvent: (e: GenerateEvent) => void,
): Promise<GenerateReply> {
  if (req.model === 'compressed' && !compressed) throw new StudioError('input', 'there is no compressed model yet: run a pruning method first');
  if (req.model === 'compressed' && !sameBase(loaded, compressed)) throw new StudioError('input', 'the last compressed model was made from another model: prune the loaded model first');
  if (!Number.isInteger(req.maxNewTokens) || req.maxNewTokens < 1 || req.maxNewTokens > MAX_NEW_TOKENS) {
    throw new StudioError('input', `new tokens must be a whole number in 1…${MAX_NEW_TOKENS}, got ${req.maxNewTokens}`);
  }
  if (!Number.isInteger(req.seed)) throw new StudioError('input', `seed must be a whole number, got ${req.seed}`);
  const source = req.model === 'compressed' ? compressed! : loaded;
  const tok = loaded.tokenizer;
  const bos = tok.bosTokenId ?? loaded.config.bosTokenId;
  const prompt = [...(bos === null ? [] : [bos]), ...tok.encode(req.prompt)];
  const stopIds = [bos, loaded.config.eosTokenId].filter((x): x is number => x !== null);
  const decode = (ids: number[]) => tok.decode([...prompt, ...ids], { skipSpecialTokens: true });
  const lm = new LlamaModel(source.config, backend, source.weights);
  const ids: number[] = [];
  try {
    const r = await generateWithStats(lm, prompt, {
      maxNewTokens: req.maxNewTokens,
      temperature: req.temperature,
      topK: req.topK,
      topP: req.topP,
      seed: req.seed,
      stopIds,
      signal,
      onToken: (id) => {
        ids.push(id);
        onEvent({ jobId: req.jobId, model: req.model, text: decode(ids), tokens: ids.length });
      },
    });
    const max = source.config.maxPositionEmbeddings;
    const stop = r.ids.length >= req.maxNewTokens ? 'length' : prompt.length + r.ids.length >= max ? 'context' : 'eos';
    return {
      model: req.model,
      recordId: req.model === 'compressed' ? compressed!.recordId : null,
      promptText: tok.decode(prompt, { skipSpecialTokens: true }),
      text: decode(r.ids),
      ids: r.ids,
      promptTokens: prompt.length,
      stop,
      tokensPerSecond: r.tokensPerSecond,
      prefillMs: r.prefillMs,
      decodeMs: r.decodeMs,
      backend: backend.info,
    };
  } finally {
    lm.dispose();
  }
}

export async function inspectJob(
  loaded: LoadedModel,
  backend: Backend,
  req: InspectLayerRequest,
  calibText: string,
  signal: AbortSignal,
  onEvent: (e: JobEvent) => void,
): Promise<LayerInspection> {
  const parsed = methodSchema.safeParse(req.method);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new StudioError('input', `method settings: ${issue.path.join('.') || 'method'}: ${issue.message}`);
  }
  const sp = req.calibration.sampling;
  checkSeqlen(sp.seqlen, loaded.config.maxPositionEmbeddings);
  onEvent({ jobId: req.jobId, phase: 'tokenize', done: 0, total: null, unit: 'steps' });
  const cs = await cachedTokenStream(loaded.tokenizer, calibText, loaded.config.bosTokenId);
  const samples = calibrationSamples(cs.ids, sp);
  const phase = { calibrate: 'calibrate', score: 'prune', output: 'evaluate' } as const;
  return inspectLayer({
    config: loaded.config,
    weights: loaded.weights,
    backend,
    samples,
    method: parsed.data,
    layer: req.layer,
    matrix: req.matrix,
    signal,
    // Not `=> onEvent(…)`: calibration awaits its progress reports, and the page's Comlink callback returns a promise of its reply.
    onProgress: (p) => {
      onEvent({ jobId: req.jobId, phase: phase[p.step], done: p.done, total: p.total, unit: 'steps' });
    },
  });
}

export function histogramJob(loaded: LoadedModel, compressed: CompressedModel | null, req: HistogramRequest): HistogramReply {
  const dense = layerMatrix(loaded.weights, req.layer, req.matrix);
  compressed = sameBase(loaded, compressed);
  const after = compressed && req.layer < compressed.weights.layers.length ? layerMatrix(compressed.weights, req.layer, req.matrix) : null;
  return { ...weightHistogram(dense, after, req.bins), layer: req.layer, matrix: req.matrix, modelId: loaded.id, recordId: compressed?.recordId ?? null };
}

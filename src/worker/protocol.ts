/**
 * Messages between the studio page and its engine worker. Plain data only (structured
 * clone); functions cross as Comlink proxies.
 */
import type { BackendInfo } from '../engine/backend/backend';
import type { PoolStats } from '../engine/backend/webgpu/pool';
import type { BackendPreference } from '../engine/backend/select';
import type { CalibrationSampling } from '../engine/calibrate';
import type { ExperimentPhase, ExperimentProgress } from '../engine/experiment-phases';
export type { ExperimentPhase, ExperimentProgress, ProgressUnit } from '../engine/experiment-phases';
import type { ExperimentRecord, MethodSpec, ModelRef } from '../engine/record';
import type { HubPreview } from '../engine/hub/preview';
import type { MemoryCheck, MemoryEstimate, MemoryLimits } from '../engine/hub/memory';
import type { LayerInspection } from '../engine/inspect/layer-inspect';
import type { WeightHistogram } from '../engine/inspect/histogram';

/** The engine's phase vocabulary (experiment-phases.ts), unchanged on the way to the page. */
export type JobPhase = ExperimentPhase;

/** An engine progress event with the job it belongs to; the worker adds `jobId` and nothing else. */
export interface JobEvent extends ExperimentProgress {
  jobId: string;
}

export interface BackendStatus {
  backend: BackendInfo;
  /** Why this backend runs (see selectBackend). */
  reason?: string;
  /** Why WebGPU is not in use, when 'auto' fell back to the CPU. */
  fallbackReason?: string;
  /** The software WebGPU adapter 'auto' passed over for the CPU (its name), when it did. */
  softwareAdapter?: string;
}

export interface ModelSummary {
  ref: ModelRef;
  /** Things that went wrong without failing the load (e.g. a Hub file not cached: storage full). */
  warnings?: string[];
  backend: BackendInfo;
  reason?: string;
  fallbackReason?: string;
  softwareAdapter?: string;
  weightBytes: number;
  loadMs: number;
  maxPositionEmbeddings: number;
  headDim: number;
}

export type DatasetChoice =
  | { kind: 'bundled'; name: string }
  | { kind: 'text'; name: string; text: string; source: 'file' | 'paste' };

export interface LoadModelRequest {
  jobId: string;
  /** Model id shown and recorded, e.g. "stories260K". */
  id: string;
  /** Absolute URL of the model directory (Hub layout). */
  url: string;
  source: ModelRef['source'];
  /** 'auto': WebGPU when the browser offers an adapter, else the CPU reference. */
  backend: BackendPreference;
  /** A Hub model (then `url` is unused and `source` is 'hub'). */
  hub?: HubModelRequest;
  /** Files the user chose on their disk, by name (then `url` is unused and `source` is 'local'). */
  local?: { files: Record<string, Blob> };
}

export interface EvaluateRequest {
  jobId: string;
  dataset: DatasetChoice;
  /** Absolute URL of the bundled datasets directory. */
  datasetsUrl: string;
  seqlen: number;
  windows: string;
  backend: BackendPreference;
}

/** The evaluation text and windows are the job's: the dense and the pruned model are scored on the same ones. */
export interface PruneJobRequest extends EvaluateRequest {
  method: MethodSpec;
  calibration: { dataset: DatasetChoice; sampling: CalibrationSampling };
  /** Prune an MHA-expanded copy of a GQA model. */
  expandGqa?: boolean;
}

/** The evaluation text and windows are the job's: the model before and after is scored on the same ones. */
export interface QuantizeJobRequest extends EvaluateRequest {
  /** Round-to-nearest settings (validated in the worker). */
  method: MethodSpec;
  /** Quantize the model the last prune job produced (prune then quantize) instead of the loaded one. */
  afterPrune?: boolean;
}

/** L4Q training (quant/l4q-experiment.ts): the same inputs as a quantize job plus calibration windows. */
export interface L4QJobRequest {
  jobId: string;
  /** L4Q settings (an l4q method record; validated in the worker). */
  method: MethodSpec;
  dataset: DatasetChoice;
  datasetsUrl: string;
  seqlen: number;
  windows: string;
  /** Training windows. */
  calibration: { dataset: DatasetChoice; sampling: CalibrationSampling };
  /** Also evaluate RTN at the same bits/group/symmetry (default true). */
  compareRtn?: boolean;
  /** Also train the RTN-then-LoRA baseline: LoRA with the same budget on the RTN model, unmerged (default false). */
  compareRtnLora?: boolean;
  /** Train on the model the last prune job produced (prune then quantize). */
  afterPrune?: boolean;
  backend: BackendPreference;
}

/** One training step as it finishes: the live loss curve and step/ETA progress. */
export interface L4QStepEvent {
  jobId: string;
  type: 'step';
  step: number;
  total: number;
  /** Mean next-token NLL of the step's batch (before its update). */
  loss: number;
  phase: 'warmup' | 'joint';
  /** Whose step: L4Q's, or the RTN-then-LoRA baseline's (trained first, when asked for). */
  run: 'l4q' | 'rtn-lora';
  etaMs: number;
  ms: number;
}

export type L4QEvent = JobEvent | L4QStepEvent;

export function isL4QStepEvent(e: L4QEvent): e is L4QStepEvent {
  return (e as L4QStepEvent).type === 'step';
}

export interface StudioWorkerApi {
  loadModel(req: LoadModelRequest, onEvent: (e: JobEvent) => void): Promise<ModelSummary>;
  evaluate(req: EvaluateRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord>;
  /** Prunes the loaded model (magnitude, Wanda, FLAP); the record has before and after. */
  prune(req: PruneJobRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord>;
  /** Quantizes the loaded (or last pruned) model to packed integers (RTN); the record has before/after perplexity and size. */
  quantize(req: QuantizeJobRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord>;
  /** L4Q: trains LoRA + step sizes on the loaded (or last pruned) model, merges to packed integers. */
  l4q(req: L4QJobRequest, onEvent: (e: L4QEvent) => void): Promise<ExperimentRecord>;
  /** Holds a running L4Q job between two steps / lets it go on. */
  pause(jobId: string): void;
  resume(jobId: string): void;
  /** Switches the backend for the next jobs (a fresh device if the last one was lost). */
  setBackend(preference: BackendPreference): Promise<BackendStatus>;
  /** Generates text with the dense model or the last compressed one; streams GenerateEvents. */
  generate(req: GenerateRequest, onEvent: (e: GenerateEvent) => void): Promise<GenerateReply>;
  /** Teaching mode: one layer and matrix of the loaded model under a pruning method. */
  inspectLayer(req: InspectLayerRequest, onEvent: (e: JobEvent) => void): Promise<LayerInspection>;
  /** Weight histogram of one matrix, dense vs the last compressed model, on shared bins. */
  weightHistogram(req: HistogramRequest): Promise<HistogramReply>;
  /** Config, sizes and memory needs of a Hub model, from its config and safetensors headers only. */
  hubPreview(req: HubPreviewRequest): Promise<HubPreviewReply>;
  /** Empties the Hub cache; returns the bytes the origin still uses afterwards, when known. */
  clearHubCache(): Promise<HubCacheUsage>;
  /**
   * The connect-src of the page's own policy (its <meta>), which the worker then holds Hub
   * URLs to in place of the list it was built with (origins.ts); the client sends it first.
   */
  setHubConnectSources(sources: string[]): void;
  /** The dense or last compressed model as a safetensors or ONNX folder (a zip, or files for a folder). */
  exportModel(req: ExportRequest): Promise<ExportReply>;
  /** The dense and last compressed model exported to ONNX and run in onnxruntime-web (greedy, cached). */
  ortRun(req: OrtRunRequest): Promise<OrtRunReply>;
  cancel(jobId: string): void;
  /** Fault injection and memory reports for the reliability tests; throws unless the worker was started with test hooks. */
  testHook(name: TestHookName): PoolStats | null;
  /**
   * Holds a job at a phase of its progress, so that end-to-end tests act on a job that is
   * certainly running (cancel, reload, lose the device) instead of racing its end. Applies
   * `command`, returns the state after it; throws unless the worker was started with test hooks.
   */
  testHold(command: TestHoldCommand): TestHoldState;
}

/**
 * 'lose-device': destroy the WebGPU device now; 'crash': throw an uncaught error in the
 * worker; 'memory': the WebGPU buffer pool's accounting (null on the CPU backend).
 */
export type TestHookName = 'lose-device' | 'crash' | 'memory' | 'hang';

/**
 * `hold`: the next job whose progress reaches `phase` with at least `done` units done (default
 * 0) waits right after reporting it, until `release` or until it is cancelled (one job, once;
 * a new `hold` replaces one not reached yet). `release`: lets the held job go on and drops
 * a hold not reached yet. Neither: only the state.
 */
export interface TestHoldCommand {
  hold?: { phase: JobPhase; done?: number };
  release?: boolean;
}

export interface TestHoldState {
  /** The hold no job has reached yet. */
  armed: { phase: JobPhase; done: number } | null;
  /** The job held now, at the progress event that reached the hold. */
  held: { jobId: string; phase: JobPhase; done: number; total: number | null } | null;
  /** L4Q jobs waiting at their pause gate (paused between two steps: nothing is computed). */
  parked: string[];
}

export type GenerationModel = 'dense' | 'compressed';

export interface GenerateRequest {
  jobId: string;
  /** 'compressed': the model the last prune job produced. */
  model: GenerationModel;
  prompt: string;
  maxNewTokens: number;
  /** 0 = greedy. */
  temperature: number;
  /** 0 = no top-k cut. */
  topK: number;
  /** 1 = no top-p cut. */
  topP: number;
  seed: number;
  backend: BackendPreference;
}

/** Sent after every generated token: the text so far (prompt included). */
export interface GenerateEvent {
  jobId: string;
  model: GenerationModel;
  text: string;
  tokens: number;
}

export interface GenerateReply {
  model: GenerationModel;
  /** The pruning run whose model generated (compressed only). */
  recordId: string | null;
  promptText: string;
  /** Prompt and continuation, decoded together. */
  text: string;
  ids: number[];
  promptTokens: number;
  /** Why it stopped: the token budget, an end-of-text token, or the model's context. */
  stop: 'length' | 'eos' | 'context';
  tokensPerSecond: number;
  prefillMs: number;
  decodeMs: number;
  backend: BackendInfo;
}

export interface InspectLayerRequest {
  jobId: string;
  method: MethodSpec;
  layer: number;
  matrix: 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
  calibration: { dataset: DatasetChoice; sampling: CalibrationSampling };
  datasetsUrl: string;
  backend: BackendPreference;
}

export interface HistogramRequest {
  layer: number;
  matrix: 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';
  bins: number;
}

export interface HistogramReply extends WeightHistogram {
  layer: number;
  matrix: HistogramRequest['matrix'];
  modelId: string;
  /** The run whose compressed model is compared (null: no compressed model yet). */
  recordId: string | null;
}

export type { LayerInspection };

// ---- Hub models (docs/models.md#hub-models) ----

export interface HubModelRequest {
  /** The Hub's base URL, e.g. https://huggingface.co (a setting of the page). */
  baseUrl: string;
  /** owner/name */
  id: string;
  revision?: string;
  /** Access token for gated models: sent only to baseUrl's host, never stored by the worker. */
  token?: string | null;
}

export interface HubPreviewRequest extends HubModelRequest {
  jobId: string;
  backend: BackendPreference;
  /** Sequence length the memory estimate assumes. */
  seqlen: number;
}

export interface HubCacheUsage {
  /** What caches the files ("Cache API"), or null when nothing does. */
  cache: string | null;
  used: number | null;
  quota: number | null;
}

export interface HubPreviewReply {
  preview: HubPreview;
  memory: MemoryEstimate;
  check: MemoryCheck;
  limits: MemoryLimits;
  cacheUsage: HubCacheUsage;
}

// ---- Export (docs/export.md) ----

export interface ExportRequest {
  which: GenerationModel;
  format: 'safetensors' | 'onnx';
  dtype: 'f32' | 'f16';
  /** Quantized models: float weights instead of packed integers. */
  dequantize?: boolean;
  /** 'zip': one archive; 'files': the folder's files, for the File System Access API. */
  container: 'zip' | 'files';
}

export interface ExportReply {
  /** Suggested zip / folder name (no extension). */
  name: string;
  files: { name: string; bytes: Uint8Array }[];
  zip: Uint8Array | null;
  totalBytes: number;
  /** ONNX: linears written as MatMulNBits, and those written as float (with why). */
  matMulNBits: number;
  floatFallback: string[];
  ms: number;
}

export interface OrtRunRequest {
  jobId: string;
  prompt: string;
  newTokens: number;
  /** auto: WebGPU EP where the browser has WebGPU (wasm if it fails), else wasm. */
  ep: 'auto' | 'webgpu' | 'wasm';
}

export interface OrtRunResult {
  which: GenerationModel;
  recordId: string | null;
  ep: 'webgpu' | 'wasm';
  /** Why the run is not on the requested EP, when it is not. */
  note?: string;
  /** Bytes of model.onnx (+ external data): the weights onnxruntime-web holds. */
  modelBytes: number;
  matMulNBits: number;
  exportMs: number;
  sessionMs: number;
  /** First token: the prompt in one call. */
  prefillMs: number;
  /** Each later token: one call with the cache. */
  msPerToken: number;
  text: string;
  newTokens: number;
}

export interface OrtRunReply {
  promptTokens: number;
  results: OrtRunResult[];
}

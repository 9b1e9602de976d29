/**
 * Messages between the studio page and its engine worker. Plain data only (structured
 * clone); functions cross as Comlink proxies.
 */
import type { BackendInfo } from '../engine/backend/backend';
import type { BackendPreference } from '../engine/backend/select';
import type { CalibrationSampling } from '../engine/calibrate';
import type { ExperimentRecord, MethodSpec, ModelRef } from '../engine/record';

export type JobPhase = 'download' | 'parse' | 'tokenize' | 'baseline' | 'calibrate' | 'prune' | 'evaluate';

export interface JobEvent {
  jobId: string;
  phase: JobPhase;
  done: number;
  /** null when unknown (e.g. a download without Content-Length). */
  total: number | null;
  unit: 'bytes' | 'windows' | 'steps';
}

export interface BackendStatus {
  backend: BackendInfo;
  /** Why WebGPU is not in use, when 'auto' fell back to the CPU. */
  fallbackReason?: string;
}

export interface ModelSummary {
  ref: ModelRef;
  backend: BackendInfo;
  fallbackReason?: string;
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

export interface PruneJobRequest {
  jobId: string;
  method: MethodSpec;
  /** Evaluation text and windows: the dense and the pruned model are scored on the same ones. */
  dataset: DatasetChoice;
  datasetsUrl: string;
  seqlen: number;
  windows: string;
  calibration: { dataset: DatasetChoice; sampling: CalibrationSampling };
  /** Prune an MHA-expanded copy of a GQA model. */
  expandGqa?: boolean;
  backend: BackendPreference;
}

export interface StudioWorkerApi {
  loadModel(req: LoadModelRequest, onEvent: (e: JobEvent) => void): Promise<ModelSummary>;
  evaluate(req: EvaluateRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord>;
  /** Prunes the loaded model (magnitude, Wanda, FLAP); the record has before and after. */
  prune(req: PruneJobRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord>;
  /** Switches the backend for the next jobs (a fresh device if the last one was lost). */
  setBackend(preference: BackendPreference): Promise<BackendStatus>;
  cancel(jobId: string): void;
}

/**
 * The page's handle on the engine worker. Errors thrown in the worker arrive as Errors
 * with the engine's message; callbacks are wrapped as Comlink proxies here so callers
 * pass plain functions.
 */
import * as Comlink from 'comlink';
import type { EvaluateRequest, JobEvent, LoadModelRequest, ModelSummary, StudioWorkerApi } from './protocol';
import type { ExperimentRecord } from '../engine/record';

export interface StudioClient {
  loadModel(req: LoadModelRequest, onEvent: (e: JobEvent) => void): Promise<ModelSummary>;
  evaluate(req: EvaluateRequest, onEvent: (e: JobEvent) => void): Promise<ExperimentRecord>;
  cancel(jobId: string): Promise<void>;
  terminate(): void;
}

export function createStudioClient(): StudioClient {
  const worker = new Worker(new URL('./studio.worker.ts', import.meta.url), { type: 'module', name: 'studio-engine' });
  const remote = Comlink.wrap<StudioWorkerApi>(worker);
  return {
    loadModel: (req, onEvent) => remote.loadModel(req, Comlink.proxy(onEvent)),
    evaluate: (req, onEvent) => remote.evaluate(req, Comlink.proxy(onEvent)),
    cancel: (jobId) => remote.cancel(jobId),
    terminate: () => {
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
}

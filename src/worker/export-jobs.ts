/**
 * The studio's export job: the dense or the last compressed model as a safetensors or ONNX
 * folder, built in the worker (the page never touches weights) and returned either as one
 * uncompressed zip or as separate files for a folder the user picked (File System Access
 * API). Weights barely compress, so the zip only stores them (fflate level 0).
 */
import { zipSync } from 'fflate';
import { StudioError } from '../engine/errors';
import { exportModelFiles } from '../engine/export/export-model';
import type { LoadedModel } from '../engine/model/load';
import type { HubCompanions } from '../engine/model/save';
import type { ModelConfig } from '../engine/model/config';
import type { HostTensor, ModelWeights } from '../engine/model/weights';
import type { ExportReply, ExportRequest } from './protocol';

export interface CompressedModel {
  recordId: string;
  config: ModelConfig;
  weights: ModelWeights<HostTensor>;
}

export function exportJob(model: LoadedModel, compressed: CompressedModel | null, companions: HubCompanions, req: ExportRequest): ExportReply {
  if (req.which === 'compressed' && !compressed) throw new StudioError('input', 'export: no compressed model yet (run a method first)');
  const target = req.which === 'compressed' ? compressed! : { recordId: null, config: model.config, weights: model.weights };
  const t0 = performance.now();
  const result = exportModelFiles(target.config, target.weights, companions, {
    format: req.format,
    dtype: req.dtype,
    dequantize: req.dequantize ?? false,
    metadata: { 'pq-studio': JSON.stringify({ source: model.id, recordId: target.recordId }) },
  });
  const base = `${model.id.replace(/[^A-Za-z0-9._-]+/g, '_')}-${req.which}-${req.format}-${req.dtype}`;
  const files = Object.entries(result.files).map(([name, bytes]) => ({ name, bytes }));
  const totalBytes = files.reduce((s, f) => s + f.bytes.byteLength, 0);
  const zip = req.container === 'zip' ? zipSync(result.files, { level: 0 }) : null;
  return {
    name: base,
    files: zip ? [] : files,
    zip,
    totalBytes,
    matMulNBits: result.quantized.filter((q) => q.as === 'MatMulNBits').length,
    floatFallback: result.quantized.filter((q) => q.as === 'float').map((q) => `${q.name}: ${q.reason}`),
    ms: performance.now() - t0,
  };
}

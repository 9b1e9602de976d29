/**
 * A model as an ONNX folder: model.onnx (+ model.onnx_data when the weights are large),
 * config.json and the tokenizer files. Pure: returns file names → bytes.
 *
 * Protobuf messages cannot exceed 2 GiB, so above `externalDataThreshold` bytes of
 * initializers every weight of 1 KiB or more goes to `model.onnx_data` (the file name
 * transformers.js looks for; config.json then says so under "transformers.js_config").
 */
import type { ModelConfig } from '../../model/config';
import { hubConfigJson, type HubCompanions } from '../../model/save';
import type { HostTensor, ModelWeights } from '../../model/weights';
import { buildLlamaGraph, type QuantizedExportNote } from './llama-graph';
import { encodeModel } from './proto';

export const ONNX_OPSET = 17;
/** ONNX IR version of opset 17. */
export const ONNX_IR_VERSION = 8;
export const EXTERNAL_DATA_FILE = 'model.onnx_data';
/** Default: stay well under protobuf's 2 GiB message limit. */
export const DEFAULT_EXTERNAL_THRESHOLD = 1 << 30;

export interface OnnxExportOptions {
  dtype?: 'f32' | 'f16';
  /** Initializer bytes above which weights go to model.onnx_data. */
  externalDataThreshold?: number;
  /** Extra metadata_props (e.g. the compression method). */
  metadata?: Record<string, string>;
}

export interface OnnxModelBytes {
  model: Uint8Array;
  /** The external data file, when used. */
  externalData: Uint8Array | null;
  /** How each quantized linear was written. */
  quantized: QuantizedExportNote[];
}

export function exportOnnxModel(cfg: ModelConfig, w: ModelWeights<HostTensor>, opts: OnnxExportOptions = {}): OnnxModelBytes {
  const dtype = opts.dtype ?? 'f32';
  const { graph: g, quantized } = buildLlamaGraph(cfg, w, { dtype });
  const total = g.initializers.reduce((s, t) => s + (t.raw?.byteLength ?? 0), 0);
  let externalData: Uint8Array | null = null;
  if (total > (opts.externalDataThreshold ?? DEFAULT_EXTERNAL_THRESHOLD)) {
    const big = g.initializers.filter((t) => (t.raw?.byteLength ?? 0) >= 1024);
    const align = (n: number) => Math.ceil(n / 64) * 64;
    let size = 0;
    for (const t of big) size = align(size) + t.raw!.byteLength;
    externalData = new Uint8Array(size);
    let offset = 0;
    for (const t of big) {
      offset = align(offset);
      externalData.set(t.raw!, offset);
      t.external = { location: EXTERNAL_DATA_FILE, offset, length: t.raw!.byteLength };
      delete t.raw;
      offset += t.external.length;
    }
  }
  const model = encodeModel({
    irVersion: ONNX_IR_VERSION,
    opsets: [
      { domain: '', version: ONNX_OPSET },
      ...(quantized.some((q) => q.as === 'MatMulNBits') ? [{ domain: 'com.microsoft', version: 1 }] : []),
    ],
    producerName: 'prune-quantize-studio',
    producerVersion: '0.1.0',
    docString: `${cfg.architecture} causal LM exported by Prune & Quantize Studio (weights ${dtype})`,
    metadata: { weights_dtype: dtype, ...(opts.metadata ?? {}) },
    graph: { name: 'main_graph', nodes: g.nodes, initializers: g.initializers, inputs: g.inputs, outputs: g.outputs },
  });
  return { model, externalData, quantized };
}

/** The ONNX folder: model.onnx (+ model.onnx_data), config.json, tokenizer files. */
export function onnxFolderFiles(cfg: ModelConfig, w: ModelWeights<HostTensor>, companions: HubCompanions, opts: OnnxExportOptions = {}): { files: Record<string, Uint8Array>; quantized: QuantizedExportNote[] } {
  const { model, externalData, quantized } = exportOnnxModel(cfg, w, opts);
  const config = hubConfigJson(cfg, companions.config);
  // The packed-safetensors description does not apply to model.onnx (MatMulNBits says it all).
  delete config.quantization_config;
  if (externalData) config['transformers.js_config'] = { use_external_data_format: true };
  const files: Record<string, Uint8Array> = {
    ...companions.files,
    'config.json': new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`),
    'model.onnx': model,
  };
  if (externalData) files[EXTERNAL_DATA_FILE] = externalData;
  return { files, quantized };
}

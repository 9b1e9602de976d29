/**
 * Export of a loaded or compressed model, shared by the CLI (`studio export`, `prune
 * --format`) and the worker (the studio's download buttons). Pure: returns file names →
 * bytes.
 *
 * - safetensors: Hub layout through model/save.ts (config.json with per-layer FLAP keys,
 *   o_proj/down_proj biases, tokenizer files). Unstructured and N:M pruning keep the shapes
 *   with zeros. Quantized linears are written as their packed integers with scales and zero
 *   points (model/checkpoint.ts), or, with `dequantize`, as the float weights they decode to.
 *   f16 stores every float weight and bias as F16 (packed scales stay F32).
 * - onnx: model.onnx (+ model.onnx_data), config.json and the tokenizer files (onnx/export.ts);
 *   quantized linears become com.microsoft.MatMulNBits unless `dequantize`.
 */
import { StudioError } from '../errors';
import { encodeF16 } from '../half';
import type { ModelConfig } from '../model/config';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../model/safetensors';
import { hubCheckpointFiles, type HubCompanions } from '../model/save';
import type { HostTensor, ModelWeights } from '../model/weights';
import { onnxFolderFiles } from './onnx/export';
import type { QuantizedExportNote } from './onnx/llama-graph';

export const EXPORT_FORMATS = ['safetensors', 'onnx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];
export const EXPORT_DTYPES = ['f32', 'f16'] as const;
export type ExportDtype = (typeof EXPORT_DTYPES)[number];

export interface ExportOptions {
  format: ExportFormat;
  dtype?: ExportDtype;
  /** Write quantized linears as float weights instead of packed integers. */
  dequantize?: boolean;
  /** Extra metadata (safetensors __metadata__, ONNX metadata_props). */
  metadata?: Record<string, string>;
  externalDataThreshold?: number;
}

export interface ExportResult {
  files: Record<string, Uint8Array>;
  /** ONNX only: how each quantized linear was written. */
  quantized: QuantizedExportNote[];
}

export function isQuantized(w: ModelWeights<HostTensor>): boolean {
  return w.layers.some((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down].some((t) => t.packed));
}

/** The same weights with every packed linear replaced by its dequantized float weight. */
export function dequantizedWeights(w: ModelWeights<HostTensor>): ModelWeights<HostTensor> {
  const plain = (t: HostTensor): HostTensor => (t.packed ? { shape: t.shape, data: t.data } : t);
  return { ...w, layers: w.layers.map((l) => ({ ...l, q: plain(l.q), k: plain(l.k), v: plain(l.v), o: plain(l.o), gate: plain(l.gate), up: plain(l.up), down: plain(l.down) })) };
}

export function exportModelFiles(cfg: ModelConfig, weights: ModelWeights<HostTensor>, companions: HubCompanions, opts: ExportOptions): ExportResult {
  if (!(EXPORT_FORMATS as readonly string[]).includes(opts.format)) throw new StudioError('input', `export: unknown format "${opts.format}" (expected ${EXPORT_FORMATS.join(' or ')})`);
  const dtype = opts.dtype ?? 'f32';
  if (!(EXPORT_DTYPES as readonly string[]).includes(dtype)) throw new StudioError('input', `export: unknown dtype "${dtype}" (expected ${EXPORT_DTYPES.join(' or ')})`);
  const w = opts.dequantize ? dequantizedWeights(weights) : weights;
  const metadata = opts.metadata ?? {};
  if (opts.format === 'onnx') {
    const files = onnxFolderFiles(cfg, w, companions, { dtype, metadata, ...(opts.externalDataThreshold !== undefined ? { externalDataThreshold: opts.externalDataThreshold } : {}) });
    return { files: files.files, quantized: files.quantized };
  }
  const files = hubCheckpointFiles(cfg, w, companions, metadata);
  if (dtype === 'f16') {
    files['model.safetensors'] = toF16Safetensors(files['model.safetensors']!);
    const config = JSON.parse(new TextDecoder().decode(files['config.json'])) as Record<string, unknown>;
    config.torch_dtype = 'float16';
    files['config.json'] = new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`);
  }
  return { files, quantized: [] };
}

/** Rewrites F32 weights and biases as F16 (packed integers, scales and zero points stay). */
function toF16Safetensors(bytes: Uint8Array): Uint8Array {
  const st = new SafetensorsFile(bytes, 'model.safetensors');
  const tensors: TensorToWrite[] = st.names.map((name) => {
    const e = st.entry(name);
    const raw = st.rawBytes(name);
    if (e.dtype !== 'F32' || !/\.(weight|bias)$/.test(name)) return { name, dtype: e.dtype as TensorToWrite['dtype'], shape: e.shape, data: raw };
    const data = st.float32(name);
    const half = encodeF16(data, (i) => {
      throw new StudioError('input', `export: ${name} value ${data[i]} at index ${i} is beyond the f16 range (±65504); export with --dtype f32`);
    });
    return { name, dtype: 'F16', shape: e.shape, data: new Uint8Array(half.buffer) };
  });
  return writeSafetensors(tensors, st.header.metadata ?? {});
}

/**
 * `--out DIR [--format F] [--dtype D]` of the commands that change a model (prune, quantize
 * with RTN or L4Q): checked before any work starts, written after the experiment, so a typo
 * in --format never costs a training run.
 */
import type { ExportDtype, ExportFormat } from '../engine/export/export-model';
import { exportModelFiles } from '../engine/export/export-model';
import type { ModelConfig } from '../engine/model/config';
import type { FileSource } from '../engine/model/source';
import { readCompanions } from '../engine/model/save';
import type { HostTensor, ModelWeights } from '../engine/model/weights';
import { UsageError, writeFiles } from './common';
import { exportDtypeOption, exportFormatOption } from './export-command';

export const MODEL_OUTPUT_OPTIONS = {
  out: { type: 'string' },
  format: { type: 'string' },
  dtype: { type: 'string' },
} as const;

export interface ModelOutput {
  dir: string;
  format: ExportFormat;
  dtype: ExportDtype;
}

/** The validated output settings, or null without --out (--format/--dtype alone are an error). */
export function modelOutputFromArgs(values: { out?: string | undefined; format?: string | undefined; dtype?: string | undefined }): ModelOutput | null {
  const format = exportFormatOption(values.format, false);
  const dtype = exportDtypeOption(values.dtype);
  if (!values.out) {
    if (values.format !== undefined || values.dtype !== undefined) throw new UsageError('--format and --dtype apply to --out');
    return null;
  }
  return { dir: values.out, format, dtype };
}

/** Writes the experiment's model (Hub layout or ONNX) with the source model's tokenizer files. */
export async function writeModelOutput(
  output: ModelOutput,
  source: FileSource,
  result: { config: ModelConfig; weights: ModelWeights<HostTensor> },
  provenance: Record<string, unknown>,
): Promise<void> {
  const exported = exportModelFiles(result.config, result.weights, await readCompanions(source), {
    format: output.format,
    dtype: output.dtype,
    metadata: { 'pq-studio': JSON.stringify(provenance) },
  });
  await writeFiles(output.dir, exported.files);
}

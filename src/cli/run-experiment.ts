/** How the experiment commands (eval, prune, quantize) turn their shared options into an engine run. */
import type { CalibrationSampling } from '../engine/calibrate';
import type { ExperimentInputs } from '../engine/experiment';
import type { ExperimentProgress } from '../engine/experiment-phases';
import type { LoadedModel } from '../engine/model/load';
import type { ModelRef } from '../engine/record';
import { isCount, makeBackend, numberOption, resolveDataset, type CliDataset, type Io } from './common';
import { HUB_CLI_OPTIONS } from './hub-model';
import { MODEL_OUTPUT_OPTIONS } from './model-output';

/** The options of every command that runs an experiment (prune, quantize with rtn or l4q) besides its method's. */
export const RUN_OPTIONS = {
  model: { type: 'string' },
  method: { type: 'string' },
  dataset: { type: 'string' },
  seqlen: { type: 'string' },
  windows: { type: 'string' },
  'no-baseline': { type: 'boolean' },
  backend: { type: 'string' },
  ...HUB_CLI_OPTIONS,
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h' },
} as const;

/** RUN_OPTIONS and --out/--format/--dtype, for the commands that write the model they change. */
export const EXPERIMENT_OPTIONS = { ...RUN_OPTIONS, ...MODEL_OUTPUT_OPTIONS } as const;

/** --calib-dataset and the sampling options (calibrationSamplingOptions reads them). */
export const CALIBRATION_OPTIONS = {
  'calib-dataset': { type: 'string' },
  'calib-offset': { type: 'string' },
  'calib-samples': { type: 'string' },
  'calib-seqlen': { type: 'string' },
  'calib-seed': { type: 'string' },
} as const;

export type CliExperimentInputs = ExperimentInputs;

/**
 * `run` on the --backend (destroyed after) with the inputs every command fills alike;
 * progress lines go to stderr only on a terminal and not with --json, so piped output stays clean.
 */
export async function runOnCliBackend<R>(
  values: { backend?: string; 'gpu-weights'?: string; json?: boolean; windows?: string },
  io: Io,
  loaded: { model: LoadedModel; ref: ModelRef; loadMs: number },
  dataset: CliDataset,
  seqlen: number,
  run: (inputs: CliExperimentInputs) => Promise<R>,
  progressLine: (p: ExperimentProgress) => string = (p) => `${p.phase} ${p.done}/${p.total}   `,
): Promise<R> {
  const progress = !values.json && process.stderr.isTTY;
  const { backend, fallbackReason } = await makeBackend(values.backend, values['gpu-weights'], io);
  const result = await run({
    model: loaded.model,
    modelRef: loaded.ref,
    backend,
    fallbackReason,
    text: dataset.text,
    dataset: { name: dataset.name, source: dataset.source },
    seqlen,
    windows: values.windows ?? 'all',
    runtime: 'node',
    loadMs: loaded.loadMs,
    // A line per count; a phase's start (no total yet) has none.
    onProgress: progress
      ? (p) => {
          if (p.total !== null) io.err(`\r${progressLine(p)}`);
        }
      : undefined,
  }).finally(() => backend.destroy());
  if (progress) io.err('\n');
  return result;
}

/** --calib-samples, --calib-seqlen, --calib-offset and --calib-seed over `defaults`. */
export function calibrationSamplingOptions(v: Record<string, string | boolean | undefined>, defaults: CalibrationSampling): CalibrationSampling {
  const count = (name: string, fallback: number) => numberOption(v[name] as string | undefined, name, fallback, isCount, 'a non-negative integer');
  return {
    samples: count('calib-samples', defaults.samples),
    seqlen: count('calib-seqlen', defaults.seqlen),
    offset: count('calib-offset', defaults.offset),
    seed: v['calib-seed'] === undefined ? null : count('calib-seed', 0),
  };
}

/** The evaluation text (--dataset) and the calibration text (--calib-dataset), read once when they are the same. */
export async function evalAndCalibrationData(v: { dataset?: string; 'calib-dataset'?: string }): Promise<{ dataset: CliDataset; calibration: CliDataset }> {
  const dataset = await resolveDataset(v.dataset ?? 'tinystories', '--dataset');
  const calibName = v['calib-dataset'] ?? 'tinystories';
  const calibration = calibName === (v.dataset ?? 'tinystories') ? dataset : await resolveDataset(calibName, '--calib-dataset');
  return { dataset, calibration };
}

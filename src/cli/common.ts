/** What the CLI's commands share: argument checks, model and dataset resolution, backends. */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Backend } from '../engine/backend/backend';
import { BACKEND_PREFERENCES, selectBackend, type BackendPreference } from '../engine/backend/select';
import { BUNDLED_DATASETS, isBundledDataset } from '../engine/data';
import { StudioError } from '../engine/errors';
import { modelRefOf } from '../engine/experiment';
import { loadModel, type LoadedModel } from '../engine/model/load';
import type { ModelRef } from '../engine/record';
import { looksLikeHubId } from '../engine/hub/repo';
import type { FileSource } from '../engine/model/source';
import { dirSource, isDirectory } from './fs-source';
import { loadCliHubModel, type HubArgs } from './hub-model';
import { BUNDLED_DATASETS_DIR, BUNDLED_MODELS_DIR } from './paths';

export class UsageError extends Error {}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** Runs a command; a usage error prints the message with that command's usage and exits 2. */
export async function withUsage(usage: string, io: Io, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`studio: ${e.message}\n${usage}\n`);
      return 2;
    }
    throw e;
  }
}

/** A number option that `check` accepts (`what` says which in the message). */
export function numberOption(v: string | undefined, name: string, fallback: number, check: (x: number) => boolean, what: string): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new UsageError(`--${name} must be ${what}, got "${v}"`);
  return x;
}

export const isCount = (x: number) => Number.isSafeInteger(x) && x >= 0;

export async function writeFiles(dir: string, files: Record<string, Uint8Array>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) await writeFile(path.join(dir, name), bytes);
}

export function intOption(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

export interface CliBackend {
  backend: Backend;
  /** Why this backend runs (see selectBackend). */
  reason?: string;
  fallbackReason?: string;
  softwareAdapter?: string;
}

const GPU_WEIGHTS = ['auto', 'f32', 'f16'] as const;

/**
 * --backend cpu (default) | wasm (WebAssembly SIMD) | webgpu (Dawn through the `webgpu` package) | auto, and
 * --gpu-weights auto (default) | f32 | f16: how WebGPU stores weight matrices.
 */
export async function makeBackend(name: string | undefined, gpuWeights?: string, io?: Io): Promise<CliBackend> {
  const pref = (name ?? 'cpu') as BackendPreference;
  if (!BACKEND_PREFERENCES.includes(pref)) throw new UsageError(`unknown backend "${name}" (expected ${BACKEND_PREFERENCES.join(', ')})`);
  const weightStorage = (gpuWeights ?? 'auto') as (typeof GPU_WEIGHTS)[number];
  if (!GPU_WEIGHTS.includes(weightStorage)) throw new UsageError(`unknown --gpu-weights "${gpuWeights}" (expected ${GPU_WEIGHTS.join(', ')})`);
  // findNodeGpu falls back to Chromium's SwiftShader on GPU-less Linux machines and names
  // what is missing (libvulkan1, a driver) when nothing gives an adapter. 'auto' passes a
  // software adapter over for the wasm backend (selectBackend), and says what it chose.
  const onSoftware = (icd: string) => {
    if (pref === 'webgpu') io?.err(`studio: no hardware WebGPU adapter; using the software adapter (VK_ICD_FILENAMES=${icd})\n`);
  };
  const selected = await selectBackend(pref, async () => (await import('../engine/backend/webgpu/node')).findNodeGpu([], onSoftware), { weightStorage });
  if (pref === 'auto') {
    const hint = selected.softwareAdapter ? '; pass --backend webgpu to use it anyway' : '';
    io?.err(`studio: --backend auto: ${selected.backend.info.name} (${selected.backend.info.device}): ${selected.reason.replace(/^Auto: /, '')}${hint}\n`);
  }
  return selected;
}

export async function resolveModel(arg: string | undefined): Promise<{ dir: string; id: string; source: ModelRef['source'] }> {
  if (!arg) throw new UsageError('--model is required');
  if (await isDirectory(arg)) {
    const dir = path.resolve(arg);
    const bundled = path.dirname(dir) === BUNDLED_MODELS_DIR;
    return { dir, id: path.basename(dir), source: bundled ? 'bundled' : 'local' };
  }
  const bundledDir = path.join(BUNDLED_MODELS_DIR, arg);
  if (!arg.includes('/') && (await isDirectory(bundledDir))) return { dir: bundledDir, id: arg, source: 'bundled' };
  throw new StudioError('input', `--model ${arg}: no such model directory`);
}

/**
 * --model resolved and loaded (a directory, a bundled name, or a Hub id with the Hub
 * options of hub-model.ts), with its files as a source, record reference and load time.
 */
export async function loadCliModel(
  modelArg: string | undefined,
  hub: HubArgs = {},
  io?: Io,
): Promise<{ model: LoadedModel; source: FileSource; ref: ModelRef; loadMs: number }> {
  const t0 = performance.now();
  if (modelArg && looksLikeHubId(modelArg) && !(await isDirectory(modelArg))) {
    const bar = io && process.stderr.isTTY ? (n: number, t: number | null) => io.err(`\rdownloaded ${(n / 1048576).toFixed(1)}${t ? ` of ${(t / 1048576).toFixed(1)}` : ''} MiB`) : undefined;
    const h = await loadCliHubModel(modelArg, hub, (l) => io?.err(`${l}\n`), bar).catch((e: unknown) => {
      // A mistyped directory looks like a Hub id: say how the argument was taken.
      if (e instanceof StudioError && (e.code === 'not-found' || / failed \(/.test(e.message)) && e.message.includes('config.json')) {
        throw new StudioError(e.code, `${e.message} (--model ${modelArg} is not a directory here, so it was taken as a Hub model id)`);
      }
      throw e;
    });
    if (bar) io?.err('\n');
    return { model: h.model, source: h.source, ref: modelRefOf(h.model, 'hub', h.revision), loadMs: performance.now() - t0 };
  }
  if (hub.revision !== undefined) throw new UsageError('--revision applies to Hub models (--model owner/name) only');
  const m = await resolveModel(modelArg);
  const source = dirSource(m.dir);
  const model = await loadModel(m.id, source);
  return { model, source, ref: modelRefOf(model, m.source), loadMs: performance.now() - t0 };
}

export interface CliDataset {
  name: string;
  source: 'bundled' | 'file';
  text: string;
}

/** A bundled text by name, or a UTF-8 file by path; `flag` names the option in messages. */
export async function resolveDataset(arg: string | undefined, flag = '--dataset'): Promise<CliDataset> {
  if (!arg) throw new UsageError(`${flag} is required`);
  const file = isBundledDataset(arg) ? path.join(BUNDLED_DATASETS_DIR, BUNDLED_DATASETS[arg].file) : arg;
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch {
    const names = Object.keys(BUNDLED_DATASETS).join(', ');
    throw new StudioError('dataset', `${flag} ${arg}: neither a bundled text (${names}) nor a readable file`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new StudioError('dataset', `${file}: not valid UTF-8 text`);
  }
  return isBundledDataset(arg) ? { name: arg, source: 'bundled', text } : { name: path.basename(arg), source: 'file', text };
}

/** What the CLI's commands share: argument checks, model and dataset resolution, backends. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Backend } from '../engine/backend/backend';
import { BACKEND_PREFERENCES, selectBackend, type BackendPreference } from '../engine/backend/select';
import { BUNDLED_DATASETS, isBundledDataset } from '../engine/data';
import { StudioError } from '../engine/errors';
import { modelRefOf } from '../engine/experiment';
import { loadModel, type LoadedModel } from '../engine/model/load';
import type { ModelRef } from '../engine/record';
import { dirSource, isDirectory } from './fs-source';
import { BUNDLED_DATASETS_DIR, BUNDLED_MODELS_DIR } from './paths';

export class UsageError extends Error {}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

export function intOption(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

export interface CliBackend {
  backend: Backend;
  fallbackReason?: string;
}

/** --backend cpu (default) | webgpu (Dawn through the `webgpu` package) | auto. */
export async function makeBackend(name: string | undefined): Promise<CliBackend> {
  const pref = (name ?? 'cpu') as BackendPreference;
  if (!BACKEND_PREFERENCES.includes(pref)) throw new UsageError(`unknown backend "${name}" (expected ${BACKEND_PREFERENCES.join(', ')})`);
  return selectBackend(pref, async () => (await import('../engine/backend/webgpu/node')).nodeGpu());
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

/** --model resolved and loaded, with its directory, record reference and load time. */
export async function loadCliModel(modelArg: string | undefined): Promise<{ model: LoadedModel; dir: string; ref: ModelRef; loadMs: number }> {
  const m = await resolveModel(modelArg);
  const t0 = performance.now();
  const model = await loadModel(m.id, dirSource(m.dir));
  return { model, dir: m.dir, ref: modelRefOf(model, m.source), loadMs: performance.now() - t0 };
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

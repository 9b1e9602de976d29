/**
 * Picks the backend for a run: WebGPU when asked for (or available, for 'auto'); else the
 * WebAssembly SIMD backend (the fast CPU path), else the CPU reference, with the reason
 * recorded so the UI and records can say why. 'cpu' is always the plain reference.
 */
import type { Backend } from './backend';
import { CpuBackend } from './cpu/cpu-backend';
import { createWasmBackend } from './wasm/wasm-backend';
import { createWebGpuBackend, WebGpuBackend, type WebGpuBackendOptions } from './webgpu';

export type BackendPreference = 'auto' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'webgpu', 'wasm', 'cpu'];

export interface SelectedBackend {
  backend: Backend;
  /** Set when 'auto' fell back from WebGPU: why it could not be used (and why not wasm, if the CPU reference runs). */
  fallbackReason?: string;
}

/**
 * `gpu` is navigator.gpu in a browser or worker, or the object from nodeGpu() in Node; it
 * is only requested (through `getGpu`) when WebGPU may be used.
 */
export async function selectBackend(
  preference: BackendPreference,
  getGpu: () => Promise<GPU | null | undefined> | GPU | null | undefined,
  opts: WebGpuBackendOptions = {},
): Promise<SelectedBackend> {
  if (preference === 'cpu') return { backend: new CpuBackend() };
  if (preference === 'wasm') return { backend: await createWasmBackend() };
  let why: string;
  try {
    return { backend: await createWebGpuBackend(await getGpu(), opts) };
  } catch (e) {
    if (preference === 'webgpu') throw e;
    why = messageOf(e);
  }
  try {
    return { backend: await createWasmBackend(), fallbackReason: why };
  } catch (e) {
    return { backend: new CpuBackend(), fallbackReason: `${why}; ${messageOf(e)}` };
  }
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Holds the backend that jobs run on: kept while the preference stays the same and the
 * device is alive. A WebGPU backend that is spent — its device lost, or a GPU error
 * recorded (the runtime rethrows its first error forever after) — is destroyed and
 * replaced by a fresh device at the next request, so one failed job does not fail the
 * ones after it.
 */
export class BackendHolder {
  private current: { preference: BackendPreference; selected: SelectedBackend } | null = null;
  private readonly getGpu: () => Promise<GPU | null | undefined> | GPU | null | undefined;
  private readonly opts: WebGpuBackendOptions;

  constructor(getGpu: () => Promise<GPU | null | undefined> | GPU | null | undefined, opts: WebGpuBackendOptions = {}) {
    this.getGpu = getGpu;
    this.opts = opts;
  }

  async get(preference: BackendPreference): Promise<SelectedBackend> {
    if (this.current && this.current.preference === preference && !isSpent(this.current.selected.backend)) return this.current.selected;
    // Acquire the new backend first: if it cannot be had, the earlier one stays in use.
    const selected = await selectBackend(preference, this.getGpu, this.opts);
    this.current?.selected.backend.destroy();
    this.current = { preference, selected };
    return selected;
  }

  /** The backend the last request got (for tests and memory reports); null before any. */
  peek(): Backend | null {
    return this.current?.selected.backend ?? null;
  }

  destroy(): void {
    this.current?.selected.backend.destroy();
    this.current = null;
  }
}

/** A WebGPU backend that can run nothing more (lost, failed, or destroyed). */
export function isSpent(b: Backend): boolean {
  return b instanceof WebGpuBackend && (b.runtime.lost || b.runtime.failed || b.runtime.isDestroyed);
}

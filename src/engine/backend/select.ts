/**
 * Picks the backend for a run: WebGPU when asked for (or available, for 'auto'), else the
 * CPU reference, with the reason recorded so the UI and records can say why.
 */
import type { Backend } from './backend';
import { CpuBackend } from './cpu/cpu-backend';
import { createWebGpuBackend, type WebGpuBackendOptions } from './webgpu';

export type BackendPreference = 'auto' | 'webgpu' | 'cpu';
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'webgpu', 'cpu'];

export interface SelectedBackend {
  backend: Backend;
  /** Set when 'auto' fell back to the CPU: why WebGPU could not be used. */
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
  try {
    return { backend: await createWebGpuBackend(await getGpu(), opts) };
  } catch (e) {
    if (preference === 'webgpu') throw e;
    return { backend: new CpuBackend(), fallbackReason: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Picks the backend for a run, with the reason recorded so the UI, records and the CLI can
 * say why. 'cpu' is always the plain reference, 'wasm' the WebAssembly SIMD backend,
 * 'webgpu' WebGPU on whatever adapter the browser gives (a software one included).
 *
 * 'auto' goes by expected speed, not by name:
 * - a hardware WebGPU adapter → WebGPU;
 * - a software adapter (isFallbackAdapter, or a known software renderer: SwiftShader,
 *   llvmpipe/lavapipe, WARP) → the wasm backend, which is faster here (Chromium on a
 *   2-core machine: Wanda 50 % on stories260K took 16.8 s on SwiftShader, 4.3 s on wasm);
 *   the software adapter is still used when the wasm backend cannot be had, as it beats
 *   the JavaScript reference;
 * - no adapter → the wasm backend, else the CPU reference.
 * Between a hardware adapter and wasm there is no calibration: a hardware GPU is preferred
 * (the model shapes that matter, from SmolLM2-135M up, are many times faster on any GPU).
 */
import type { Backend } from './backend';
import { CpuBackend } from './cpu/cpu-backend';
import { createWasmBackend } from './wasm/wasm-backend';
import { adapterName, createWebGpuBackend, describeAdapter, requestAdapter, softwareRenderer, WebGpuBackend, type WebGpuBackendOptions } from './webgpu';

export type BackendPreference = 'auto' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_PREFERENCES: readonly BackendPreference[] = ['auto', 'webgpu', 'wasm', 'cpu'];

export interface SelectedBackend {
  backend: Backend;
  /** Why this backend runs, in one sentence (for the UI, records and the CLI). */
  reason: string;
  /** Set when 'auto' did not take WebGPU: why (and why not wasm, if the CPU reference runs). */
  fallbackReason?: string;
  /** The software adapter 'auto' passed over for the CPU (its name), when it did. */
  softwareAdapter?: string;
}

/** The reason text when 'auto' passes over a software adapter. */
export function softwareAdapterReason(adapter: string): string {
  return `WebGPU adapter ${adapter} is a software renderer (slower than the CPU backend here)`;
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
  if (preference === 'cpu') return { backend: new CpuBackend(), reason: 'the CPU reference backend was asked for' };
  if (preference === 'wasm') return { backend: await createWasmBackend(), reason: 'the CPU (WebAssembly SIMD) backend was asked for' };
  if (preference === 'webgpu') {
    const backend = await createWebGpuBackend(await getGpu(), opts);
    const soft = softwareRenderer(backend.adapter);
    return { backend, reason: `WebGPU was asked for${soft ? ` (its adapter ${adapterName(backend.adapter)} is a software renderer: ${soft})` : ''}` };
  }
  let why: string;
  try {
    const gpu = await getGpu();
    const adapter = await requestAdapter(gpu, opts);
    const report = describeAdapter(adapter);
    if (softwareRenderer(report) === null) {
      const backend = await createWebGpuBackend(gpu, opts, adapter);
      return { backend, reason: `Auto: WebGPU adapter ${adapterName(backend.adapter)} is a hardware GPU` };
    }
    const name = adapterName(report);
    const slow = softwareAdapterReason(name);
    try {
      return { backend: await createWasmBackend(), reason: `Auto: ${slow}`, fallbackReason: slow, softwareAdapter: name };
    } catch (e) {
      // No wasm backend: the software adapter still beats the JavaScript reference.
      const backend = await createWebGpuBackend(gpu, opts, adapter);
      return { backend, reason: `Auto: WebGPU adapter ${name} is a software renderer, but the CPU (WebAssembly SIMD) backend is unavailable: ${messageOf(e)}` };
    }
  } catch (e) {
    why = messageOf(e);
  }
  try {
    return { backend: await createWasmBackend(), reason: `Auto: ${why}`, fallbackReason: why };
  } catch (e) {
    const both = `${why}; ${messageOf(e)}`;
    return { backend: new CpuBackend(), reason: `Auto: ${both}`, fallbackReason: both };
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

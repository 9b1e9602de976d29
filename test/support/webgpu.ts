/**
 * WebGPU for Node tests: a GPU object from the `webgpu` package (Dawn), and helpers to
 * compare GPU results with the CPU reference.
 *
 * Without a GPU, Dawn needs a software Vulkan driver: VK_ICD_FILENAMES defaults to the
 * SwiftShader that Debian's chromium package ships. When no adapter can be had at all the
 * WebGPU tests are skipped, with a warning saying why.
 */
import { existsSync } from 'node:fs';
import { createWebGpuBackend, type WebGpuBackend, type WebGpuBackendOptions } from '../../src/engine/backend/webgpu';
import { nodeGpu } from '../../src/engine/backend/webgpu/node';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
// Must be set before Dawn creates its Vulkan instance.
if (existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES ??= SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= '/tmp';

let gpu: Promise<GPU | null> | null = null;
let unavailable = '';

/** The process-wide GPU object, or null (with `webGpuUnavailable()` saying why). */
export function testGpu(): Promise<GPU | null> {
  gpu ??= (async () => {
    try {
      const g = await nodeGpu();
      const adapter = await g.requestAdapter();
      if (!adapter) {
        unavailable = `no WebGPU adapter (VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? 'unset'}); install chromium (for SwiftShader) or a Vulkan driver`;
        return null;
      }
      return g;
    } catch (e) {
      unavailable = `WebGPU unavailable: ${e instanceof Error ? e.message : String(e)}`;
      return null;
    }
  })();
  return gpu;
}

export function webGpuUnavailable(): string {
  return unavailable;
}

/** Resolves to the GPU or null, warning once when the WebGPU tests will be skipped. */
export async function gpuOrSkip(suite: string): Promise<GPU | null> {
  const g = await testGpu();
  if (!g) console.warn(`[${suite}] skipping WebGPU tests: ${unavailable}`);
  return g;
}

export async function makeBackend(g: GPU, opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  return createWebGpuBackend(g, opts);
}

/** Deterministic uniform values in [−scale, scale) (mulberry32). */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = (2 * u - 1) * scale;
  }
  return out;
}

/**
 * Relative error as used for every error budget: max_i |a_i − b_i| / max_i |b_i|
 * (the largest deviation relative to the reference's scale; per-element ratios blow up
 * where the reference crosses zero).
 */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= num)) num = Number.isNaN(d) ? Infinity : d;
    den = Math.max(den, Math.abs(b[i]!));
  }
  return den === 0 ? num : num / den;
}

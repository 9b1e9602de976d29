/**
 * WebGPU for Node tests: a GPU object from the `webgpu` package (Dawn), and helpers to
 * compare GPU results with the CPU reference.
 *
 * Without a GPU, Dawn needs a software Vulkan driver: VK_ICD_FILENAMES defaults to the
 * SwiftShader that Debian's chromium package ships (set here, so that every test file runs
 * on the same adapter; the CLI's own fallback is tested in cli-webgpu.test.ts). When no
 * adapter can be had the WebGPU tests are skipped with the reason, or, with CI=true, fail
 * with it (support/skip.ts holds the rule).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createWebGpuBackend, type WebGpuBackend, type WebGpuBackendOptions } from '../../src/engine/backend/webgpu';
import { findNodeGpu, nodeGpu, SWIFTSHADER_ICD } from '../../src/engine/backend/webgpu/node';
import { REPO_ROOT } from './paths';
import { missingPrerequisite } from './skip';

// Must be set before Dawn creates its Vulkan instance.
if (existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES ??= SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= '/tmp';

let gpu: Promise<GPU | null> | null = null;
let unavailable = '';

/** The process-wide GPU object, or null (with `webGpuUnavailable()` saying why). */
export function testGpu(): Promise<GPU | null> {
  gpu ??= (async () => {
    try {
      // findNodeGpu names the cause when there is no adapter (no libvulkan1, no driver…).
      return await findNodeGpu();
    } catch (e) {
      unavailable = e instanceof Error ? e.message : `WebGPU unavailable: ${String(e)}`;
      return null;
    }
  })();
  return gpu;
}

export function webGpuUnavailable(): string {
  return unavailable;
}

/**
 * Resolves to the GPU, or to null after warning and recording why the file's WebGPU tests
 * skip; throws instead with CI=true (a CI machine without an adapter is broken).
 */
export async function gpuOrSkip(suite: string): Promise<GPU | null> {
  const g = await testGpu();
  if (!g) missingPrerequisite(`[${suite}] ${unavailable}`);
  return g;
}

/** Mesa's lavapipe (shader-f16), unpacked by scripts/setup-lavapipe.sh. */
export const LAVAPIPE_ICD = process.env.LAVAPIPE_ICD ?? path.join(REPO_ROOT, '.cache/lavapipe/lvp_icd.json');

let f16: Promise<{ gpu: GPU; adapter: string } | string> | null = null;

/** A GPU whose adapter has shader-f16 (lavapipe), or the reason there is none. */
export function f16Gpu(): Promise<{ gpu: GPU; adapter: string } | string> {
  f16 ??= (async () => {
    if (!existsSync(LAVAPIPE_ICD)) return `no lavapipe ICD at ${LAVAPIPE_ICD} (run scripts/setup-lavapipe.sh)`;
    // The Vulkan loader reads VK_ICD_FILENAMES when Dawn creates its instance, i.e. at create().
    const before = process.env.VK_ICD_FILENAMES;
    process.env.VK_ICD_FILENAMES = LAVAPIPE_ICD;
    try {
      const g = await nodeGpu();
      const adapter = await g.requestAdapter();
      if (!adapter) return `lavapipe gave no WebGPU adapter (${LAVAPIPE_ICD})`;
      if (!adapter.features.has('shader-f16')) return `adapter ${adapter.info.description || adapter.info.device} has no shader-f16`;
      return { gpu: g, adapter: adapter.info.description || adapter.info.device || 'lavapipe' };
    } catch (e) {
      return `lavapipe: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      if (before === undefined) delete process.env.VK_ICD_FILENAMES;
      else process.env.VK_ICD_FILENAMES = before;
    }
  })();
  return f16;
}

/**
 * The shader-f16 GPU, or null after the skip rule: with CI=true a missing one fails when
 * scripts/setup-lavapipe.sh succeeded (its ICD file exists), since CI goes on without it
 * when the download fails.
 */
export async function f16GpuOrSkip(suite: string): Promise<GPU | null> {
  const got = await f16Gpu();
  if (typeof got !== 'string') return got.gpu;
  missingPrerequisite(`[${suite}] no shader-f16 adapter: ${got}`, { requiredInCi: existsSync(LAVAPIPE_ICD) });
  return null;
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

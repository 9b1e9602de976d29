/**
 * Node glue: a `GPU` object from the `webgpu` package (Dawn). Import this only from Node
 * code (tests, CLI, benchmarks); the browser passes `navigator.gpu` instead.
 *
 * On Linux Dawn talks to Vulkan through the system loader `libvulkan.so.1` (Debian's
 * `libvulkan1`), which picks the drivers listed in VK_ICD_FILENAMES, or else the installed
 * ones. A machine without a GPU has no driver that works (Debian 12's own Mesa lavapipe is
 * too old for Dawn), so `findNodeGpu` falls back to the SwiftShader that Debian's chromium
 * package ships, and says what is missing when nothing gives an adapter.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { StudioError } from '../../errors';

/** Chromium's software Vulkan driver (Debian's chromium package). */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** The raw `GPU` from Dawn, for whatever Vulkan drivers the environment names now. */
export async function nodeGpu(options: string[] = []): Promise<GPU> {
  const { create, globals } = await import('webgpu');
  // GPUBufferUsage, GPUMapMode, GPUShaderStage… as globals, as in a browser.
  Object.assign(globalThis, globals);
  // Dawn logs "XDG_RUNTIME_DIR is invalid" without it; any directory will do.
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  return create(options);
}

/** What the machine has, as far as a missing adapter is concerned. */
export interface VulkanProbe {
  platform: NodeJS.Platform;
  /** libvulkan.so.1 is on the library path (null: could not tell). */
  loader: boolean | null;
  /** VK_ICD_FILENAMES as the caller found it (before any fallback). */
  icdFilenames: string | undefined;
  /** Whether each file VK_ICD_FILENAMES names exists. */
  icdFilesExist: boolean;
  swiftShader: boolean;
  /** SwiftShader was tried after the system drivers gave no adapter. */
  triedSwiftShader: boolean;
}

/** Why no WebGPU adapter could be had, with the step that fixes it. */
export function explainNoAdapter(p: VulkanProbe): string {
  const head = 'WebGPU in Node: no adapter';
  if (p.platform === 'linux' && p.loader === false) {
    return `${head}: the Vulkan loader libvulkan.so.1 is not installed (Debian/Ubuntu: apt-get install libvulkan1)`;
  }
  if (p.icdFilenames !== undefined) {
    if (!p.icdFilesExist) return `${head}: VK_ICD_FILENAMES names ${p.icdFilenames}, which does not exist (unset it, or point it at a Vulkan driver's ICD file)`;
    return `${head}: the Vulkan driver in VK_ICD_FILENAMES (${p.icdFilenames}) gave no adapter (it may be too old for Dawn; unset VK_ICD_FILENAMES to try the installed drivers and SwiftShader)`;
  }
  if (p.platform !== 'linux') return `${head}: no GPU driver that Dawn can use was found`;
  if (p.triedSwiftShader) return `${head}: neither the installed Vulkan drivers nor Chromium's SwiftShader (${SWIFTSHADER_ICD}) gave one`;
  return `${head}: no installed Vulkan driver gave one, and Chromium's software driver ${SWIFTSHADER_ICD} is missing (apt-get install chromium, or install your GPU's Vulkan driver)`;
}

/** Whether libvulkan.so.1 can be loaded: LD_LIBRARY_PATH, then the ldconfig cache. */
export function hasVulkanLoader(): boolean | null {
  for (const dir of (process.env.LD_LIBRARY_PATH ?? '').split(':')) if (dir && existsSync(path.join(dir, 'libvulkan.so.1'))) return true;
  for (const ldconfig of ['/sbin/ldconfig', '/usr/sbin/ldconfig', 'ldconfig']) {
    try {
      return /\blibvulkan\.so\.1\b/.test(execFileSync(ldconfig, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
    } catch {
      // not this one (or no ldconfig at all)
    }
  }
  return null;
}

async function adapterOf(gpu: GPU): Promise<boolean> {
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/**
 * A `GPU` that has an adapter: the drivers VK_ICD_FILENAMES names when set; otherwise the
 * installed drivers, then (Linux) SwiftShader, setting VK_ICD_FILENAMES for this process
 * because the Vulkan loader reads it when Dawn creates its instance, i.e. at create().
 * Throws a StudioError('device') naming the cause when nothing gives an adapter.
 */
export async function findNodeGpu(options: string[] = [], onSoftwareFallback?: (icd: string) => void): Promise<GPU> {
  const icdFilenames = process.env.VK_ICD_FILENAMES;
  const first = await nodeGpu(options);
  if (await adapterOf(first)) return first;
  let triedSwiftShader = false;
  const swiftShader = existsSync(SWIFTSHADER_ICD);
  if (icdFilenames === undefined && process.platform === 'linux' && swiftShader) {
    process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    triedSwiftShader = true;
    const second = await nodeGpu(options);
    if (await adapterOf(second)) {
      onSoftwareFallback?.(SWIFTSHADER_ICD);
      return second;
    }
    delete process.env.VK_ICD_FILENAMES;
  }
  const icdFilesExist = icdFilenames !== undefined && icdFilenames.split(':').every((f) => f === '' || existsSync(f));
  const loader = process.platform === 'linux' ? hasVulkanLoader() : null;
  throw new StudioError('device', explainNoAdapter({ platform: process.platform, loader, icdFilenames, icdFilesExist, swiftShader, triedSwiftShader }));
}

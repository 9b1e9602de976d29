/**
 * Adapter and device acquisition. The caller passes the `GPU` object: `navigator.gpu` in a
 * browser or worker, `await nodeGpu()` (./node.ts) in Node. Nothing here imports a Node
 * package, so this file bundles for the browser.
 *
 * The device is requested with the adapter's own maxima for the limits a language model
 * needs (buffer and binding sizes, storage buffers per stage, workgroup storage and
 * invocations); the defaults (128 MiB bindings, 16 KiB workgroup storage) are too small.
 */

/** What the adapter is and can do, for records, the UI and error messages. */
export interface AdapterReport {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: {
    shaderF16: boolean;
    subgroups: boolean;
    timestampQuery: boolean;
  };
  limits: {
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
    maxStorageBuffersPerShaderStage: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupsPerDimension: number;
    minStorageBufferOffsetAlignment: number;
    minUniformBufferOffsetAlignment: number;
  };
}

export interface DeviceRequestOptions {
  powerPreference?: GPUPowerPreference;
  /** Ask for the software/fallback adapter (for testing). */
  forceFallbackAdapter?: boolean;
  label?: string;
}

export interface AcquiredDevice {
  /**
   * The GPU object the device came from. Keep it referenced as long as the device is used:
   * in Node (Dawn) the device's instance is torn down when this object is garbage-collected,
   * which crashes the process.
   */
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
  /** Describes the adapter, with the limits as granted to the device. */
  report: AdapterReport;
}

/** Limits requested at the adapter's maximum. */
export const MAXED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
] as const;

/** Optional features we ask for when the adapter has them. */
const WANTED_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

function limitsOf(l: GPUSupportedLimits): AdapterReport['limits'] {
  return {
    maxBufferSize: l.maxBufferSize,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    minStorageBufferOffsetAlignment: l.minStorageBufferOffsetAlignment,
    minUniformBufferOffsetAlignment: l.minUniformBufferOffsetAlignment,
  };
}

/** Adapter info, features and limits (of the device when given, else the adapter's). */
export function describeAdapter(adapter: GPUAdapter, device?: GPUDevice): AdapterReport {
  const info = adapter.info as Partial<GPUAdapterInfo> | undefined;
  // `isFallbackAdapter` moved from GPUAdapter to GPUAdapterInfo; read both.
  const legacy = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const features = device?.features ?? adapter.features;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    device: info?.device ?? '',
    description: info?.description ?? '',
    isFallbackAdapter: Boolean(info?.isFallbackAdapter ?? legacy ?? false),
    features: {
      shaderF16: features.has('shader-f16'),
      subgroups: features.has('subgroups'),
      timestampQuery: features.has('timestamp-query'),
    },
    limits: limitsOf(device?.limits ?? adapter.limits),
  };
}

/** A one-line adapter description, e.g. "nvidia hopper (NVIDIA H100)" or "google swiftshader (SwiftShader driver 5.0.0) [fallback]". */
export function adapterName(r: AdapterReport): string {
  const head = [r.vendor, r.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  const detail = r.description || r.device;
  return `${head}${detail ? ` (${detail})` : ''}${r.isFallbackAdapter ? ' [fallback]' : ''}`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Known software renderers, by the words their adapters report: Chromium's SwiftShader
 * (vendor google, architecture swiftshader), Mesa's llvmpipe and lavapipe, Microsoft's
 * Basic Render Driver (WARP). A browser may also mark such an adapter isFallbackAdapter.
 */
const SOFTWARE_RENDERERS: [RegExp, string][] = [
  [/swiftshader/i, 'SwiftShader'],
  [/llvmpipe/i, 'llvmpipe'],
  [/lavapipe/i, 'lavapipe'],
  [/softpipe/i, 'softpipe'],
  [/microsoft basic render|\bwarp\b/i, 'WARP (Microsoft Basic Render Driver)'],
];

/**
 * The software renderer behind an adapter ('SwiftShader', 'llvmpipe', …, or 'a fallback
 * adapter' when it is marked isFallbackAdapter but not known by name); null for hardware.
 */
export function softwareRenderer(r: Pick<AdapterReport, 'vendor' | 'architecture' | 'device' | 'description' | 'isFallbackAdapter'>): string | null {
  const words = [r.vendor, r.architecture, r.device, r.description].join(' ');
  for (const [re, name] of SOFTWARE_RENDERERS) {
    // "warp" alone counts only from Microsoft (other vendors use the word for thread groups).
    if (name.startsWith('WARP') && !/microsoft basic render/i.test(words) && !/microsoft/i.test(r.vendor)) continue;
    if (re.test(words)) return name;
  }
  return r.isFallbackAdapter ? 'a fallback adapter' : null;
}

/** Requests an adapter (as acquireDevice does), or throws an Error saying why there is none. */
export async function requestAdapter(gpu: GPU | null | undefined, opts: DeviceRequestOptions = {}): Promise<GPUAdapter> {
  if (!gpu) {
    throw new Error(
      'WebGPU is not available: there is no GPU object (navigator.gpu is undefined). This browser may not support WebGPU, ' +
        'or it is disabled (Chromium on Linux needs --enable-unsafe-webgpu); in Node pass the object from nodeGpu().',
    );
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({
      powerPreference: opts.powerPreference,
      forceFallbackAdapter: opts.forceFallbackAdapter,
    });
  } catch (e) {
    throw new Error(`WebGPU: requestAdapter failed: ${message(e)}`);
  }
  if (!adapter) {
    throw new Error(
      'WebGPU: no adapter available (requestAdapter returned null). The GPU may be blocklisted or have no usable driver; ' +
        'without a GPU on Linux, point VK_ICD_FILENAMES at a software Vulkan driver (e.g. /usr/lib/chromium/vk_swiftshader_icd.json).',
    );
  }
  return adapter;
}

/**
 * Requests an adapter (or uses `given`, one that `gpu` gave and no device was requested
 * from) and a device with maxed limits, or throws an Error saying why not.
 */
export async function acquireDevice(gpu: GPU | null | undefined, opts: DeviceRequestOptions = {}, given?: GPUAdapter): Promise<AcquiredDevice> {
  const adapter = gpu && given ? given : await requestAdapter(gpu, opts);
  const requiredLimits: Record<string, number> = {};
  for (const k of MAXED_LIMITS) requiredLimits[k] = adapter.limits[k];
  const requiredFeatures = WANTED_FEATURES.filter((f) => adapter.features.has(f));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label: opts.label ?? 'studio', requiredLimits, requiredFeatures });
  } catch (e) {
    throw new Error(`WebGPU: requestDevice failed on ${adapterName(describeAdapter(adapter))}: ${message(e)}`);
  }
  // requestAdapter threw if there was no GPU object.
  return { gpu: gpu as GPU, adapter, device, report: describeAdapter(adapter, device) };
}

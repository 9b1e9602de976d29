/** The WebGPU backend (browser-safe: the Node glue lives in ./node.ts). */
export { createWebGpuBackend, WebGpuBackend, type WebGpuBackendOptions, type MatmulChoice, type MatmulKernelName } from './webgpu-backend';
export { acquireDevice, adapterName, describeAdapter, requestAdapter, softwareRenderer, type AdapterReport, type DeviceRequestOptions } from './device';
export type { PoolStats } from './pool';

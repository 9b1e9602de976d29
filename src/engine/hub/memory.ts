/**
 * Memory a model needs in the studio, against what the machine offers, before download.
 *
 * The engine keeps weights as float32 (4 bytes per parameter whatever the stored dtype):
 * once in the worker (host copy, W) and, with WebGPU, once on the GPU. A forward pass over
 * T tokens adds activations: per layer the hidden state, q/k/v, the attention output, the
 * gate/up/SwiGLU channels, and at the end the logits,
 *   A(T) = 4·T·(4·H + q + 2·kv + 3·I + V) bytes   (buffers of one layer live at a time).
 * Pruning keeps the dense weights and builds the pruned copy beside them: up to 2·W on the
 * host and on the GPU while both are evaluated on the same windows.
 *
 * WebGPU does not tell a page how much GPU memory there is; what it does give is
 * maxBufferSize, the largest single buffer, which each weight tensor must fit (the engine
 * splits bindings, not buffers). The host side is compared with navigator.deviceMemory
 * where the browser reports it (rounded down and capped at 8 GiB by Chrome).
 */
import type { ModelConfig } from '../model/config';

export interface MemoryLimits {
  backend: 'cpu' | 'webgpu' | 'wasm';
  /** GPUDevice limits (WebGPU only). */
  maxBufferSize?: number;
  maxStorageBufferBindingSize?: number;
  adapter?: string;
  /** Bytes of RAM the platform reports (navigator.deviceMemory), null when unknown. */
  deviceMemoryBytes?: number | null;
}

export interface MemoryEstimate {
  /** float32 weights, bytes. */
  weights: number;
  /** activations of one forward pass at `seqlen`, bytes. */
  activations: number;
  seqlen: number;
  evaluate: { host: number; gpu: number };
  prune: { host: number; gpu: number };
  largestTensorBytes: number;
}

export interface MemoryCheck {
  verdict: 'ok' | 'warn' | 'refuse';
  /** One sentence each, in order of importance. */
  messages: string[];
}

export function estimateMemory(config: ModelConfig, parameters: number, largestTensorElements: number, seqlen: number): MemoryEstimate {
  const H = config.hiddenSize;
  const q = config.numHeads * config.headDim;
  const kv = config.numKvHeads * config.headDim;
  const W = parameters * 4;
  const A = 4 * seqlen * (4 * H + q + 2 * kv + 3 * config.intermediateSize + config.vocabSize);
  return {
    weights: W,
    activations: A,
    seqlen,
    evaluate: { host: W, gpu: W + A },
    prune: { host: 2 * W, gpu: 2 * W + A },
    largestTensorBytes: largestTensorElements * 4,
  };
}

const GiB = 1024 ** 3;

/**
 * navigator.deviceMemory in bytes (browsers give GiB, rounded down; Chromium caps it at 8),
 * null where it is not reported (Firefox, Safari, Node).
 */
export function reportedDeviceMemoryBytes(): number | null {
  const gib = (globalThis.navigator as { deviceMemory?: number } | undefined)?.deviceMemory;
  return typeof gib === 'number' && gib > 0 ? gib * GiB : null;
}
const fmt = (b: number) => (b >= GiB ? `${(b / GiB).toFixed(2)} GiB` : `${(b / 1024 ** 2).toFixed(1)} MiB`);

/**
 * refuse: a weight tensor exceeds the adapter's maxBufferSize (the load would fail on the
 * first upload). warn: the host copy exceeds half the reported RAM, or a large model on
 * the CPU reference backend (correct but slow). ok otherwise.
 */
export function checkMemory(est: MemoryEstimate, limits: MemoryLimits): MemoryCheck {
  const messages: string[] = [];
  let verdict: MemoryCheck['verdict'] = 'ok';
  if (limits.backend === 'webgpu' && limits.maxBufferSize !== undefined && est.largestTensorBytes > limits.maxBufferSize) {
    verdict = 'refuse';
    messages.push(
      `The largest weight tensor needs ${fmt(est.largestTensorBytes)} as float32, more than this GPU's largest buffer (maxBufferSize ${fmt(limits.maxBufferSize)}); pick a smaller model.`,
    );
  }
  const ram = limits.deviceMemoryBytes ?? null;
  if (ram !== null && est.evaluate.host > ram / 2) {
    if (verdict === 'ok') verdict = 'warn';
    messages.push(`The float32 weights (${fmt(est.evaluate.host)}) are more than half of the ${fmt(ram)} of memory this device reports; the tab may run out of memory.`);
  } else if (ram !== null && est.prune.host > ram / 2) {
    if (verdict === 'ok') verdict = 'warn';
    messages.push(`Pruning holds the dense and the pruned weights (${fmt(est.prune.host)}), more than half of the ${fmt(ram)} this device reports.`);
  }
  // The wasm backend holds weights and activations in one WebAssembly memory of at most 4 GiB.
  if (limits.backend === 'wasm' && est.evaluate.gpu > 4 * GiB) {
    verdict = 'refuse';
    messages.push(`The float32 weights and activations (${fmt(est.evaluate.gpu)}) exceed the 4 GiB a WebAssembly memory can hold; use WebGPU or pick a smaller model.`);
  } else if (limits.backend === 'wasm' && est.prune.gpu > 4 * GiB) {
    if (verdict === 'ok') verdict = 'warn';
    messages.push(`Pruning holds the dense and the pruned weights (${fmt(est.prune.gpu)}), more than the 4 GiB a WebAssembly memory can hold: evaluation works, pruning on this backend will run out of memory.`);
  } else if (limits.backend === 'wasm' && ram !== null && est.evaluate.host <= ram / 2 && est.evaluate.host + est.evaluate.gpu > ram / 2) {
    // That memory is host RAM too, next to the worker's copy of the weights.
    if (verdict === 'ok') verdict = 'warn';
    messages.push(`On the CPU (WebAssembly SIMD) backend the weights are held twice in RAM (the worker's copy and the WebAssembly memory, ${fmt(est.evaluate.host + est.evaluate.gpu)}), more than half of the ${fmt(ram)} this device reports.`);
  }
  if (limits.backend === 'cpu' && est.weights > 400 * 1024 ** 2) {
    if (verdict === 'ok') verdict = 'warn';
    messages.push('On the CPU reference backend a model of this size evaluates very slowly (minutes per window); use WebGPU.');
  }
  if (limits.backend === 'webgpu') {
    messages.push(
      `GPU memory needed: about ${fmt(est.evaluate.gpu)} to evaluate, up to ${fmt(est.prune.gpu)} to prune and compare (seqlen ${est.seqlen}); the browser does not report the GPU's total memory, so this is not checked against it.`,
    );
  }
  return { verdict, messages };
}

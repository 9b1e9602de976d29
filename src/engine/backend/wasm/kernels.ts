/**
 * The compiled kernels (kernels-wasm.ts, built by scripts/build-wasm.mjs from
 * assembly/kernels.ts), instantiated once per backend. The bytes are embedded as base64 so
 * Node, the worker and the tests load them alike, without fetch; instantiation is
 * asynchronous because browsers refuse synchronous compilation of larger modules on a
 * page's main thread. Under a Content-Security-Policy the page needs 'wasm-unsafe-eval'.
 */
import { StudioError } from '../../errors';
import { KERNELS_WASM_BASE64, KERNELS_WASM_BYTES } from './kernels-wasm';

export interface WasmKernels {
  memory: WebAssembly.Memory;
  matmul(x: number, w: number, bias: number, out: number, T: number, K: number, N: number): void;
  matmulPacked(x: number, qweight: number, scales: number, zeros: number, bits: number, blockSize: number, kBlocks: number, blobSize: number, bias: number, out: number, T: number, K: number, N: number, scratch: number): void;
  /** Rows of the weight the packed matmul dequantizes at a time (its scratch holds panelRows(K)·K floats). */
  panelRows(K: number): number;
  swiglu(g: number, u: number, out: number, n: number): void;
  attention(q: number, k: number, v: number, out: number, T: number, offset: number, H: number, KVH: number, d: number, scratch: number): void;
  heapBase(): number;
}

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

let compiled: Promise<WebAssembly.Module> | null = null;

/** Why WebAssembly SIMD cannot be used here, or null when it can. */
export function wasmSimdUnavailable(): string | null {
  if (typeof WebAssembly !== 'object') return 'this environment has no WebAssembly';
  // The smallest module using a v128 value: (func (result v128) v128.const 0).
  const probe = Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11);
  return WebAssembly.validate(probe) ? null : 'this browser does not support WebAssembly SIMD (128-bit)';
}

export async function instantiateKernels(): Promise<WasmKernels> {
  const why = wasmSimdUnavailable();
  if (why) throw new StudioError('device', `wasm backend: ${why}`);
  compiled ??= (async () => {
    const bytes = decodeBase64(KERNELS_WASM_BASE64);
    if (bytes.length !== KERNELS_WASM_BYTES) throw new Error(`wasm backend: embedded kernels are ${bytes.length} bytes, expected ${KERNELS_WASM_BYTES}`);
    return WebAssembly.compile(bytes);
  })();
  let instance: WebAssembly.Instance;
  try {
    instance = await WebAssembly.instantiate(await compiled, {});
  } catch (e) {
    compiled = null;
    // A CSP without 'wasm-unsafe-eval' ends here (CompileError / EvalError).
    throw new StudioError('device', `wasm backend: WebAssembly could not be compiled here (${e instanceof Error ? e.message : String(e)})`);
  }
  return instance.exports as unknown as WasmKernels;
}

/**
 * The fast CPU backend: float32 throughout, its tensors kept in one WebAssembly memory, the
 * heavy ops (matmul x·Wᵀ, the packed-integer matmul, causal attention, SwiGLU with its
 * exponentials) as 128-bit SIMD kernels (assembly/kernels.ts), the light ops (RMSNorm,
 * RoPE, add, embedding, NLL) as JavaScript loops over views of the same memory.
 * Single-threaded, like the onnxruntime-web wasm EP measurement it is held to (1 thread).
 *
 * The kernels sum in f32 where the CPU reference sums in float64; the tests hold every op
 * to 1e-4 relative of the reference (test/wasm-backend.test.ts). Memory growth replaces the
 * memory's ArrayBuffer, so every op allocates its output before it takes any view.
 */
import { capabilityFrom, type AttentionShape, type Backend, type BackendCapabilities, type BackendInfo, type CapabilityName, type QuantizedTensor, type Tensor } from '../backend';
import { CPU_PRUNE_OPS } from '../cpu/prune-ops';
import { rotateHalf } from '../cpu/rotate-half';
import { zeroPoints, type PackedLinear } from '../packed-linear';
import { StudioError } from '../../errors';
import { instantiateKernels, type WasmKernels } from './kernels';
import { WasmHeap } from './wasm-heap';

export const WASM_BACKEND_DEVICE = 'CPU (WebAssembly SIMD, f32, 1 thread)';

export class WasmTensor implements Tensor {
  readonly shape: readonly number[];
  disposed = false;
  constructor(
    readonly owner: WasmBackend,
    readonly ptr: number,
    /** float32 elements */
    readonly length: number,
    shape: readonly number[],
  ) {
    this.shape = [...shape];
  }
}

export class WasmIds implements Tensor {
  readonly shape: readonly number[];
  constructor(readonly ids: Int32Array) {
    this.shape = [ids.length];
  }
}

/** A packed linear in wasm memory: its codes, f32 scales and f32 zero points (unpacked once). */
export class WasmQuantized implements QuantizedTensor {
  readonly quantized = true as const;
  readonly shape: readonly number[];
  disposed = false;
  constructor(
    readonly owner: WasmBackend,
    readonly packed: Omit<PackedLinear, 'qweight' | 'scales' | 'qzeros' | 'fzeros'>,
    readonly qweight: number,
    readonly qweightBytes: number,
    /** scales then zero points, rows·kBlocks f32 each */
    readonly tables: number,
  ) {
    this.shape = [packed.rows, packed.cols];
  }
}

type Block = { ptr: number; bytes: number };

export class WasmBackend implements Backend {
  readonly info: BackendInfo = { name: 'wasm', device: WASM_BACKEND_DEVICE };
  readonly heap: WasmHeap;
  private k: WasmKernels | null;
  /** Frees the block of a tensor that was dropped without dispose (a safety net, not the rule). */
  private readonly finalizer = new FinalizationRegistry<Block>((b) => {
    if (this.k) this.heap.release(b.ptr, b.bytes);
  });

  constructor(kernels: WasmKernels) {
    this.k = kernels;
    this.heap = new WasmHeap(kernels.memory, kernels.heapBase());
  }

  private get kernels(): WasmKernels {
    if (!this.k) throw new Error('wasm backend: used after destroy');
    return this.k;
  }

  private f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.kernels.memory.buffer, ptr, length);
  }

  private view(x: WasmTensor): Float32Array {
    return this.f32(x.ptr, x.length);
  }

  private t(x: Tensor): WasmTensor {
    if (!(x instanceof WasmTensor) || x.owner !== this) throw new Error('wasm backend: tensor from another backend');
    if (x.disposed) throw new Error('wasm backend: tensor used after dispose');
    return x;
  }

  private ids(x: Tensor): WasmIds {
    if (!(x instanceof WasmIds)) throw new Error('wasm backend: ids must come from uploadIds');
    return x;
  }

  /** A new tensor of `length` floats, contents undefined. */
  private alloc(length: number, shape: readonly number[]): WasmTensor {
    const bytes = length * 4;
    const ptr = this.heap.alloc(bytes);
    const out = new WasmTensor(this, ptr, length, shape);
    this.finalizer.register(out, { ptr, bytes }, out);
    return out;
  }

  private rows(x: WasmTensor): [number, number] {
    const cols = x.shape[x.shape.length - 1]!;
    return [cols === 0 ? 0 : x.length / cols, cols];
  }

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`upload: ${data.length} values for shape [${shape.join(', ')}]`);
    const out = this.alloc(data.length, shape);
    this.view(out).set(data);
    return out;
  }

  uploadIds(ids: Int32Array): Tensor {
    return new WasmIds(ids.slice());
  }

  async read(x: Tensor): Promise<Float32Array> {
    return this.view(this.t(x)).slice();
  }

  dispose(x: Tensor): void {
    if (x instanceof WasmTensor && x.owner === this && !x.disposed) {
      x.disposed = true;
      this.finalizer.unregister(x);
      if (this.k) this.heap.release(x.ptr, x.length * 4);
    } else if (x instanceof WasmQuantized && x.owner === this && !x.disposed) {
      x.disposed = true;
      this.finalizer.unregister(x);
      if (this.k) {
        this.heap.release(x.qweight, x.qweightBytes);
        this.heap.release(x.tables, x.packed.rows * x.packed.kBlocks * 8);
      }
    }
  }

  embedding(tableIn: Tensor, idsIn: Tensor): Tensor {
    const table = this.t(tableIn);
    const ids = this.ids(idsIn).ids;
    const [vocab, dim] = [table.shape[0]!, table.shape[1]!];
    for (const id of ids) if (id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary (${vocab})`);
    const out = this.alloc(ids.length * dim, [ids.length, dim]);
    const o = this.view(out);
    const tab = this.view(table);
    ids.forEach((id, i) => o.set(tab.subarray(id * dim, (id + 1) * dim), i * dim));
    return out;
  }

  rmsnorm(xIn: Tensor, weight: Tensor, eps: number): Tensor {
    const xt = this.t(xIn);
    const wt = this.t(weight);
    const [n, d] = this.rows(xt);
    const out = this.alloc(xt.length, xt.shape);
    const x = this.view(xt);
    const w = this.view(wt);
    const o = this.view(out);
    for (let r = 0; r < n; r++) {
      const base = r * d;
      let ss = 0;
      for (let j = 0; j < d; j++) ss += x[base + j]! * x[base + j]!;
      const inv = 1 / Math.sqrt(ss / d + eps);
      for (let j = 0; j < d; j++) o[base + j] = x[base + j]! * inv * w[j]!;
    }
    return out;
  }

  matmul(xIn: Tensor, wIn: Tensor, biasIn?: Tensor | null): Tensor {
    const x = this.t(xIn);
    const w = this.t(wIn);
    const [T, K] = this.rows(x);
    const N = w.shape[0]!;
    if (w.shape.length !== 2 || w.shape[1] !== K) throw new Error(`matmul: x has ${K} columns, weight is [${w.shape.join(', ')}]`);
    const bias = biasIn ? this.t(biasIn) : null;
    if (bias && bias.length !== N) throw new Error(`matmul: bias of ${bias.length} for ${N} outputs`);
    const out = this.alloc(T * N, [T, N]);
    if (T > 0 && N > 0) this.kernels.matmul(x.ptr, w.ptr, bias ? bias.ptr : 0, out.ptr, T, K, N);
    return out;
  }

  uploadQuantized(p: PackedLinear): QuantizedTensor {
    const { qweight, scales, qzeros: _q, fzeros: _f, ...geometry } = p;
    const g = p.rows * p.kBlocks;
    if (scales.length !== g || qweight.length !== g * p.blobSize) throw new StudioError('weights', `quantized weight [${p.rows}, ${p.cols}]: ${qweight.length} code bytes and ${scales.length} scales do not match its ${p.kBlocks} blocks per row`);
    // Two bytes of padding: the generic-width kernel reads a code as a 16-bit word.
    const qBytes = qweight.length + 2;
    const qPtr = this.heap.alloc(qBytes);
    const tPtr = this.heap.alloc(g * 8);
    const mem = this.kernels.memory.buffer;
    new Uint8Array(mem, qPtr, qBytes).set(qweight);
    new Float32Array(mem, tPtr, g).set(scales);
    new Float32Array(mem, tPtr + g * 4, g).set(zeroPoints(p));
    const out = new WasmQuantized(this, geometry, qPtr, qBytes, tPtr);
    this.finalizer.register(out, { ptr: qPtr, bytes: qBytes }, out);
    this.finalizer.register(out, { ptr: tPtr, bytes: g * 8 }, out);
    return out;
  }

  matmulQuantized(xIn: Tensor, wIn: Tensor, biasIn?: Tensor | null): Tensor {
    if (!(wIn instanceof WasmQuantized) || wIn.owner !== this) throw new Error('matmulQuantized: weight was not made by uploadQuantized');
    if (wIn.disposed) throw new Error('wasm backend: tensor used after dispose');
    const x = this.t(xIn);
    const p = wIn.packed;
    const [T, K] = this.rows(x);
    if (K !== p.cols) throw new Error(`matmul: x has ${K} columns, weight is [${p.rows}, ${p.cols}]`);
    const bias = biasIn ? this.t(biasIn) : null;
    if (bias && bias.length !== p.rows) throw new Error(`matmul: bias of ${bias.length} for ${p.rows} outputs`);
    const out = this.alloc(T * p.rows, [T, p.rows]);
    if (T > 0 && p.rows > 0) {
      const k = this.kernels;
      const scratchBytes = Math.min(k.panelRows(K), p.rows) * K * 4;
      const scratch = this.heap.alloc(scratchBytes);
      const g = p.rows * p.kBlocks;
      k.matmulPacked(x.ptr, wIn.qweight, wIn.tables, wIn.tables + g * 4, p.bits, p.blockSize, p.kBlocks, p.blobSize, bias ? bias.ptr : 0, out.ptr, T, K, p.rows, scratch);
      this.heap.release(scratch, scratchBytes);
    }
    return out;
  }

  rope(xIn: Tensor, cosIn: Tensor, sinIn: Tensor, numHeads: number, headDim: number): Tensor {
    const x = this.t(xIn);
    const [n, d] = this.rows(x);
    if (d !== numHeads * headDim) throw new Error(`rope: ${d} columns for ${numHeads} heads of ${headDim}`);
    // The reference's rotation itself (a few flops per value: not worth a kernel).
    const rotated = rotateHalf(this.view(x), this.view(this.t(cosIn)), this.view(this.t(sinIn)), n, numHeads, headDim, 1);
    const out = this.alloc(x.length, x.shape);
    this.view(out).set(rotated);
    return out;
  }

  attention(q: Tensor, k: Tensor, v: Tensor, s: AttentionShape): Tensor {
    return this.attentionCached(q, k, v, s, 0);
  }

  attentionCached(qIn: Tensor, kIn: Tensor, vIn: Tensor, s: AttentionShape, offset: number): Tensor {
    const q = this.t(qIn);
    const k = this.t(kIn);
    const v = this.t(vIn);
    const { numHeads, numKvHeads, headDim } = s;
    const T = q.length / (numHeads * headDim);
    if (!Number.isInteger(T) || numKvHeads < 1 || numHeads % numKvHeads !== 0) throw new Error(`attention: ${q.length} query values for ${numHeads} heads of ${headDim} (${numKvHeads} key/value heads)`);
    if (!Number.isInteger(offset) || offset < 0 || k.length < (offset + T) * numKvHeads * headDim || v.length !== k.length) {
      throw new Error(`attention: key/value cache of ${k.length / (numKvHeads * headDim)} rows cannot hold ${T} queries at offset ${offset}`);
    }
    const out = this.alloc(q.length, [T, numHeads * headDim]);
    if (T > 0) {
      const scratchBytes = (offset + T) * 4;
      const scratch = this.heap.alloc(scratchBytes);
      this.kernels.attention(q.ptr, k.ptr, v.ptr, out.ptr, T, offset, numHeads, numKvHeads, headDim, scratch);
      this.heap.release(scratch, scratchBytes);
    }
    return out;
  }

  writeRows(dstIn: Tensor, srcIn: Tensor, row: number): void {
    const dst = this.t(dstIn);
    const src = this.t(srcIn);
    const [R, C] = this.rows(dst);
    const [n, c] = this.rows(src);
    if (c !== C || !Number.isInteger(row) || row < 0 || row + n > R) throw new Error(`writeRows: [${n}, ${c}] does not fit rows ${row}… of [${R}, ${C}]`);
    this.view(dst).set(this.view(src), row * C);
  }

  swiglu(gateIn: Tensor, upIn: Tensor): Tensor {
    const gt = this.t(gateIn);
    const ut = this.t(upIn);
    if (gt.length !== ut.length) throw new Error('swiglu: shapes differ');
    const out = this.alloc(gt.length, gt.shape);
    this.kernels.swiglu(gt.ptr, ut.ptr, out.ptr, gt.length);
    return out;
  }

  add(aIn: Tensor, bIn: Tensor): Tensor {
    const at = this.t(aIn);
    const bt = this.t(bIn);
    if (at.length !== bt.length) throw new Error('add: shapes differ');
    const out = this.alloc(at.length, at.shape);
    const a = this.view(at);
    const b = this.view(bt);
    const o = this.view(out);
    for (let i = 0; i < o.length; i++) o[i] = a[i]! + b[i]!;
    return out;
  }

  nll(logitsIn: Tensor, targetsIn: Tensor): Tensor {
    const lt = this.t(logitsIn);
    const targets = this.ids(targetsIn).ids;
    const [n, V] = this.rows(lt);
    if (targets.length !== n) throw new Error(`nll: ${n} rows of logits, ${targets.length} targets`);
    for (const id of targets) if (id < 0 || id >= V) throw new RangeError(`target id ${id} is outside the vocabulary (${V})`);
    const out = this.alloc(n, [n]);
    const l = this.view(lt);
    const o = this.view(out);
    for (let r = 0; r < n; r++) {
      const base = r * V;
      let max = -Infinity;
      for (let j = 0; j < V; j++) if (l[base + j]! > max) max = l[base + j]!;
      let sum = 0;
      for (let j = 0; j < V; j++) sum += Math.exp(l[base + j]! - max);
      o[r] = max + Math.log(sum) - l[base + targets[r]!]!;
    }
    return out;
  }

  /** Bytes held by live tensors, the most ever held, and the memory reserved (it never shrinks). */
  memory(): { inUse: number; peak: number; reserved: number } {
    return { inUse: this.heap.inUse, peak: this.heap.peak, reserved: this.heap.reserved };
  }

  /** Pruning's ops: the host reference (../cpu/prune-ops.ts); no kernels of its own for them. */
  capability<K extends CapabilityName>(name: K): BackendCapabilities[K] | null {
    return capabilityFrom({ prune: () => CPU_PRUNE_OPS }, name);
  }

  destroy(): void {
    // The memory goes with the instance once nothing references it.
    this.k = null;
  }
}

export async function createWasmBackend(): Promise<WasmBackend> {
  return new WasmBackend(await instantiateKernels());
}

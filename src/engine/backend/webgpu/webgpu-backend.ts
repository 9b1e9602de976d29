/**
 * The WebGPU backend: the Backend interface on GPU buffers, one WGSL kernel per operation
 * (./kernels). Tensors stay on the GPU between kernels; only `read` copies back.
 *
 * Large weights: a 2-D tensor whose bytes exceed the binding limit (the device's
 * maxStorageBufferBindingSize, or `maxBindingBytes` if smaller) is uploaded as several
 * buffers of consecutive rows. Matmul runs one dispatch per chunk of W (each writes its
 * slice of output columns) and embedding one per chunk of the table (each writes the rows
 * whose ids it holds). Any other kernel given a chunked tensor gathers a contiguous copy
 * first (possible while it fits the device's own limit). Outputs are single buffers and
 * must fit the device's limit; otherwise the kernel throws saying so.
 */
import { attentionRows, capabilityFrom, shapeStr, type AttentionShape, type Backend, type BackendCapabilities, type BackendInfo, type CapabilityName, type QuantizedTensor, type Tensor } from '../backend';
import type { PackedLinear } from '../packed-linear';
import { WebGpuQuantized } from './quantized-tensor';
import { dispatchMatmulNbits } from './kernels/matmul-nbits';
import { acquireDevice, adapterName, type AdapterReport, type DeviceRequestOptions } from './device';
import { GpuRuntime, type PipelineSource } from './runtime';
import type { PoolStats } from './pool';
import { WebGpuTensor, type Chunk, type DType } from './tensor';
import { ADD, dispatchAdd } from './kernels/add';
import { attentionKernel, dispatchAttention, type AttentionVariant } from './kernels/attention';
import { dispatchAttentionCached } from './kernels/attention-cached';
import { CHANNEL_STATS, dispatchChannelStats } from './kernels/channel-stats';
import { dispatchEmbedding, EMBEDDING } from './kernels/embedding';
import { dispatchMatmulWith } from './kernels/matmul-common';
import { MATMUL_BLOCKED_SCALAR, MATMUL_BLOCKED_SCALAR_F16, MATMUL_BLOCKED_VEC4, MATMUL_BLOCKED_VEC4_F16, matmulBlockedGrid } from './kernels/matmul-blocked';
import { MATMUL_SIMPLE, MATMUL_SIMPLE_F16, matmulSimpleGrid } from './kernels/matmul-simple';
import { MATMUL_TILED, MATMUL_TILED_F16, matmulTiledGrid } from './kernels/matmul-tiled';
import { MATMUL_WIDE, matmulWideGrid } from './kernels/matmul-wide';
import { encodeF16, encodeF16Exact, f16ToF32 } from '../../half';
import { dispatchNll } from './kernels/nll';
import { dispatchRmsnorm } from './kernels/rmsnorm';
import { dispatchRope, ROPE } from './kernels/rope';
import { dispatchSwiglu, SWIGLU } from './kernels/swiglu';
import type { AttentionGrads, GradOps, SwigluGrads } from '../grad-ops';
import { WebGpuGrad } from './webgpu-grad';
import { WebGpuPruneOps } from './prune-ops';
import { WebGpuQuantTrainOps } from './quant-train-ops';

/** Which matmul kernel to use: 'auto' picks per shape and adapter (see `matmulKernelFor`). */
export type MatmulChoice = 'auto' | 'tiled' | 'blocked' | 'wide' | 'simple';
export type MatmulKernelName = 'matmul-tiled' | 'matmul-blocked-vec4' | 'matmul-blocked-scalar' | 'matmul-wide' | 'matmul-simple';

/**
 * How weight matrices are stored (`uploadWeight`): 'f32' always; 'f16' every matrix (needs
 * shader-f16; lossy for f32/bf16 sources, values beyond ±65504 are refused); 'auto' (the
 * default) f16 where the device has shader-f16 and the matrix survives the conversion exactly
 * (f16 checkpoints, pruned zeros), so results never change, else f32. Vectors (norms,
 * biases) and matrices whose rows are not a multiple of 4 values stay f32.
 */
export type WeightStoragePolicy = 'auto' | 'f32' | 'f16';

const MATMUL_SOURCES = {
  f32: { 'matmul-tiled': MATMUL_TILED, 'matmul-blocked-vec4': MATMUL_BLOCKED_VEC4, 'matmul-blocked-scalar': MATMUL_BLOCKED_SCALAR, 'matmul-wide': MATMUL_WIDE, 'matmul-simple': MATMUL_SIMPLE },
  f16: { 'matmul-tiled': MATMUL_TILED_F16, 'matmul-blocked-vec4': MATMUL_BLOCKED_VEC4_F16, 'matmul-blocked-scalar': MATMUL_BLOCKED_SCALAR_F16, 'matmul-wide': MATMUL_BLOCKED_VEC4_F16, 'matmul-simple': MATMUL_SIMPLE_F16 },
} as const;

export interface WebGpuBackendOptions extends DeviceRequestOptions {
  /**
   * Largest binding, in bytes, for weights and embedding tables; bigger 2-D tensors are
   * split by rows. Defaults to the device's maxStorageBufferBindingSize; a smaller value
   * forces splitting (tests).
   */
  maxBindingBytes?: number;
  matmul?: MatmulChoice;
  /** Bytes of freed buffers kept for reuse (default 512 MiB). */
  maxPooledBytes?: number;
  /** Kernels queued before a submit (default 128). */
  batchSize?: number;
  /** Storage of weight matrices (default 'auto'). */
  weightStorage?: WeightStoragePolicy;
  /** Attention kernel variant; 'auto' (default): attentionKernel()'s choice ('rows' on SwiftShader and for heads too large for workgroup memory, 'shared' elsewhere). */
  attention?: 'auto' | AttentionVariant;
}

/** Kernels compiled when the backend is created (the rest compile at first use). */
function precompiled(fallback: boolean): PipelineSource[] {
  const matmul = fallback ? MATMUL_BLOCKED_VEC4 : MATMUL_TILED;
  return [EMBEDDING, matmul, MATMUL_BLOCKED_SCALAR, MATMUL_SIMPLE, ROPE, SWIGLU, ADD, CHANNEL_STATS];
}

/**
 * Acquires an adapter and device from `gpu` (navigator.gpu, or nodeGpu() in Node), compiles
 * the kernels and returns the backend (on `adapter` when given: one from `gpu` with no device
 * yet); throws an Error saying why when that is impossible.
 */
export async function createWebGpuBackend(gpu: GPU | null | undefined, opts: WebGpuBackendOptions = {}, adapter?: GPUAdapter): Promise<WebGpuBackend> {
  const acquired = await acquireDevice(gpu, opts, adapter);
  const { device, report } = acquired;
  const rt = new GpuRuntime(device, { batchSize: opts.batchSize, maxPooledBytes: opts.maxPooledBytes }, [acquired.gpu, acquired.adapter]);
  try {
    await rt.compile(precompiled(report.isFallbackAdapter));
  } catch (e) {
    rt.destroy();
    throw e;
  }
  return new WebGpuBackend(rt, report, opts);
}

export class WebGpuBackend implements Backend, GradOps {
  readonly info: BackendInfo;
  readonly adapter: AdapterReport;
  readonly runtime: GpuRuntime;
  /** The device's binding limit (bytes). */
  readonly deviceBindingLimit: number;
  /** Tensors above this many bytes are uploaded in row chunks. */
  readonly splitBytes: number;
  /** Matmul kernel selection; may be changed between calls (tests, benchmarks). */
  matmulChoice: MatmulChoice;
  readonly weightStorage: WeightStoragePolicy;
  /** Attention kernel variant ('auto': see attentionKernelFor); may be changed between calls (tests, benchmarks). */
  attentionVariant: 'auto' | AttentionVariant;
  /** SwiftShader gets kernels of its own (its JIT neither unrolls nor keeps arrays in registers). */
  private readonly swiftShader: boolean;
  /** Bytes of weights uploaded as f16 and as f32 so far (for reports). */
  readonly weightBytes = { f16: 0, f32: 0 };
  private readonly dummy: GPUBuffer;
  /** The training backward ops (./webgpu-grad.ts), on this backend's checks and buffers. */
  private readonly grad: WebGpuGrad;

  constructor(runtime: GpuRuntime, adapter: AdapterReport, opts: WebGpuBackendOptions = {}) {
    this.runtime = runtime;
    this.adapter = adapter;
    // Forced f16 storage rounds weights, so results carry it in their backend description.
    this.info = { name: 'webgpu', device: adapterName(adapter) + (opts.weightStorage === 'f16' ? ' · f16 weights' : '') };
    const lim = runtime.limits;
    this.deviceBindingLimit = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    if (opts.maxBindingBytes !== undefined && !(opts.maxBindingBytes >= 16)) throw new Error(`WebGPU: maxBindingBytes must be at least 16, got ${opts.maxBindingBytes}`);
    this.splitBytes = Math.min(opts.maxBindingBytes ?? Infinity, this.deviceBindingLimit);
    this.matmulChoice = opts.matmul ?? 'auto';
    this.weightStorage = opts.weightStorage ?? 'auto';
    this.swiftShader = /swiftshader/i.test(adapterName(adapter));
    this.attentionVariant = opts.attention ?? 'auto';
    if (this.weightStorage === 'f16' && !adapter.features.shaderF16) {
      throw new Error(`WebGPU: f16 weight storage needs the shader-f16 feature, which ${adapterName(adapter)} does not have`);
    }
    this.dummy = runtime.device.createBuffer({ size: 16, usage: 0x0080, label: 'no bias' }); // STORAGE
    this.grad = new WebGpuGrad({ runtime, swiftShader: this.swiftShader, use: (x, k, f16) => this.use(x, k, f16), alloc: (shape, k) => this.alloc(shape, k), contiguous: (x, k) => this.contiguous(x, k), matmul: (x, w) => this.matmul(x, w), dispose: (t) => this.dispose(t) });
  }

  // ---- memory -------------------------------------------------------------------------

  /** Buffer pool accounting (bytes in use, peak, pooled…). */
  memory(): PoolStats {
    return this.runtime.pool.snapshot();
  }

  /** Frees pooled (unused) buffers. */
  trim(): void {
    this.runtime.pool.trim();
  }

  /** Submits queued work and waits until the GPU has finished it; throws any GPU error. */
  async sync(): Promise<void> {
    this.runtime.check('sync');
    this.runtime.flush();
    await this.runtime.device.queue.onSubmittedWorkDone();
    await this.runtime.settle('sync');
  }

  private acquire(bytes: number, what: string): GPUBuffer {
    return this.runtime.scoped(`${what}: allocating ${bytes} bytes`, () => this.runtime.pool.acquire(bytes, what), ['out-of-memory', 'validation']);
  }

  private alloc(shape: readonly number[], kernel: string, dtype: DType = 'f32'): WebGpuTensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const bytes = n * 4;
    if (bytes > this.deviceBindingLimit) {
      throw new Error(
        `WebGPU ${kernel}: output ${shapeStr(shape)} needs ${bytes} bytes, over the device's largest binding ` +
          `(maxStorageBufferBindingSize ${this.deviceBindingLimit}); process fewer tokens at a time`,
      );
    }
    const buffer = this.acquire(bytes, kernel);
    const rows = shape.length > 1 ? n / shape[shape.length - 1]! : 1;
    return new WebGpuTensor(this, shape, dtype, [{ buffer, rowStart: 0, rows, bytes }]);
  }

  private use(x: Tensor, kernel: string, acceptsF16 = false): WebGpuTensor {
    if (!(x instanceof WebGpuTensor) || x.owner !== this) throw new Error(`WebGPU ${kernel}: tensor from another backend`);
    if (x.disposed) throw new Error(`WebGPU ${kernel}: tensor ${shapeStr(x.shape)} was disposed`);
    if (x.dtype === 'f16' && !acceptsF16) throw new Error(`WebGPU ${kernel}: tensor ${shapeStr(x.shape)} is stored as f16, which ${kernel} does not read`);
    return x;
  }

  /** One buffer holding the whole tensor (a gathered copy if it is chunked; `release` it after encoding). */
  private contiguous(x: WebGpuTensor, kernel: string): { buffer: GPUBuffer; release(): void } {
    if (x.chunks.length === 1) return { buffer: x.chunks[0]!.buffer, release() {} };
    if (x.bytes > this.deviceBindingLimit) {
      throw new Error(`WebGPU ${kernel}: input ${shapeStr(x.shape)} (${x.bytes} bytes) is over the device's largest binding (${this.deviceBindingLimit}) and ${kernel} cannot read it in parts`);
    }
    const buffer = this.acquire(x.bytes, kernel);
    const enc = this.runtime.device.createCommandEncoder({ label: `gather for ${kernel}` });
    let offset = 0;
    for (const c of x.chunks) {
      enc.copyBufferToBuffer(c.buffer, 0, buffer, offset, c.bytes);
      offset += c.bytes;
    }
    this.runtime.enqueue(this.runtime.scoped(`gather for ${kernel}`, () => enc.finish()), `gather for ${kernel}`);
    return { buffer, release: () => this.runtime.pool.release(buffer) };
  }

  private rowsCols(x: WebGpuTensor): [number, number] {
    return [x.rows, x.cols];
  }

  // ---- Backend: data movement ------------------------------------------------------------

  upload(data: Float32Array, shape: readonly number[]): Tensor {
    return this.put(data, shape, 'f32', null);
  }

  uploadIds(ids: Int32Array): Tensor {
    return this.put(ids, [ids.length], 'i32', ids.slice());
  }

  uploadWeight(data: Float32Array, shape: readonly number[]): Tensor {
    const half = this.halfWeight(data, shape);
    const t = half ? this.put(half, shape, 'f16', null) : this.put(data, shape, 'f32', null);
    this.weightBytes[t.dtype === 'f16' ? 'f16' : 'f32'] += t.bytes;
    return t;
  }

  /** The f16 encoding of a weight when the storage policy stores it as f16, else null. */
  private halfWeight(data: Float32Array, shape: readonly number[]): Uint16Array | null {
    const cols = shape[shape.length - 1] ?? 0;
    if (this.weightStorage === 'f32' || !this.adapter.features.shaderF16 || shape.length !== 2 || cols % 4 !== 0 || data.length === 0) return null;
    if (this.weightStorage === 'auto') return encodeF16Exact(data);
    return encodeF16(data, (i) => {
      throw new Error(`WebGPU f16 weights: value ${data[i]} (row ${Math.floor(i / cols)}, column ${i % cols} of a [${shape.join(', ')}] weight) is beyond the f16 range ±65504; use f32 weight storage`);
    });
  }

  private put(data: Float32Array | Int32Array | Uint16Array, shape: readonly number[], dtype: DType, hostIds: Int32Array | null): WebGpuTensor {
    const rt = this.runtime;
    rt.check('upload');
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`WebGPU upload: ${data.length} values for shape ${shapeStr(shape)}`);
    // Buffers freed by queued kernels may be handed out again here; writeBuffer runs ahead
    // of queued (unsubmitted) commands, so submit them first.
    rt.flush();
    const cols = shape.length > 1 ? shape[shape.length - 1]! : Math.max(n, 1);
    const rows = shape.length > 1 ? n / Math.max(cols, 1) : 1;
    const elemBytes = dtype === 'f16' ? 2 : 4;
    const rowBytes = cols * elemBytes;
    const bytes = n * elemBytes;
    let perChunk = rows;
    if (bytes > this.splitBytes && rows > 1) perChunk = Math.max(1, Math.floor(this.splitBytes / rowBytes));
    if (perChunk * rowBytes > this.deviceBindingLimit) {
      throw new Error(
        `WebGPU upload: tensor ${shapeStr(shape)} (${bytes} bytes) cannot be bound: ` +
          (rows > 1 ? `one row of ${rowBytes} bytes` : 'it') +
          ` is over the device's maxStorageBufferBindingSize (${this.deviceBindingLimit})`,
      );
    }
    const chunks: Chunk[] = [];
    for (let r = 0; r < rows || chunks.length === 0; r += perChunk) {
      const nr = Math.min(perChunk, rows - r);
      const cb = nr * rowBytes;
      const buffer = this.acquire(cb, 'upload');
      if (cb > 0) rt.scoped('upload: writeBuffer', () => rt.device.queue.writeBuffer(buffer, 0, data, r * cols, nr * cols));
      chunks.push({ buffer, rowStart: r, rows: nr, bytes: cb });
    }
    return new WebGpuTensor(this, shape, dtype, chunks, hostIds);
  }

  async read(t: Tensor): Promise<Float32Array> {
    const x = this.use(t, 'read', true);
    const rt = this.runtime;
    rt.check('read');
    const size = Math.max(16, Math.ceil(x.bytes / 16) * 16);
    const staging = rt.scoped('read: staging buffer', () => rt.device.createBuffer({ size, usage: 0x0001 | 0x0008, label: 'read staging' }), ['out-of-memory', 'validation']); // MAP_READ | COPY_DST
    try {
      const enc = rt.device.createCommandEncoder({ label: 'read' });
      let offset = 0;
      for (const c of x.chunks) {
        if (c.bytes) enc.copyBufferToBuffer(c.buffer, 0, staging, offset, c.bytes);
        offset += c.bytes;
      }
      rt.enqueue(rt.scoped('read: copy', () => enc.finish()), 'read');
      rt.flush();
      try {
        await staging.mapAsync(0x0001); // GPUMapMode.READ
      } catch (e) {
        rt.check('read');
        await rt.settle('read');
        throw new Error(`WebGPU read: mapping the result failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      await rt.settle('read');
      const bytes = staging.getMappedRange(0, size).slice(0, x.bytes);
      staging.unmap();
      if (x.dtype === 'i32') return Float32Array.from(new Int32Array(bytes));
      if (x.dtype === 'f16') return Float32Array.from(new Uint16Array(bytes), f16ToF32);
      return new Float32Array(bytes);
    } finally {
      staging.destroy();
    }
  }

  dispose(t: Tensor): void {
    if (t instanceof WebGpuQuantized && t.owner === this) {
      if (t.disposed || this.runtime.isDestroyed) return;
      t.disposed = true;
      const { qweight, scales, zeros } = t.buffers;
      for (const b of [qweight, scales, zeros]) if (b) this.runtime.pool.release(b);
      return;
    }
    if (!(t instanceof WebGpuTensor) || t.owner !== this) throw new Error('WebGPU dispose: tensor from another backend');
    if (t.disposed || this.runtime.isDestroyed) return;
    t.disposed = true;
    for (const c of t.chunks) this.runtime.pool.release(c.buffer);
  }

  // ---- Backend: kernels --------------------------------------------------------------------

  embedding(tableIn: Tensor, idsIn: Tensor): Tensor {
    const table = this.use(tableIn, 'embedding', true);
    const ids = this.use(idsIn, 'embedding');
    if (ids.dtype !== 'i32' || !ids.hostIds) throw new Error('WebGPU embedding: ids must come from uploadIds');
    this.runtime.check('embedding');
    const vocab = table.shape[0]!;
    const dim = table.shape[1]!;
    for (const id of ids.hostIds) {
      if (id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary (${vocab})`);
    }
    const T = ids.hostIds.length;
    const out = this.alloc([T, dim], 'embedding');
    const idBuf = ids.chunks[0]!.buffer;
    for (const c of table.chunks) {
      dispatchEmbedding(this.runtime, c.buffer, idBuf, out.chunks[0]!.buffer, { tokens: T, dim, rowStart: c.rowStart, rows: c.rows }, table.dtype === 'f16');
    }
    return out;
  }

  rmsnorm(xIn: Tensor, weight: Tensor, eps: number): Tensor {
    const x = this.use(xIn, 'rmsnorm');
    const w = this.use(weight, 'rmsnorm');
    const [n, d] = this.rowsCols(x);
    if (w.size !== d) throw new Error(`rmsnorm: weight has ${w.size} values for rows of ${d}`);
    const out = this.alloc(x.shape, 'rmsnorm');
    const xb = this.contiguous(x, 'rmsnorm');
    const wb = this.contiguous(w, 'rmsnorm');
    dispatchRmsnorm(this.runtime, xb.buffer, wb.buffer, out.chunks[0]!.buffer, n, d, eps);
    xb.release();
    wb.release();
    return out;
  }

  /** The attention kernel for heads of size d: see attentionKernel. */
  attentionKernelFor(headDim: number): AttentionVariant {
    if (this.attentionVariant !== 'auto') return this.attentionVariant;
    return attentionKernel(this.swiftShader, headDim, this.runtime.limits.maxComputeWorkgroupStorageSize);
  }

  /**
   * 'shared' runs the loop-based kernel of ./kernels/attention-cached.ts: the unrolled
   * generator's 'shared' code with an offset took minutes to compile on lavapipe for heads
   * of 64 (docs/backends.md#attention), the loop-based one compiles in about a second everywhere.
   */
  private dispatchAttentionAt(q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, out: GPUBuffer, s: { T: number; numHeads: number; numKvHeads: number; headDim: number; offset: number }): void {
    const variant = this.attentionKernelFor(s.headDim);
    if (variant === 'shared') dispatchAttentionCached(this.runtime, q, k, v, out, s);
    else dispatchAttention(this.runtime, q, k, v, out, { ...s, variant });
  }

  /** The matmul kernel used for x with `rows` rows and `k` columns. */
  matmulKernelFor(rows: number, k: number): MatmulKernelName {
    const vec = k % 4 === 0;
    switch (this.matmulChoice) {
      case 'simple':
        return 'matmul-simple';
      case 'tiled':
        return vec ? 'matmul-tiled' : 'matmul-blocked-scalar';
      case 'blocked':
        return vec ? 'matmul-blocked-vec4' : 'matmul-blocked-scalar';
      case 'wide':
        return vec ? 'matmul-wide' : 'matmul-blocked-scalar';
      case 'auto':
        if (rows < 4) return 'matmul-simple';
        if (!vec) return 'matmul-blocked-scalar';
        // Workgroup memory and barriers are slow on software adapters (SwiftShader, llvmpipe);
        // SwiftShader also wants the larger register block (see matmul-wide.ts).
        if (this.swiftShader && rows >= 16) return 'matmul-wide';
        return this.adapter.isFallbackAdapter ? 'matmul-blocked-vec4' : 'matmul-tiled';
    }
  }

  matmul(xIn: Tensor, wIn: Tensor, biasIn?: Tensor | null): Tensor {
    const x = this.use(xIn, 'matmul');
    const w = this.use(wIn, 'matmul', true);
    const bias = biasIn ? this.use(biasIn, 'matmul') : null;
    const [n, k] = this.rowsCols(x);
    const m = w.shape[0]!;
    if (w.shape.length !== 2 || w.shape[1] !== k) throw new Error(`matmul: x has ${k} columns, weight is [${w.shape.join(', ')}]`);
    if (bias && bias.size !== m) throw new Error(`matmul: bias has ${bias.size} values for ${m} outputs`);
    const out = this.alloc([n, m], 'matmul');
    const kernel = this.matmulKernelFor(n, k);
    const src = MATMUL_SOURCES[w.dtype === 'f16' ? 'f16' : 'f32'][kernel];
    const xb = this.contiguous(x, 'matmul');
    const bb = bias ? this.contiguous(bias, 'matmul') : null;
    for (const c of w.chunks) {
      const grid =
        kernel === 'matmul-tiled' ? matmulTiledGrid(n, c.rows) : kernel === 'matmul-simple' ? matmulSimpleGrid(n, c.rows) : src.name === 'matmul-wide' ? matmulWideGrid(n, c.rows) : matmulBlockedGrid(n, c.rows);
      dispatchMatmulWith(this.runtime, src, grid, xb.buffer, c.buffer, bb?.buffer ?? null, this.dummy, out.chunks[0]!.buffer, {
        T: n,
        N: c.rows,
        K: k,
        ldy: m,
        colOffset: c.rowStart,
      });
    }
    xb.release();
    bb?.release();
    return out;
  }

  // ---- packed integer linears (quant/pack.ts) -----------------------------------------------

  /** Copies bytes into a pooled buffer padded to whole u32 words (the kernel reads words). */
  private putBytes(bytes: Uint8Array, what: string): GPUBuffer {
    const rt = this.runtime;
    const padded = Math.max(4, Math.ceil(bytes.byteLength / 4) * 4);
    if (padded > this.deviceBindingLimit) throw new Error(`WebGPU ${what}: ${padded} bytes are over the device's largest binding (${this.deviceBindingLimit})`);
    const data = new Uint8Array(padded);
    data.set(bytes);
    const buffer = this.acquire(padded, what);
    rt.scoped(`${what}: writeBuffer`, () => rt.device.queue.writeBuffer(buffer, 0, data));
    return buffer;
  }

  uploadQuantized(p: PackedLinear): QuantizedTensor {
    this.runtime.check('uploadQuantized');
    this.runtime.flush();
    const f32bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const qweight = this.putBytes(p.qweight, 'uploadQuantized');
    const scales = this.putBytes(f32bytes(p.scales), 'uploadQuantized');
    const zeros = p.qzeros ? this.putBytes(p.qzeros, 'uploadQuantized') : p.fzeros ? this.putBytes(f32bytes(p.fzeros), 'uploadQuantized') : null;
    const zeroMode = p.qzeros ? 1 : p.fzeros ? 2 : 0;
    const bytes = p.qweight.byteLength + p.scales.byteLength + (p.qzeros?.byteLength ?? 0) + (p.fzeros?.byteLength ?? 0);
    return new WebGpuQuantized(this, p.bits, p.blockSize, p.kBlocks, p.blobSize, zeroMode, Math.ceil((p.kBlocks * p.bits) / 8), { qweight, scales, zeros }, p.rows, p.cols, bytes);
  }

  matmulQuantized(xIn: Tensor, wIn: Tensor, biasIn?: Tensor | null): Tensor {
    if (!(wIn instanceof WebGpuQuantized) || wIn.owner !== this) throw new Error('WebGPU matmul-nbits: weight was not made by this backend\'s uploadQuantized');
    if (wIn.disposed) throw new Error('WebGPU matmul-nbits: weight was disposed');
    const x = this.use(xIn, 'matmul-nbits');
    const bias = biasIn ? this.use(biasIn, 'matmul-nbits') : null;
    const [n, k] = this.rowsCols(x);
    const [m, K] = wIn.shape as [number, number];
    if (K !== k) throw new Error(`matmul-nbits: x has ${k} columns, weight is [${m}, ${K}]`);
    if (bias && bias.size !== m) throw new Error(`matmul-nbits: bias has ${bias.size} values for ${m} outputs`);
    const out = this.alloc([n, m], 'matmul-nbits');
    const xb = this.contiguous(x, 'matmul-nbits');
    const bb = bias ? this.contiguous(bias, 'matmul-nbits') : null;
    const z = wIn.buffers.zeros ?? this.dummy;
    dispatchMatmulNbits(
      this.runtime,
      { x: xb.buffer, qweight: wIn.buffers.qweight, scales: wIn.buffers.scales, qzeros: wIn.zeroMode === 1 ? z : this.dummy, fzeros: wIn.zeroMode === 2 ? z : this.dummy, bias: bb?.buffer ?? null, dummy: this.dummy, y: out.chunks[0]!.buffer },
      { T: n, N: m, K: k, bits: wIn.bits, blockSize: wIn.blockSize, kBlocks: wIn.kBlocks, blobSize: wIn.blobSize, zeroMode: wIn.zeroMode, zeroRowBytes: wIn.zeroRowBytes },
    );
    xb.release();
    bb?.release();
    return out;
  }

  rope(xIn: Tensor, cosIn: Tensor, sinIn: Tensor, numHeads: number, headDim: number): Tensor {
    const x = this.use(xIn, 'rope');
    const cos = this.use(cosIn, 'rope');
    const sin = this.use(sinIn, 'rope');
    const [n, d] = this.rowsCols(x);
    if (d !== numHeads * headDim) throw new Error(`rope: ${d} columns for ${numHeads} heads of ${headDim}`);
    if (headDim % 2 !== 0) throw new Error(`rope: head size ${headDim} is odd`);
    if (cos.size < n * (headDim / 2) || sin.size < n * (headDim / 2)) throw new Error(`rope: cos/sin tables ${shapeStr(cos.shape)} are too small for ${n} rows of head size ${headDim}`);
    const out = this.alloc(x.shape, 'rope');
    const xb = this.contiguous(x, 'rope');
    const cb = this.contiguous(cos, 'rope');
    const sb = this.contiguous(sin, 'rope');
    dispatchRope(this.runtime, xb.buffer, cb.buffer, sb.buffer, out.chunks[0]!.buffer, n, numHeads, headDim);
    xb.release();
    cb.release();
    sb.release();
    return out;
  }

  attention(qIn: Tensor, kIn: Tensor, vIn: Tensor, s: AttentionShape): Tensor {
    const q = this.use(qIn, 'attention');
    const k = this.use(kIn, 'attention');
    const v = this.use(vIn, 'attention');
    const { numHeads, numKvHeads, headDim } = s;
    const T = attentionRows('attention', q.size, s);
    if (!Number.isInteger(T) || k.size !== T * numKvHeads * headDim || v.size !== k.size) {
      throw new Error(`attention: shapes q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)} do not match ${numHeads}/${numKvHeads} heads of ${headDim}`);
    }
    const out = this.alloc([T, numHeads * headDim], 'attention');
    const qb = this.contiguous(q, 'attention');
    const kb = this.contiguous(k, 'attention');
    const vb = this.contiguous(v, 'attention');
    this.dispatchAttentionAt(qb.buffer, kb.buffer, vb.buffer, out.chunks[0]!.buffer, { T, numHeads, numKvHeads, headDim, offset: 0 });
    qb.release();
    kb.release();
    vb.release();
    return out;
  }

  attentionCached(qIn: Tensor, kIn: Tensor, vIn: Tensor, s: AttentionShape, offset: number): Tensor {
    const q = this.use(qIn, 'attention-cached');
    const k = this.use(kIn, 'attention-cached');
    const v = this.use(vIn, 'attention-cached');
    const { numHeads, numKvHeads, headDim } = s;
    const T = attentionRows('attention', q.size, s);
    const kvd = numKvHeads * headDim;
    if (!Number.isInteger(T) || T === 0 || k.cols !== kvd || v.cols !== kvd || !Number.isInteger(offset) || offset < 0 || k.rows < offset + T || v.rows !== k.rows) {
      throw new Error(`attention-cached: q ${shapeStr(q.shape)} at offset ${offset} does not fit caches k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)} of ${numHeads}/${numKvHeads} heads of ${headDim}`);
    }
    const out = this.alloc([T, numHeads * headDim], 'attention-cached');
    const qb = this.contiguous(q, 'attention-cached');
    const kb = this.contiguous(k, 'attention-cached');
    const vb = this.contiguous(v, 'attention-cached');
    this.dispatchAttentionAt(qb.buffer, kb.buffer, vb.buffer, out.chunks[0]!.buffer, { T, numHeads, numKvHeads, headDim, offset });
    qb.release();
    kb.release();
    vb.release();
    return out;
  }

  /** A buffer copy per destination chunk that the rows overlap (no kernel needed). */
  writeRows(dstIn: Tensor, srcIn: Tensor, row: number): void {
    const dst = this.use(dstIn, 'writeRows');
    const src = this.use(srcIn, 'writeRows');
    const C = dst.cols;
    if (src.cols !== C || !Number.isInteger(row) || row < 0 || row + src.rows > dst.rows) {
      throw new Error(`writeRows: ${shapeStr(src.shape)} does not fit rows ${row}… of ${shapeStr(dst.shape)}`);
    }
    const rt = this.runtime;
    rt.check('writeRows');
    const sb = this.contiguous(src, 'writeRows');
    const enc = rt.device.createCommandEncoder({ label: 'writeRows' });
    const end = row + src.rows;
    for (const c of dst.chunks) {
      const a = Math.max(row, c.rowStart);
      const b = Math.min(end, c.rowStart + c.rows);
      if (b > a) enc.copyBufferToBuffer(sb.buffer, (a - row) * C * 4, c.buffer, (a - c.rowStart) * C * 4, (b - a) * C * 4);
    }
    rt.enqueue(rt.scoped('writeRows: copy', () => enc.finish()), 'writeRows');
    sb.release();
  }

  swiglu(gateIn: Tensor, upIn: Tensor): Tensor {
    const g = this.use(gateIn, 'swiglu');
    const u = this.use(upIn, 'swiglu');
    if (g.size !== u.size) throw new Error('swiglu: shapes differ');
    const out = this.alloc(g.shape, 'swiglu');
    const gb = this.contiguous(g, 'swiglu');
    const ub = this.contiguous(u, 'swiglu');
    dispatchSwiglu(this.runtime, gb.buffer, ub.buffer, out.chunks[0]!.buffer, g.size);
    gb.release();
    ub.release();
    return out;
  }

  add(aIn: Tensor, bIn: Tensor): Tensor {
    const a = this.use(aIn, 'add');
    const b = this.use(bIn, 'add');
    if (a.size !== b.size) throw new Error('add: shapes differ');
    const out = this.alloc(a.shape, 'add');
    const ab = this.contiguous(a, 'add');
    const bb = this.contiguous(b, 'add');
    dispatchAdd(this.runtime, ab.buffer, bb.buffer, out.chunks[0]!.buffer, a.size);
    ab.release();
    bb.release();
    return out;
  }

  nll(logitsIn: Tensor, targetsIn: Tensor): Tensor {
    const l = this.use(logitsIn, 'nll');
    const targets = this.use(targetsIn, 'nll');
    if (targets.dtype !== 'i32' || !targets.hostIds) throw new Error('WebGPU nll: targets must come from uploadIds');
    const [n, V] = this.rowsCols(l);
    if (targets.hostIds.length !== n) throw new Error(`nll: ${n} rows of logits, ${targets.hostIds.length} targets`);
    for (const id of targets.hostIds) {
      if (id < 0 || id >= V) throw new RangeError(`nll: target ${id} is outside the vocabulary (${V})`);
    }
    const out = this.alloc([n], 'nll');
    const lb = this.contiguous(l, 'nll');
    dispatchNll(this.runtime, lb.buffer, targets.chunks[0]!.buffer, out.chunks[0]!.buffer, n, V);
    lb.release();
    return out;
  }

  /**
   * Calibration statistics per input channel of x [T, C] (its `channelStats` capability): a [3, C]
   * tensor of Σx, Σx² and the token count, in f32. With `into`, adds to that tensor in place
   * and returns it (to accumulate over samples without reading back).
   */
  channelStats(xIn: Tensor, into?: Tensor): Tensor {
    const x = this.use(xIn, 'channel-stats');
    const [T, C] = this.rowsCols(x);
    let out: WebGpuTensor;
    if (into) {
      out = this.use(into, 'channel-stats');
      if (out.size !== 3 * C || out.chunked) throw new Error(`channel-stats: accumulator ${shapeStr(out.shape)} does not match ${C} channels`);
    } else {
      out = this.alloc([3, C], 'channel-stats');
    }
    const xb = this.contiguous(x, 'channel-stats');
    dispatchChannelStats(this.runtime, xb.buffer, out.chunks[0]!.buffer, T, C, into !== undefined);
    xb.release();
    return out;
  }

  // ---- GradOps: the training backward (./webgpu-grad.ts) ---------------------------------------

  matmulGradInput(dy: Tensor, w: Tensor): Tensor {
    return this.grad.matmulGradInput(dy, w);
  }
  matmulGradWeight(dy: Tensor, x: Tensor): Tensor {
    return this.grad.matmulGradWeight(dy, x);
  }
  rmsnormGradInput(x: Tensor, weight: Tensor, eps: number, dy: Tensor): Tensor {
    return this.grad.rmsnormGradInput(x, weight, eps, dy);
  }
  ropeGradInput(dy: Tensor, cos: Tensor, sin: Tensor, numHeads: number, headDim: number): Tensor {
    return this.grad.ropeGradInput(dy, cos, sin, numHeads, headDim);
  }
  attentionGrad(q: Tensor, k: Tensor, v: Tensor, dOut: Tensor, s: AttentionShape): AttentionGrads {
    return this.grad.attentionGrad(q, k, v, dOut, s);
  }
  swigluGrad(gate: Tensor, up: Tensor, dy: Tensor): SwigluGrads {
    return this.grad.swigluGrad(gate, up, dy);
  }
  nllGrad(logits: Tensor, targets: Tensor, scale: number): Tensor {
    return this.grad.nllGrad(logits, targets, scale);
  }
  addInPlace(a: Tensor, b: Tensor): void {
    this.grad.addInPlace(a, b);
  }

  private pruneOpsCache: WebGpuPruneOps | null = null;

  /**
   * Its capabilities: the backward kernels (GradOps, the methods above), pruning's scores,
   * selections and column sums (./prune-ops.ts), the statistics kernel (channelStats) and
   * L4Q's parameter-side kernels (./quant-train-ops.ts) — the last only on a hardware
   * adapter: on a software one (SwiftShader, lavapipe) they run on the same CPU cores as the
   * host loop and are no faster (bench/l4q-ops.ts on SwiftShader: stories260K even within
   * the noise, the SmolLM2-135M shape 2.1–2.5× slower per step), so the trainer keeps its
   * host path there.
   */
  capability<K extends CapabilityName>(name: K): BackendCapabilities[K] | null {
    return capabilityFrom(
      {
        grad: () => this,
        prune: () => (this.pruneOpsCache ??= new WebGpuPruneOps(this)),
        channelStats: () => this,
        quantTrain: () => (this.adapter.isFallbackAdapter ? null : new WebGpuQuantTrainOps(this)),
      },
      name,
    );
  }

  destroy(): void {
    if (this.runtime.isDestroyed) return;
    this.dummy.destroy();
    this.runtime.destroy();
  }
}

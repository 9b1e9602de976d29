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
import type { AttentionShape, Backend, BackendInfo, Tensor } from '../backend';
import { acquireDevice, adapterName, type AdapterReport, type DeviceRequestOptions } from './device';
import { GpuRuntime, type PipelineSource } from './runtime';
import type { PoolStats } from './pool';
import { WebGpuTensor, type Chunk, type DType } from './tensor';
import { ADD, dispatchAdd } from './kernels/add';
import { dispatchAttention } from './kernels/attention';
import { CHANNEL_STATS, dispatchChannelStats } from './kernels/channel-stats';
import { dispatchEmbedding, EMBEDDING } from './kernels/embedding';
import { dispatchMatmulWith } from './kernels/matmul-common';
import { MATMUL_BLOCKED_SCALAR, MATMUL_BLOCKED_VEC4, matmulBlockedGrid } from './kernels/matmul-blocked';
import { MATMUL_SIMPLE, matmulSimpleGrid } from './kernels/matmul-simple';
import { MATMUL_TILED, matmulTiledGrid } from './kernels/matmul-tiled';
import { dispatchNll } from './kernels/nll';
import { dispatchRmsnorm } from './kernels/rmsnorm';
import { dispatchRope, ROPE } from './kernels/rope';
import { dispatchSwiglu, SWIGLU } from './kernels/swiglu';

/** Which matmul kernel to use: 'auto' picks per shape and adapter (see `matmulKernelFor`). */
export type MatmulChoice = 'auto' | 'tiled' | 'blocked' | 'simple';
export type MatmulKernelName = 'matmul-tiled' | 'matmul-blocked-vec4' | 'matmul-blocked-scalar' | 'matmul-simple';

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
}

/** Kernels compiled when the backend is created (the rest compile at first use). */
function precompiled(fallback: boolean): PipelineSource[] {
  const matmul = fallback ? MATMUL_BLOCKED_VEC4 : MATMUL_TILED;
  return [EMBEDDING, matmul, MATMUL_BLOCKED_SCALAR, MATMUL_SIMPLE, ROPE, SWIGLU, ADD, CHANNEL_STATS];
}

/**
 * Acquires an adapter and device from `gpu` (navigator.gpu, or nodeGpu() in Node), compiles
 * the kernels and returns the backend; throws an Error saying why when that is impossible.
 */
export async function createWebGpuBackend(gpu: GPU | null | undefined, opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
  const acquired = await acquireDevice(gpu, opts);
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

function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

export class WebGpuBackend implements Backend {
  readonly info: BackendInfo;
  readonly adapter: AdapterReport;
  readonly runtime: GpuRuntime;
  /** The device's binding limit (bytes). */
  readonly deviceBindingLimit: number;
  /** Tensors above this many bytes are uploaded in row chunks. */
  readonly splitBytes: number;
  /** Matmul kernel selection; may be changed between calls (tests, benchmarks). */
  matmulChoice: MatmulChoice;
  private readonly dummy: GPUBuffer;

  constructor(runtime: GpuRuntime, adapter: AdapterReport, opts: WebGpuBackendOptions = {}) {
    this.runtime = runtime;
    this.adapter = adapter;
    this.info = { name: 'webgpu', device: adapterName(adapter) };
    const lim = runtime.limits;
    this.deviceBindingLimit = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    if (opts.maxBindingBytes !== undefined && !(opts.maxBindingBytes >= 16)) throw new Error(`WebGPU: maxBindingBytes must be at least 16, got ${opts.maxBindingBytes}`);
    this.splitBytes = Math.min(opts.maxBindingBytes ?? Infinity, this.deviceBindingLimit);
    this.matmulChoice = opts.matmul ?? 'auto';
    this.dummy = runtime.device.createBuffer({ size: 16, usage: 0x0080, label: 'no bias' }); // STORAGE
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

  private use(x: Tensor, kernel: string): WebGpuTensor {
    if (!(x instanceof WebGpuTensor) || x.owner !== this) throw new Error(`WebGPU ${kernel}: tensor from another backend`);
    if (x.disposed) throw new Error(`WebGPU ${kernel}: tensor ${shapeStr(x.shape)} was disposed`);
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

  private put(data: Float32Array | Int32Array, shape: readonly number[], dtype: DType, hostIds: Int32Array | null): WebGpuTensor {
    const rt = this.runtime;
    rt.check('upload');
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new Error(`WebGPU upload: ${data.length} values for shape ${shapeStr(shape)}`);
    // Buffers freed by queued kernels may be handed out again here; writeBuffer runs ahead
    // of queued (unsubmitted) commands, so submit them first.
    rt.flush();
    const cols = shape.length > 1 ? shape[shape.length - 1]! : Math.max(n, 1);
    const rows = shape.length > 1 ? n / Math.max(cols, 1) : 1;
    const rowBytes = cols * 4;
    const bytes = n * 4;
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
    const x = this.use(t, 'read');
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
      return x.dtype === 'i32' ? Float32Array.from(new Int32Array(bytes)) : new Float32Array(bytes);
    } finally {
      staging.destroy();
    }
  }

  dispose(t: Tensor): void {
    if (!(t instanceof WebGpuTensor) || t.owner !== this) throw new Error('WebGPU dispose: tensor from another backend');
    if (t.disposed || this.runtime.isDestroyed) return;
    t.disposed = true;
    for (const c of t.chunks) this.runtime.pool.release(c.buffer);
  }

  // ---- Backend: kernels --------------------------------------------------------------------

  embedding(tableIn: Tensor, idsIn: Tensor): Tensor {
    const table = this.use(tableIn, 'embedding');
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
      dispatchEmbedding(this.runtime, c.buffer, idBuf, out.chunks[0]!.buffer, { tokens: T, dim, rowStart: c.rowStart, rows: c.rows });
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
      case 'auto':
        if (rows < 4) return 'matmul-simple';
        if (!vec) return 'matmul-blocked-scalar';
        // Workgroup memory and barriers are slow on software adapters (SwiftShader, llvmpipe).
        return this.adapter.isFallbackAdapter ? 'matmul-blocked-vec4' : 'matmul-tiled';
    }
  }

  matmul(xIn: Tensor, wIn: Tensor, biasIn?: Tensor | null): Tensor {
    const x = this.use(xIn, 'matmul');
    const w = this.use(wIn, 'matmul');
    const bias = biasIn ? this.use(biasIn, 'matmul') : null;
    const [n, k] = this.rowsCols(x);
    const m = w.shape[0]!;
    if (w.shape.length !== 2 || w.shape[1] !== k) throw new Error(`matmul: x has ${k} columns, weight is [${w.shape.join(', ')}]`);
    if (bias && bias.size !== m) throw new Error(`matmul: bias has ${bias.size} values for ${m} outputs`);
    const out = this.alloc([n, m], 'matmul');
    const kernel = this.matmulKernelFor(n, k);
    const src = { 'matmul-tiled': MATMUL_TILED, 'matmul-blocked-vec4': MATMUL_BLOCKED_VEC4, 'matmul-blocked-scalar': MATMUL_BLOCKED_SCALAR, 'matmul-simple': MATMUL_SIMPLE }[kernel];
    const xb = this.contiguous(x, 'matmul');
    const bb = bias ? this.contiguous(bias, 'matmul') : null;
    for (const c of w.chunks) {
      const grid = kernel === 'matmul-tiled' ? matmulTiledGrid(n, c.rows) : kernel === 'matmul-simple' ? matmulSimpleGrid(n, c.rows) : matmulBlockedGrid(n, c.rows);
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
    if (numKvHeads <= 0 || numHeads % numKvHeads !== 0) throw new Error(`attention: ${numHeads} query heads cannot be grouped over ${numKvHeads} key/value heads`);
    const T = q.size / (numHeads * headDim);
    if (!Number.isInteger(T) || k.size !== T * numKvHeads * headDim || v.size !== k.size) {
      throw new Error(`attention: shapes q ${shapeStr(q.shape)}, k ${shapeStr(k.shape)}, v ${shapeStr(v.shape)} do not match ${numHeads}/${numKvHeads} heads of ${headDim}`);
    }
    const out = this.alloc([T, numHeads * headDim], 'attention');
    const qb = this.contiguous(q, 'attention');
    const kb = this.contiguous(k, 'attention');
    const vb = this.contiguous(v, 'attention');
    dispatchAttention(this.runtime, qb.buffer, kb.buffer, vb.buffer, out.chunks[0]!.buffer, { T, numHeads, numKvHeads, headDim });
    qb.release();
    kb.release();
    vb.release();
    return out;
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
   * Calibration statistics per input channel of x [T, C] (WebGPU only for now): a [3, C]
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

  destroy(): void {
    if (this.runtime.isDestroyed) return;
    this.dummy.destroy();
    this.runtime.destroy();
  }
}

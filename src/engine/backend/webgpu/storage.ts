/**
 * The WebGPU backend's storage: its tensors' buffers, chunked tensors, upload and download,
 * and the buffer pool (./pool.ts) behind them. One instance per backend; the backend
 * (./webgpu-backend.ts) and its grad (./webgpu-grad.ts), prune (./prune-ops.ts) and
 * quant-train (./quant-train-ops.ts) ops all allocate, check, gather, read and release
 * through it, so pool accounting, chunking and GPU errors behave the same everywhere.
 *
 * Large weights: a 2-D tensor whose bytes exceed the binding limit (the device's
 * maxStorageBufferBindingSize, or `maxBindingBytes` if smaller) is uploaded as several
 * buffers of consecutive rows (`put`). Kernels that cannot read such a tensor in parts
 * gather a contiguous copy first (`contiguous`, possible while it fits the device's own
 * limit). Outputs are single buffers and must fit the device's limit (`alloc`); otherwise
 * the op throws saying so.
 *
 * Tensors made here are owned by this storage (`WebGpuTensor.owner`): `use` refuses those
 * of another backend.
 */
import { shapeStr, type Tensor } from '../backend';
import { StudioError } from '../../errors';
import { f16ToF32 } from '../../half';
import type { PoolStats } from './pool';
import { WebGpuQuantized } from './quantized-tensor';
import type { GpuRuntime } from './runtime';
import { WebGpuTensor, type Chunk, type DType } from './tensor';

/** A buffer holding a whole tensor: its own (release does nothing) or a gathered copy (release returns it to the pool). */
export interface Held {
  buffer: GPUBuffer;
  release(): void;
}

type Buffers<T extends readonly unknown[]> = { [K in keyof T]: GPUBuffer };
type Tensors<T extends readonly unknown[]> = { [K in keyof T]: WebGpuTensor };

/** What the ops built on a backend's storage are given (a WebGpuBackend is one). */
export interface StorageHost {
  readonly storage: WebGpuStorage;
}

export class WebGpuStorage {
  readonly runtime: GpuRuntime;
  /** The device's binding limit (bytes). */
  readonly deviceBindingLimit: number;
  /** Tensors above this many bytes are uploaded in row chunks. */
  readonly splitBytes: number;
  /** A 16-byte buffer bound where a kernel's optional input is absent. */
  readonly dummy: GPUBuffer;

  constructor(runtime: GpuRuntime, maxBindingBytes?: number) {
    this.runtime = runtime;
    const lim = runtime.limits;
    this.deviceBindingLimit = Math.min(lim.maxStorageBufferBindingSize, lim.maxBufferSize);
    if (maxBindingBytes !== undefined && !(maxBindingBytes >= 16)) throw new Error(`WebGPU: maxBindingBytes must be at least 16, got ${maxBindingBytes}`);
    this.splitBytes = Math.min(maxBindingBytes ?? Infinity, this.deviceBindingLimit);
    this.dummy = runtime.device.createBuffer({ size: 16, usage: 0x0080, label: 'no bias' }); // STORAGE
  }

  // ---- the pool -----------------------------------------------------------------------------

  /** Buffer pool accounting (bytes in use, peak, pooled…). */
  memory(): PoolStats {
    return this.runtime.pool.snapshot();
  }

  /** Frees pooled (unused) buffers. */
  trim(): void {
    this.runtime.pool.trim();
  }

  /** A pooled buffer of at least `bytes` bytes; allocation errors are recorded naming `what`. */
  acquire(bytes: number, what: string): GPUBuffer {
    return this.runtime.scoped(`${what}: allocating ${bytes} bytes`, () => this.runtime.pool.acquire(bytes, what), ['out-of-memory', 'validation']);
  }

  /** Returns buffers to the pool (after encoding the commands that use them: queue order keeps those first). */
  release(...bufs: GPUBuffer[]): void {
    for (const b of bufs) this.runtime.pool.release(b);
  }

  // ---- tensors ------------------------------------------------------------------------------

  /** A new tensor in one pooled buffer (throws when it would exceed the device's binding limit); contents undefined until a kernel writes them. */
  alloc(shape: readonly number[], kernel: string, dtype: DType = 'f32'): WebGpuTensor {
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

  /** The tensor as this storage's, or an Error naming the kernel (another backend, disposed, f16 where not read). */
  use(x: Tensor, kernel: string, acceptsF16 = false): WebGpuTensor {
    if (!(x instanceof WebGpuTensor) || x.owner !== this) throw new Error(`WebGPU ${kernel}: tensor from another backend`);
    if (x.disposed) throw new Error(`WebGPU ${kernel}: tensor ${shapeStr(x.shape)} was disposed`);
    if (x.dtype === 'f16' && !acceptsF16) throw new Error(`WebGPU ${kernel}: tensor ${shapeStr(x.shape)} is stored as f16, which ${kernel} does not read`);
    return x;
  }

  /**
   * The single f32 buffer of one of this storage's tensors with `n` values, for kernels that
   * read nothing else (the quantizer's): errors name the op (`what`) and the operand (`name`).
   */
  single(t: Tensor, n: number, what: string, name: string): GPUBuffer {
    if (!(t instanceof WebGpuTensor) || t.owner !== this) throw new Error(`WebGPU ${what}: ${name} is a tensor from another backend`);
    if (t.disposed) throw new Error(`WebGPU ${what}: ${name} [${t.shape.join(', ')}] was disposed`);
    if (t.dtype !== 'f32') throw new Error(`WebGPU ${what}: ${name} is stored as ${t.dtype}; the quantizer kernels read f32`);
    if (t.chunks.length !== 1) throw new Error(`WebGPU ${what}: ${name} [${t.shape.join(', ')}] is split into ${t.chunks.length} buffers; the quantizer kernels need it in one`);
    if (t.size !== n) throw new StudioError('input', `${what}: ${name} has ${t.size} values [${t.shape.join(', ')}], expected ${n}`);
    return t.chunks[0]!.buffer;
  }

  /** One buffer holding the whole tensor (a gathered copy if it is chunked; `release` it after encoding). */
  contiguous(x: WebGpuTensor, kernel: string): Held {
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

  /**
   * The op wrappers' one step: allocates the `outputs` (f32, one buffer each), gathers each
   * input into one buffer, encodes the kernel(s) with `encode` on those buffers, then
   * releases the gathered copies (queue order keeps the kernels' reads first). Inputs must
   * already be checked (`use`); returns the outputs.
   */
  dispatch<const I extends readonly WebGpuTensor[], const O extends readonly (readonly number[])[]>(kernel: string, inputs: I, outputs: O, encode: (ins: Buffers<I>, outs: Buffers<O>) => void): Tensors<O> {
    const outs = outputs.map((shape) => this.alloc(shape, kernel));
    const held = inputs.map((x) => this.contiguous(x, kernel));
    encode(held.map((h) => h.buffer) as unknown as Buffers<I>, outs.map((t) => t.chunks[0]!.buffer) as unknown as Buffers<O>);
    for (const h of held) h.release();
    return outs as unknown as Tensors<O>;
  }

  /** Releases a tensor's buffers (a no-op when already disposed or after the runtime was destroyed). */
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

  // ---- upload -------------------------------------------------------------------------------

  /** Uploads a tensor, in row chunks when it is larger than `splitBytes`. */
  put(data: Float32Array | Int32Array | Uint16Array, shape: readonly number[], dtype: DType, hostIds: Int32Array | null): WebGpuTensor {
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

  /** Copies bytes into a pooled buffer padded to whole u32 words (for kernels that read words). */
  putBytes(bytes: Uint8Array, what: string): GPUBuffer {
    const rt = this.runtime;
    const padded = Math.max(4, Math.ceil(bytes.byteLength / 4) * 4);
    if (padded > this.deviceBindingLimit) throw new Error(`WebGPU ${what}: ${padded} bytes are over the device's largest binding (${this.deviceBindingLimit})`);
    const data = new Uint8Array(padded);
    data.set(bytes);
    const buffer = this.acquire(padded, what);
    rt.scoped(`${what}: writeBuffer`, () => rt.device.queue.writeBuffer(buffer, 0, data));
    return buffer;
  }

  /** A bare pooled buffer holding `data` (scratch for multi-pass ops). Queued work is submitted first: writeBuffer overtakes unsubmitted commands. */
  putBuffer(data: Float32Array | Uint32Array, what: string): GPUBuffer {
    const buf = this.scratch(data.byteLength, what);
    this.runtime.flush();
    if (data.byteLength) this.runtime.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    return buf;
  }

  /** A bare pooled buffer of `bytes` bytes (at least 16, whole words), contents undefined. */
  scratch(bytes: number, what: string): GPUBuffer {
    return this.runtime.pool.acquire(Math.max(16, Math.ceil(bytes / 4) * 4), what);
  }

  /** A bare pooled buffer of `bytes` bytes, cleared to zero by a queued command. */
  zeros(bytes: number, what: string): GPUBuffer {
    const buf = this.scratch(bytes, what);
    const enc = this.runtime.device.createCommandEncoder({ label: `clear for ${what}` });
    enc.clearBuffer(buf);
    this.runtime.enqueue(enc.finish(), `clear for ${what}`);
    return buf;
  }

  // ---- download -----------------------------------------------------------------------------

  /** Copies a tensor back (submitting queued work), as f32 values; throws any GPU error. */
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

  /** The first `n` 32-bit words of a bare buffer (`scratch`, `putBuffer`, `zeros`), read back as u32. */
  async readWords(buf: GPUBuffer, n: number): Promise<Uint32Array> {
    const t = new WebGpuTensor(this, [n], 'f32', [{ buffer: buf, rowStart: 0, rows: 1, bytes: n * 4 }]);
    const f = await this.read(t);
    return new Uint32Array(f.buffer, f.byteOffset, n);
  }

  destroy(): void {
    this.dummy.destroy();
  }
}

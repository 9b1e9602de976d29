/**
 * A pool of storage buffers, reused by size class, with accounting.
 *
 * Size classes: the size is rounded up to a multiple of max(256, 2^(⌊log₂ size⌋ − 3)) bytes,
 * i.e. 256-byte steps up to 2 KiB and eight classes per power of two above, so a buffer
 * over 2 KiB is never more than 12.5% larger than asked for. Released buffers wait in a free list per class (up to
 * `maxPooledBytes` in all; beyond that they are destroyed).
 *
 * Accounting: `bytesInUse` is the sum of the class sizes of buffers handed out and not yet
 * released; `peakBytes` its maximum; `pooledBytes` what waits in the free lists.
 *
 * Reuse is safe without fences because every use goes through the one queue, in order: a
 * buffer released after a kernel was encoded is only written again by a later command.
 * The owner must submit pending command buffers before it destroys a buffer (see `trim`).
 */

export interface PoolStats {
  bytesInUse: number;
  peakBytes: number;
  pooledBytes: number;
  /** Buffers handed out and not released. */
  liveBuffers: number;
  /** createBuffer calls so far. */
  created: number;
  /** Acquisitions served from the free lists. */
  reused: number;
}

export const STORAGE_USAGE = 0x0080 | 0x0004 | 0x0008; // STORAGE | COPY_SRC | COPY_DST

export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const step = 2 ** Math.max(8, Math.floor(Math.log2(bytes)) - 3);
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private readonly out = new Set<GPUBuffer>();
  private stats: PoolStats = { bytesInUse: 0, peakBytes: 0, pooledBytes: 0, liveBuffers: 0, created: 0, reused: 0 };

  constructor(
    private readonly device: GPUDevice,
    private readonly maxBufferSize: number,
    /** Called before buffers are destroyed, so pending commands that use them are submitted first. */
    private readonly beforeDestroy: () => void,
    readonly maxPooledBytes = 512 * 2 ** 20,
  ) {}

  get bytesInUse(): number {
    return this.stats.bytesInUse;
  }
  get peakBytes(): number {
    return this.stats.peakBytes;
  }

  snapshot(): PoolStats {
    return { ...this.stats };
  }

  /** Resets the peak to the current use (e.g. before measuring one forward pass). */
  resetPeak(): void {
    this.stats.peakBytes = this.stats.bytesInUse;
  }

  /** A buffer of at least `bytes` bytes (its `size` is the class size). */
  acquire(bytes: number, label: string): GPUBuffer {
    if (bytes > this.maxBufferSize) {
      throw new Error(`WebGPU ${label}: a buffer of ${bytes} bytes exceeds the device's maxBufferSize (${this.maxBufferSize})`);
    }
    let size = sizeClass(bytes);
    if (size > this.maxBufferSize) size = Math.ceil(bytes / 16) * 16;
    const list = this.free.get(size);
    let buf = list?.pop();
    if (buf) {
      this.stats.pooledBytes -= size;
      this.stats.reused++;
    } else {
      buf = this.device.createBuffer({ size, usage: STORAGE_USAGE, label: `pool ${size}` });
      this.stats.created++;
    }
    this.out.add(buf);
    this.stats.bytesInUse += size;
    this.stats.liveBuffers++;
    if (this.stats.bytesInUse > this.stats.peakBytes) this.stats.peakBytes = this.stats.bytesInUse;
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.out.delete(buf)) throw new Error('WebGPU buffer pool: releasing a buffer that is not in use (double dispose?)');
    const size = buf.size;
    this.stats.bytesInUse -= size;
    this.stats.liveBuffers--;
    if (this.stats.pooledBytes + size > this.maxPooledBytes) {
      this.beforeDestroy();
      buf.destroy();
      return;
    }
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
    this.stats.pooledBytes += size;
  }

  /** Destroys the free buffers (those in use stay). */
  trim(): void {
    if (this.stats.pooledBytes === 0) return;
    this.beforeDestroy();
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
    this.stats.pooledBytes = 0;
  }

  /** Destroys every buffer, in use or not. */
  destroy(): void {
    this.trim();
    for (const b of this.out) b.destroy();
    this.out.clear();
    this.stats.bytesInUse = 0;
    this.stats.liveBuffers = 0;
  }
}

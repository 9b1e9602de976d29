/**
 * A tensor on the GPU: one buffer, or, for a 2-D tensor larger than the binding limit,
 * several buffers holding consecutive blocks of rows ("chunks"). Matmul and embedding read
 * chunked tensors chunk by chunk; other kernels gather a contiguous copy first.
 */
import type { Tensor } from '../backend';

export interface Chunk {
  buffer: GPUBuffer;
  /** First row of the tensor held by this chunk, and how many rows. */
  rowStart: number;
  rows: number;
  /** Bytes of tensor data in this chunk (the buffer may be larger). */
  bytes: number;
}

/** f16 is used only for weights (matmul W and embedding tables) on devices with shader-f16. */
export type DType = 'f32' | 'i32' | 'f16';

export class WebGpuTensor implements Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly chunks: readonly Chunk[];
  /** Host copy of token ids (for range checks), for tensors made by uploadIds. */
  readonly hostIds: Int32Array | null;
  disposed = false;

  constructor(owner: object, shape: readonly number[], dtype: DType, chunks: readonly Chunk[], hostIds: Int32Array | null = null) {
    this.owner = owner;
    this.shape = [...shape];
    this.dtype = dtype;
    this.chunks = chunks;
    this.hostIds = hostIds;
  }

  /** The storage (./storage.ts) of the backend that made it. */
  readonly owner: object;

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get bytes(): number {
    return this.size * (this.dtype === 'f16' ? 2 : 4);
  }

  get cols(): number {
    return this.shape[this.shape.length - 1] ?? 1;
  }

  /** Rows when viewed as [rows, last dim] (as the CPU backend does). */
  get rows(): number {
    return this.cols === 0 ? 0 : this.size / this.cols;
  }

  get chunked(): boolean {
    return this.chunks.length > 1;
  }
}

/**
 * A packed integer linear on the GPU (quant/pack.ts): the code bit stream, the scales and
 * the zero points in their own buffers, each padded to whole u32 words for the kernel.
 */
import type { QuantizedTensor } from '../backend';

export class WebGpuQuantized implements QuantizedTensor {
  readonly quantized = true as const;
  readonly shape: readonly number[];
  disposed = false;
  constructor(
    /** The storage (./storage.ts) of the backend that made it. */
    readonly owner: object,
    readonly bits: number,
    readonly blockSize: number,
    readonly kBlocks: number,
    readonly blobSize: number,
    readonly zeroMode: 0 | 1 | 2,
    readonly zeroRowBytes: number,
    readonly buffers: { qweight: GPUBuffer; scales: GPUBuffer; zeros: GPUBuffer | null },
    rows: number,
    cols: number,
    /** Packed bytes held (codes + scales + zero points, before word padding). */
    readonly bytes: number,
  ) {
    this.shape = [rows, cols];
  }
}

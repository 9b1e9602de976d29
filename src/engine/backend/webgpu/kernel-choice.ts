/**
 * Which kernel the WebGPU backend runs for a shape on an adapter: the matmul kernel (and its
 * f32/f16 source and grid), the attention variant, and the kernels compiled up front. The
 * measurements behind the choices are in docs/backends.md#kernels-per-adapter and
 * docs/benchmarks.md.
 */
import { attentionKernel, type AttentionVariant } from './kernels/attention';
import { ADD } from './kernels/add';
import { CHANNEL_STATS } from './kernels/channel-stats';
import { EMBEDDING } from './kernels/embedding';
import { MATMUL_BLOCKED_SCALAR, MATMUL_BLOCKED_SCALAR_F16, MATMUL_BLOCKED_VEC4, MATMUL_BLOCKED_VEC4_F16, matmulBlockedGrid } from './kernels/matmul-blocked';
import { MATMUL_SIMPLE, MATMUL_SIMPLE_F16, matmulSimpleGrid } from './kernels/matmul-simple';
import { MATMUL_TILED, MATMUL_TILED_F16, matmulTiledGrid } from './kernels/matmul-tiled';
import { MATMUL_WIDE, matmulWideGrid } from './kernels/matmul-wide';
import { ROPE } from './kernels/rope';
import { SWIGLU } from './kernels/swiglu';
import type { Grid, PipelineSource } from './runtime';

/** Which matmul kernel to use: 'auto' picks per shape and adapter (see `KernelChoice.matmulKernel`). */
export type MatmulChoice = 'auto' | 'tiled' | 'blocked' | 'wide' | 'simple';
export type MatmulKernelName = 'matmul-tiled' | 'matmul-blocked-vec4' | 'matmul-blocked-scalar' | 'matmul-wide' | 'matmul-simple';

const MATMUL_SOURCES = {
  f32: { 'matmul-tiled': MATMUL_TILED, 'matmul-blocked-vec4': MATMUL_BLOCKED_VEC4, 'matmul-blocked-scalar': MATMUL_BLOCKED_SCALAR, 'matmul-wide': MATMUL_WIDE, 'matmul-simple': MATMUL_SIMPLE },
  f16: { 'matmul-tiled': MATMUL_TILED_F16, 'matmul-blocked-vec4': MATMUL_BLOCKED_VEC4_F16, 'matmul-blocked-scalar': MATMUL_BLOCKED_SCALAR_F16, 'matmul-wide': MATMUL_BLOCKED_VEC4_F16, 'matmul-simple': MATMUL_SIMPLE_F16 },
} as const;

/** Kernels compiled when the backend is created (the rest compile at first use). */
export function precompiled(fallback: boolean): PipelineSource[] {
  const matmul = fallback ? MATMUL_BLOCKED_VEC4 : MATMUL_TILED;
  return [EMBEDDING, matmul, MATMUL_BLOCKED_SCALAR, MATMUL_SIMPLE, ROPE, SWIGLU, ADD, CHANNEL_STATS];
}

/** SwiftShader gets kernels of its own (its JIT neither unrolls nor keeps arrays in registers). */
export function isSwiftShader(adapterName: string): boolean {
  return /swiftshader/i.test(adapterName);
}

/** The kernel choices of one backend; `matmul` and `attention` may be changed between calls (tests, benchmarks). */
export class KernelChoice {
  matmul: MatmulChoice;
  /** Attention kernel variant; 'auto': attentionKernel()'s choice. */
  attention: 'auto' | AttentionVariant;

  constructor(
    /** The adapter is SwiftShader (kernel shapes chosen by measurement on it). */
    readonly swiftShader: boolean,
    /** The adapter is a software (fallback) one: no workgroup-memory tiles. */
    readonly fallback: boolean,
    /** The device's maxComputeWorkgroupStorageSize. */
    private readonly workgroupStorage: number,
    opts: { matmul?: MatmulChoice; attention?: 'auto' | AttentionVariant } = {},
  ) {
    this.matmul = opts.matmul ?? 'auto';
    this.attention = opts.attention ?? 'auto';
  }

  /** The matmul kernel used for x with `rows` rows and `k` columns. */
  matmulKernel(rows: number, k: number): MatmulKernelName {
    const vec = k % 4 === 0;
    switch (this.matmul) {
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
        return this.fallback ? 'matmul-blocked-vec4' : 'matmul-tiled';
    }
  }

  /** The source of `kernel` for weights stored as `dtype` (f16 has no wide kernel: the vec4 blocked one stands in). */
  matmulSource(kernel: MatmulKernelName, dtype: 'f32' | 'f16'): PipelineSource {
    return MATMUL_SOURCES[dtype][kernel];
  }

  /** The grid of a matmul of `n` rows of x against `rows` rows (outputs) of a weight chunk. */
  matmulGrid(kernel: MatmulKernelName, src: PipelineSource, n: number, rows: number): Grid {
    return kernel === 'matmul-tiled' ? matmulTiledGrid(n, rows) : kernel === 'matmul-simple' ? matmulSimpleGrid(n, rows) : src.name === 'matmul-wide' ? matmulWideGrid(n, rows) : matmulBlockedGrid(n, rows);
  }

  /** The attention kernel for heads of size d: see attentionKernel. */
  attentionKernel(headDim: number): AttentionVariant {
    if (this.attention !== 'auto') return this.attention;
    return attentionKernel(this.swiftShader, headDim, this.workgroupStorage);
  }
}

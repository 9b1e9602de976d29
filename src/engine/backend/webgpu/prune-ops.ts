/**
 * Pruning scores, selections and FLAP's column sums on the GPU (PruneOps, ../prune-ops.ts):
 *
 *   mask:  W → keys (prune-scores) → per segment (row, or the whole matrix) a 4-pass
 *          radix select of the key at the target index (prune-radix-histogram + -pick)
 *          → bit-packed mask (prune-mask-row / prune-mask-threshold), or N:M ranks
 *          within blocks (prune-nm); only the mask (1 bit per weight) is read back.
 *   columnSums: W → f32 terms (prune-scores) → one f32 sum per column in row order
 *          (prune-column-sums).
 *
 * Every result equals the host reference bit for bit: the keys are the IEEE bits of the
 * same correctly rounded f32 products, selections compare integers, sums add the same
 * f32 values in the same order. Where a GPU may not follow IEEE (NaN/Inf, subnormal inputs
 * or results that it may flush to zero) the kernels raise a flag and the host reference
 * recomputes that matrix; so do inputs beyond the device's largest binding and N:M blocks
 * wider than PRUNE_NM_MAX_M. `hostFallbacks` counts those cases.
 */
import { CPU_PRUNE_OPS } from '../cpu/prune-ops';
import type { ColumnTerm, HostMatrix, PruneOps, Selection } from '../prune-ops';
import { dispatchPruneColumnSums } from './kernels/prune-column-sums';
import { dispatchPruneMaskRow } from './kernels/prune-mask-row';
import { dispatchPruneMaskThreshold } from './kernels/prune-mask-threshold';
import { dispatchPruneNm, PRUNE_NM_MAX_M } from './kernels/prune-nm';
import { dispatchPruneRadixHistogram } from './kernels/prune-radix-histogram';
import { dispatchPruneRadixPick } from './kernels/prune-radix-pick';
import { dispatchPruneScores, type PruneScoreMode } from './kernels/prune-scores';
import type { GpuRuntime } from './runtime';
import type { StorageHost, WebGpuStorage } from './storage';

/** What the ops need from the backend (a WebGpuBackend): its storage and adapter. */
export interface PruneOpsHost extends StorageHost {
  readonly adapter: { readonly isFallbackAdapter: boolean };
}

/** A column scale is usable on the GPU when every value is +0 or a positive normal finite float. */
function gpuSafeScale(s: Float32Array): boolean {
  const bits = new Uint32Array(s.buffer, s.byteOffset, s.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    if (b !== 0 && (b < 0x00800000 || b >= 0x7f800000)) return false;
  }
  return true;
}

export class WebGpuPruneOps implements PruneOps {
  readonly device = 'webgpu' as const;
  /** Not by default on software adapters, where the host code is faster (see PruneOps.preferred). */
  readonly preferred: boolean;
  /** Matrices computed by the host reference instead, by reason. */
  readonly hostFallbacks = new Map<string, number>();

  constructor(private readonly host: PruneOpsHost) {
    this.preferred = !host.adapter.isFallbackAdapter;
  }

  private get rt(): GpuRuntime {
    return this.host.storage.runtime;
  }

  private get store(): WebGpuStorage {
    return this.host.storage;
  }

  private fallback(why: string): PruneOps {
    this.hostFallbacks.set(why, (this.hostFallbacks.get(why) ?? 0) + 1);
    return CPU_PRUNE_OPS;
  }

  /** Uploads W and computes its keys; returns the buffers (caller releases) and the flag. */
  private keys(w: HostMatrix, scale: Float32Array | null, mode: PruneScoreMode): { wBuf: GPUBuffer; scaleBuf: GPUBuffer; keys: GPUBuffer; flag: GPUBuffer } {
    const n = w.data.length;
    const cols = w.shape[1]!;
    const wBuf = this.store.putBuffer(w.data, 'prune weights');
    const scaleBuf = scale ? this.store.putBuffer(scale, 'prune scales') : this.store.zeros(16, 'prune scales');
    const keys = this.store.scratch(n * 4, 'prune keys');
    const flag = this.store.zeros(16, 'prune flag');
    dispatchPruneScores(this.rt, wBuf, scaleBuf, keys, flag, n, cols, mode);
    return { wBuf, scaleBuf, keys, flag };
  }

  async mask(w: HostMatrix, scale: Float32Array | null, sel: Selection): Promise<Uint8Array> {
    const [rows, cols] = [w.shape[0]!, w.shape[1]!];
    const n = rows * cols;
    if (scale && scale.length !== cols) throw new Error(`prune scores: ${scale.length} column scales for ${cols} columns`);
    // Cases with no selection to make, as the host rules define them.
    if (n === 0) return new Uint8Array(0);
    if (sel.kind === 'row' && sel.k <= 0) return new Uint8Array(n);
    if (sel.kind === 'row' && sel.k >= cols) return new Uint8Array(n).fill(1);
    if (sel.kind === 'matrix' && !(sel.sparsity > 0)) return new Uint8Array(n);
    if (sel.kind === 'matrix' && Math.floor(n * sel.sparsity) >= n) return new Uint8Array(n).fill(1);
    if (n * 4 > this.store.deviceBindingLimit) return this.fallback('larger than one binding').mask(w, scale, sel);
    if (sel.kind === 'nm' && sel.m > PRUNE_NM_MAX_M) return this.fallback(`N:M with M > ${PRUNE_NM_MAX_M}`).mask(w, scale, sel);
    if (scale && !gpuSafeScale(scale)) return this.fallback('column scale not finite, negative or subnormal').mask(w, scale, sel);

    const rt = this.rt;
    this.rt.check('prune mask');
    const words = Math.ceil(cols / 32);
    const { wBuf, scaleBuf, keys, flag } = this.keys(w, scale, scale ? 'scaled' : 'magnitude');
    const maskBuf = this.store.scratch(rows * words * 4, 'prune mask');
    const held = [wBuf, scaleBuf, keys, flag, maskBuf];
    try {
      if (sel.kind === 'nm') {
        dispatchPruneNm(rt, keys, maskBuf, rows, cols, sel.n, sel.m);
      } else {
        // Segments and the index searched in each (ascending order, ties by position).
        const perRow = sel.kind === 'row';
        const segs = perRow ? rows : 1;
        const len = perRow ? cols : n;
        const target = perRow ? sel.k - 1 : Math.floor(n * sel.sparsity);
        const init = new Uint32Array(2 * segs);
        for (let s = 0; s < segs; s++) init[2 * s + 1] = target;
        const state = this.store.putBuffer(init, 'prune select state');
        const hist = this.store.zeros(segs * 256 * 4, 'prune histogram');
        held.push(state, hist);
        for (const shift of [24, 16, 8, 0]) {
          dispatchPruneRadixHistogram(rt, keys, state, hist, segs, len, shift);
          dispatchPruneRadixPick(rt, state, hist, segs, shift);
        }
        if (perRow) dispatchPruneMaskRow(rt, keys, state, maskBuf, rows, cols);
        else dispatchPruneMaskThreshold(rt, keys, state, maskBuf, rows, cols, rows);
      }
      const [bits, flagged] = await Promise.all([this.store.readWords(maskBuf, rows * words), this.store.readWords(flag, 1)]);
      if (flagged[0]) return this.fallback('NaN, Inf or subnormal scores').mask(w, scale, sel);
      const mask = new Uint8Array(n);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) mask[r * cols + c] = (bits[r * words + (c >>> 5)]! >>> (c & 31)) & 1;
      }
      return mask;
    } finally {
      this.store.release(...held);
    }
  }

  async columnSums(w: HostMatrix, term: ColumnTerm): Promise<Float32Array> {
    const [rows, cols] = [w.shape[0]!, w.shape[1]!];
    const n = rows * cols;
    const scale = term.kind === 'abs-scaled' ? term.scale : null;
    if (scale && scale.length !== cols) throw new Error(`column sums: ${scale.length} column scales for ${cols} columns`);
    if (n === 0) return new Float32Array(cols);
    if (n * 4 > this.store.deviceBindingLimit) return this.fallback('larger than one binding').columnSums(w, term);
    if (scale && !gpuSafeScale(scale)) return this.fallback('column scale not finite, negative or subnormal').columnSums(w, term);

    this.rt.check('prune column sums');
    const { wBuf, scaleBuf, keys, flag } = this.keys(w, scale, scale ? 'scaled' : 'square');
    const out = this.store.scratch(cols * 4, 'prune column sums');
    try {
      dispatchPruneColumnSums(this.rt, keys, out, flag, rows, cols);
      const [sums, flagged] = await Promise.all([this.store.readWords(out, cols), this.store.readWords(flag, 1)]);
      if (flagged[0]) return this.fallback('NaN, Inf or subnormal terms').columnSums(w, term);
      return new Float32Array(sums.buffer, sums.byteOffset, cols).slice();
    } finally {
      this.store.release(wBuf, scaleBuf, keys, flag, out);
    }
  }
}

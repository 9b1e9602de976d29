/**
 * Key/value cache for generation. Every decoder layer that still has attention heads gets
 * two tensors [capacity, kvHeads·headDim] (keys after RoPE, values) on the model's backend;
 * a forward pass over new tokens writes their keys and values at rows length … length+T−1
 * and attends to rows 0 … length+T−1, so each generated token costs one row of work per
 * layer instead of a pass over the whole prefix.
 *
 * Layers keep their own kv head counts (FLAP-pruned models differ per layer); a layer with
 * no heads left has no attention, hence no cache (null).
 */
import type { Backend, Tensor } from '../backend/backend';
import { StudioError } from '../errors';
import type { ModelConfig } from './config';

/** What the cache needs of a model (llama.ts LlamaModel is one). */
export interface KvCacheModel {
  readonly backend: Backend;
  readonly config: ModelConfig;
  readonly weights: { readonly layers: readonly { readonly numHeads: number; readonly numKvHeads: number }[] };
}

export interface LayerKv {
  k: Tensor;
  v: Tensor;
}

export class KvCache {
  readonly capacity: number;
  readonly layers: readonly (LayerKv | null)[];
  /** Positions already in the cache (the next token's position). */
  length = 0;
  private readonly model: KvCacheModel;
  private disposed = false;

  constructor(model: KvCacheModel, capacity = model.config.maxPositionEmbeddings) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new StudioError('input', `KV cache: capacity must be a positive integer, got ${capacity}`);
    this.model = model;
    this.capacity = capacity;
    const b = model.backend;
    const hd = model.config.headDim;
    this.layers = model.weights.layers.map((L) => {
      if (L.numHeads === 0) return null;
      const cols = L.numKvHeads * hd;
      return { k: b.upload(new Float32Array(capacity * cols), [capacity, cols]), v: b.upload(new Float32Array(capacity * cols), [capacity, cols]) };
    });
  }

  /** Throws unless T more positions fit. */
  reserve(T: number): void {
    if (this.disposed) throw new Error('KV cache: used after dispose');
    if (this.length + T > this.capacity) {
      throw new StudioError('input', `KV cache: ${this.length} + ${T} positions exceed its capacity of ${this.capacity} (the model's context length)`);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const l of this.layers) {
      if (!l) continue;
      this.model.backend.dispose(l.k);
      this.model.backend.dispose(l.v);
    }
  }
}

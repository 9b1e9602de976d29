/**
 * The Llama forward pass, written once against the Backend interface.
 *
 *   h = embed(ids)
 *   for each layer:
 *     x = rmsnorm(h) ; q,k,v = x·Wqᵀ(+b), x·Wkᵀ(+b), x·Wvᵀ(+b) ; rope(q), rope(k)
 *     h = h + attention(q,k,v)·Woᵀ (+bo)
 *     x = rmsnorm(h) ; h = h + (silu(x·Wgᵀ) ⊙ x·Wuᵀ)·Wdᵀ (+bd)
 *   logits = rmsnorm(h)·Wlmᵀ
 *
 * Head and channel counts come from each layer's weights, so structurally pruned models
 * (different heads per layer) run through the same code. A layer left with no heads (or no
 * MLP channels) skips that block: it then adds only its output bias, if it has one, which
 * is what the block computes with all its inputs removed. A layer whose query heads read
 * key/value heads through a non-standard map is turned into an equivalent uniformly
 * grouped layer before upload (uniformizeKvGroups), so backends only see uniform groups.
 *
 * The pass is also exposed step by step (embed → layer i → head) for calibration, which
 * runs one layer at a time over many samples (Wanda's sequential mode).
 */
import { isQuantizedTensor, type Backend, type Tensor } from '../backend/backend';
import type { ModelConfig } from './config';
import { ropeTables } from './rope';
import { isStandardKvMap, uniformizeKvGroups, uniformizeLayer } from './expand-gqa';
import { mapLayer, mapWeights, type HostTensor, type LayerWeights, type LinearName, type ModelWeights } from './weights';
import type { KvCache, LayerKv } from './kv-cache';

export interface LinearInputEvent {
  layer: number;
  /** The linears that read this input: ['q','k','v'], ['o'], ['gate','up'] or ['down']. */
  linears: LinearName[];
  /** [tokens, in_features]; valid only during the callback. */
  x: Tensor;
}

export interface ForwardHooks {
  linearInput?(e: LinearInputEvent): void;
}

export interface ForwardOptions {
  hooks?: ForwardHooks;
  /** Position of ids[0] (for RoPE); 0 for a fresh sequence. */
  startPos?: number;
  /**
   * Generation: the ids continue the sequence held in the cache (startPos is the cache's
   * length); their keys/values are added to it and attention reads all cached positions.
   */
  cache?: KvCache;
}

export interface RopeTensors {
  cos: Tensor;
  sin: Tensor;
}

/** Uploads one layer (made uniformly grouped first) to a backend. */
/** Weights go through the backend's weight path (compact storage where it has one). */
function uploadWeight(b: Backend, h: HostTensor): Tensor {
  // A quantized linear goes up as its packed integers (no float copy on the device).
  if (h.packed) return b.uploadQuantized(h.packed);
  return b.uploadWeight ? b.uploadWeight(h.data, h.shape) : b.upload(h.data, h.shape);
}

/** x · wᵀ (+ bias) for a dense or a packed (quantized) weight. */
export function linear(b: Backend, x: Tensor, w: Tensor, bias?: Tensor | null): Tensor {
  return isQuantizedTensor(w) ? b.matmulQuantized(x, w, bias) : b.matmul(x, w, bias);
}

export function uploadLayer(b: Backend, l: LayerWeights<HostTensor>, headDim: number): LayerWeights<Tensor> {
  return mapLayer(uniformizeLayer(l, headDim), (h) => uploadWeight(b, h));
}

export function disposeLayer(b: Backend, l: LayerWeights<Tensor>): void {
  mapLayer(l, (t) => b.dispose(t));
}

/** A [T, H] tensor whose every row is `bias` (the output of a block with no inputs left). */
function biasRows(b: Backend, T: number, bias: Tensor): Tensor {
  const H = bias.shape[0]!;
  const x = b.upload(new Float32Array(T), [T, 1]);
  const w = b.upload(new Float32Array(H), [H, 1]);
  const out = b.matmul(x, w, bias);
  b.dispose(x);
  b.dispose(w);
  return out;
}

/** h + bias on every row (a copy of h when there is no bias). */
function addBiasRows(b: Backend, h: Tensor, bias: Tensor | null): Tensor {
  const rowsT = bias ? biasRows(b, h.shape[0]!, bias) : b.upload(new Float32Array(h.shape[0]! * h.shape[1]!), h.shape);
  const out = b.add(h, rowsT);
  b.dispose(rowsT);
  return out;
}

/**
 * One decoder layer: returns the new hidden state [T, hidden]; `h` is left to the caller.
 * Hooks see the input of every linear layer that exists (a block with no heads or no MLP
 * channels has none).
 */
export function decoderLayer(b: Backend, cfg: ModelConfig, L: LayerWeights<Tensor>, li: number, h: Tensor, rope: RopeTensors, hooks?: ForwardHooks, kv?: { cache: LayerKv; offset: number }): Tensor {
  const hd = cfg.headDim;
  let h1: Tensor;
  if (L.numHeads > 0) {
    if (L.kvHeadMap && !isStandardKvMap(L.kvHeadMap, L.numKvHeads)) {
      throw new Error(`layer ${li}: non-uniform key/value head map; upload the layer with uploadLayer`);
    }
    const x = b.rmsnorm(h, L.inputNorm, cfg.rmsNormEps);
    hooks?.linearInput?.({ layer: li, linears: ['q', 'k', 'v'], x });
    const q0 = linear(b, x, L.q, L.qBias);
    const k0 = linear(b, x, L.k, L.kBias);
    const v = linear(b, x, L.v, L.vBias);
    b.dispose(x);
    const q = b.rope(q0, rope.cos, rope.sin, L.numHeads, hd);
    const k = b.rope(k0, rope.cos, rope.sin, L.numKvHeads, hd);
    b.dispose(q0);
    b.dispose(k0);
    const shape = { numHeads: L.numHeads, numKvHeads: L.numKvHeads, headDim: hd };
    if (kv) {
      b.writeRows(kv.cache.k, k, kv.offset);
      b.writeRows(kv.cache.v, v, kv.offset);
    }
    const att = kv ? b.attentionCached(q, kv.cache.k, kv.cache.v, shape, kv.offset) : b.attention(q, k, v, shape);
    b.dispose(q);
    b.dispose(k);
    b.dispose(v);
    hooks?.linearInput?.({ layer: li, linears: ['o'], x: att });
    const o = linear(b, att, L.o, L.oBias);
    b.dispose(att);
    h1 = b.add(h, o);
    b.dispose(o);
  } else {
    h1 = addBiasRows(b, h, L.oBias);
  }

  let out: Tensor;
  if (L.intermediateSize > 0) {
    const x2 = b.rmsnorm(h1, L.postNorm, cfg.rmsNormEps);
    hooks?.linearInput?.({ layer: li, linears: ['gate', 'up'], x: x2 });
    const g = linear(b, x2, L.gate);
    const u = linear(b, x2, L.up);
    b.dispose(x2);
    const act = b.swiglu(g, u);
    b.dispose(g);
    b.dispose(u);
    hooks?.linearInput?.({ layer: li, linears: ['down'], x: act });
    const d = linear(b, act, L.down, L.downBias);
    b.dispose(act);
    out = b.add(h1, d);
    b.dispose(d);
  } else {
    out = addBiasRows(b, h1, L.downBias);
  }
  b.dispose(h1);
  return out;
}

/** A model whose weights live on one backend. */
export class LlamaModel {
  readonly config: ModelConfig;
  readonly backend: Backend;
  readonly weights: ModelWeights<Tensor>;

  constructor(config: ModelConfig, backend: Backend, host: ModelWeights<HostTensor>) {
    this.config = config;
    this.backend = backend;
    this.weights = mapWeights(uniformizeKvGroups(host, config.headDim), (h) => uploadWeight(backend, h));
  }

  /** RoPE tables for T positions from startPos; free them with disposeRope. */
  rope(T: number, startPos = 0): RopeTensors {
    const tables = ropeTables(this.config, startPos, T);
    const half = this.config.headDim / 2;
    return { cos: this.backend.upload(tables.cos, [T, half]), sin: this.backend.upload(tables.sin, [T, half]) };
  }

  disposeRope(r: RopeTensors): void {
    this.backend.dispose(r.cos);
    this.backend.dispose(r.sin);
  }

  /** Hidden state [T, hidden] after the embedding. */
  embed(ids: Int32Array): Tensor {
    const idsT = this.backend.uploadIds(ids);
    const h = this.backend.embedding(this.weights.embed, idsT);
    this.backend.dispose(idsT);
    return h;
  }

  /** Layer li applied to h (h is kept; the caller disposes it). */
  layer(li: number, h: Tensor, rope: RopeTensors, hooks?: ForwardHooks, kv?: { cache: LayerKv; offset: number }): Tensor {
    return decoderLayer(this.backend, this.config, this.weights.layers[li]!, li, h, rope, hooks, kv);
  }

  /** Logits [T, vocab] from the last hidden state (h is kept). */
  head(h: Tensor): Tensor {
    const b = this.backend;
    const hn = b.rmsnorm(h, this.weights.norm, this.config.rmsNormEps);
    const logits = b.matmul(hn, this.weights.lmHead);
    b.dispose(hn);
    return logits;
  }

  /** Logits [tokens, vocab] for a token sequence. The caller disposes the result. */
  forward(ids: Int32Array, opts: ForwardOptions = {}): Tensor {
    const b = this.backend;
    const cache = opts.cache;
    cache?.reserve(ids.length);
    const rope = this.rope(ids.length, cache ? cache.length : (opts.startPos ?? 0));
    let h = this.embed(ids);
    for (let li = 0; li < this.weights.layers.length; li++) {
      const lc = cache?.layers[li];
      const next = this.layer(li, h, rope, opts.hooks, lc ? { cache: lc, offset: cache!.length } : undefined);
      b.dispose(h);
      h = next;
    }
    this.disposeRope(rope);
    if (cache) cache.length += ids.length;
    const logits = this.head(h);
    b.dispose(h);
    return logits;
  }

  /** Frees every weight tensor. */
  dispose(): void {
    const seen = new Set<Tensor>();
    mapWeights(this.weights, (t) => {
      if (!seen.has(t)) {
        seen.add(t);
        this.backend.dispose(t);
      }
      return t;
    });
  }
}

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
 * (different heads per layer) run through the same code.
 */
import type { Backend, Tensor } from '../backend/backend';
import type { ModelConfig } from './config';
import { ropeTables } from './rope';
import { mapWeights, type HostTensor, type LinearName, type ModelWeights } from './weights';

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
}

/** A model whose weights live on one backend. */
export class LlamaModel {
  readonly config: ModelConfig;
  readonly backend: Backend;
  readonly weights: ModelWeights<Tensor>;

  constructor(config: ModelConfig, backend: Backend, host: ModelWeights<HostTensor>) {
    this.config = config;
    this.backend = backend;
    this.weights = mapWeights(host, (h) => backend.upload(h.data, h.shape));
  }

  /** Logits [tokens, vocab] for a token sequence. The caller disposes the result. */
  forward(ids: Int32Array, opts: ForwardOptions = {}): Tensor {
    const b = this.backend;
    const cfg = this.config;
    const w = this.weights;
    const hd = cfg.headDim;
    const hooks = opts.hooks;
    const T = ids.length;
    const idsT = b.uploadIds(ids);
    const tables = ropeTables(cfg, opts.startPos ?? 0, T);
    const cos = b.upload(tables.cos, [T, hd / 2]);
    const sin = b.upload(tables.sin, [T, hd / 2]);
    let h = b.embedding(w.embed, idsT);
    b.dispose(idsT);

    w.layers.forEach((L, li) => {
      const x = b.rmsnorm(h, L.inputNorm, cfg.rmsNormEps);
      hooks?.linearInput?.({ layer: li, linears: ['q', 'k', 'v'], x });
      const q0 = b.matmul(x, L.q, L.qBias);
      const k0 = b.matmul(x, L.k, L.kBias);
      const v = b.matmul(x, L.v, L.vBias);
      b.dispose(x);
      const q = b.rope(q0, cos, sin, L.numHeads, hd);
      const k = b.rope(k0, cos, sin, L.numKvHeads, hd);
      b.dispose(q0);
      b.dispose(k0);
      const att = b.attention(q, k, v, { numHeads: L.numHeads, numKvHeads: L.numKvHeads, headDim: hd });
      b.dispose(q);
      b.dispose(k);
      b.dispose(v);
      hooks?.linearInput?.({ layer: li, linears: ['o'], x: att });
      const o = b.matmul(att, L.o, L.oBias);
      b.dispose(att);
      const h1 = b.add(h, o);
      b.dispose(h);
      b.dispose(o);

      const x2 = b.rmsnorm(h1, L.postNorm, cfg.rmsNormEps);
      hooks?.linearInput?.({ layer: li, linears: ['gate', 'up'], x: x2 });
      const g = b.matmul(x2, L.gate);
      const u = b.matmul(x2, L.up);
      b.dispose(x2);
      const act = b.swiglu(g, u);
      b.dispose(g);
      b.dispose(u);
      hooks?.linearInput?.({ layer: li, linears: ['down'], x: act });
      const d = b.matmul(act, L.down, L.downBias);
      b.dispose(act);
      h = b.add(h1, d);
      b.dispose(h1);
      b.dispose(d);
    });

    b.dispose(cos);
    b.dispose(sin);
    const hn = b.rmsnorm(h, w.norm, cfg.rmsNormEps);
    b.dispose(h);
    const logits = b.matmul(hn, w.lmHead);
    b.dispose(hn);
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

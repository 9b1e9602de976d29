/**
 * The Llama forward pass with saved activations, and its backward, for training: the same
 * ops in the same order as model/llama.ts's decoderLayer (so the loss is the model's own
 * next-token NLL), written against Backend + GradOps.
 *
 * Trainable tensors are outside this module: it takes, per decoder linear, the *effective*
 * weight Ŵ the forward uses (W0 + LoRA, fake-quantized after warm-up) and returns the dense
 * weight gradient Γ = ∂L/∂Ŵ = dYᵀ·X of each linear, accumulated over the sequences of a batch.
 * The chain from Γ to LoRA A, B and the quantizer's s, b is in l4q.ts / lora.ts. Embeddings,
 * norms and biases are frozen: gradients flow through them, none is formed for them.
 *
 * Backward of one layer (residual adds copy the gradient to both branches):
 *   dd = dOut;  Γdown = ddᵀ·act;  dact = dd·Ŵdown;  (dg, du) = swiglu'(g, u, dact)
 *   Γgate = dgᵀ·x2;  Γup = duᵀ·x2;  dx2 = dg·Ŵgate + du·Ŵup
 *   dh1 = dOut + rmsnorm'(h1, dx2);  Γo = dh1ᵀ·att;  datt = dh1·Ŵo
 *   (dq, dk, dv) = attention'(…);  dq0 = rope'(dq);  dk0 = rope'(dk)
 *   Γq = dq0ᵀ·x1 …;  dx1 = dq0·Ŵq + dk0·Ŵk + dv·Ŵv;  dIn = dh1 + rmsnorm'(hIn, dx1)
 */
import type { Backend, Tensor } from '../backend/backend';
import type { TrainingBackend } from '../backend/training';
import { StudioError } from '../errors';
import type { ModelConfig } from '../model/config';
import { isStandardKvMap } from '../model/expand-gqa';
import type { RopeTensors } from '../model/llama';
import { ropeTables } from '../model/rope';
import { LINEAR_NAMES, type LayerWeights, type LinearName } from '../model/weights';

/** Uploaded frozen weights plus the current effective linear weights (replaced every step). */
export interface TrainWeights {
  embed: Tensor;
  norm: Tensor;
  lmHead: Tensor;
  layers: LayerWeights<Tensor>[];
}

export function checkTrainable(cfg: ModelConfig, layers: readonly LayerWeights<unknown>[]): void {
  layers.forEach((l, i) => {
    if (l.kvHeadMap && !isStandardKvMap(l.kvHeadMap, l.numKvHeads)) {
      throw new StudioError('input', `layer ${i}: quantization-aware training does not support a non-uniform key/value head map (a FLAP model with single query heads removed); prune with --gqa groups`);
    }
  });
  if (cfg.headDim % 2 !== 0) throw new StudioError('input', `head_dim ${cfg.headDim} is odd; RoPE needs an even head size`);
}

interface SavedLayer {
  hIn: Tensor;
  x1: Tensor | null;
  q: Tensor | null;
  k: Tensor | null;
  v: Tensor | null;
  att: Tensor | null;
  h1: Tensor;
  x2: Tensor | null;
  g: Tensor | null;
  u: Tensor | null;
  act: Tensor | null;
}

/** h + bias on every row (a copy of h without bias), as llama.ts does for emptied blocks. */
function addBiasRows(b: Backend, h: Tensor, bias: Tensor | null): Tensor {
  const T = h.shape[0]!;
  const H = h.shape[1]!;
  const ones = b.upload(new Float32Array(T).fill(bias ? 1 : 0), [T, 1]);
  const col = bias ? b.upload(new Float32Array(H), [H, 1]) : b.upload(new Float32Array(H), [H, 1]);
  const rowsT = b.matmul(ones, col, bias);
  const out = b.add(h, rowsT);
  for (const x of [ones, col, rowsT]) b.dispose(x);
  return out;
}

export interface LossAndGrads {
  /** Σ over predictions of the NLL (nats). */
  nllSum: number;
  predictions: number;
  /** Bytes of the activations kept for the backward pass of one sequence. */
  activationBytes: number;
}

function bytes(ts: (Tensor | null)[]): number {
  let n = 0;
  for (const t of ts) if (t) n += 4 * t.shape.reduce((a, x) => a * x, 1);
  return n;
}

/**
 * Forward and backward of one sequence: predictions ids[1…] from ids[…−1]. The loss is
 * lossScale·Σ nll (lossScale = 1/total predictions of the batch gives the batch mean).
 * Γ of layer l's linear n is added into gammas[l][n] (tensors of the weight's shape, or
 * null for a linear whose block is empty).
 */
export async function sequenceLossAndGrads(b: TrainingBackend, cfg: ModelConfig, W: TrainWeights, ids: Int32Array, lossScale: number, gammas: (Partial<Record<LinearName, Tensor>>)[]): Promise<LossAndGrads> {
  const T = ids.length - 1;
  if (T < 1) throw new StudioError('input', 'a training sequence needs at least 2 tokens');
  const hd = cfg.headDim;
  const tables = ropeTables(cfg, 0, T);
  const rope: RopeTensors = { cos: b.upload(tables.cos, [T, hd / 2]), sin: b.upload(tables.sin, [T, hd / 2]) };
  const inIds = b.uploadIds(ids.subarray(0, T));
  const targets = b.uploadIds(ids.subarray(1));
  const eps = cfg.rmsNormEps;
  const saved: SavedLayer[] = [];
  let h = b.embedding(W.embed, inIds);
  b.dispose(inIds);
  let act = 0;

  for (const L of W.layers) {
    const s: SavedLayer = { hIn: h, x1: null, q: null, k: null, v: null, att: null, h1: h, x2: null, g: null, u: null, act: null };
    if (L.numHeads > 0) {
      s.x1 = b.rmsnorm(h, L.inputNorm, eps);
      const q0 = b.matmul(s.x1, L.q, L.qBias);
      const k0 = b.matmul(s.x1, L.k, L.kBias);
      s.v = b.matmul(s.x1, L.v, L.vBias);
      s.q = b.rope(q0, rope.cos, rope.sin, L.numHeads, hd);
      s.k = b.rope(k0, rope.cos, rope.sin, L.numKvHeads, hd);
      b.dispose(q0);
      b.dispose(k0);
      s.att = b.attention(s.q, s.k, s.v, { numHeads: L.numHeads, numKvHeads: L.numKvHeads, headDim: hd });
      const o = b.matmul(s.att, L.o, L.oBias);
      s.h1 = b.add(h, o);
      b.dispose(o);
    } else {
      s.h1 = addBiasRows(b, h, L.oBias);
    }
    let out: Tensor;
    if (L.intermediateSize > 0) {
      s.x2 = b.rmsnorm(s.h1, L.postNorm, eps);
      s.g = b.matmul(s.x2, L.gate);
      s.u = b.matmul(s.x2, L.up);
      s.act = b.swiglu(s.g, s.u);
      const d = b.matmul(s.act, L.down, L.downBias);
      out = b.add(s.h1, d);
      b.dispose(d);
    } else {
      out = addBiasRows(b, s.h1, L.downBias);
    }
    saved.push(s);
    act += bytes([s.hIn, s.x1, s.q, s.k, s.v, s.att, s.h1 === s.hIn ? null : s.h1, s.x2, s.g, s.u, s.act]);
    h = out;
  }
  const hn = b.rmsnorm(h, W.norm, eps);
  const logits = b.matmul(hn, W.lmHead);
  act += bytes([h, hn, logits]);
  const nllT = b.nll(logits, targets);
  const nll = await b.read(nllT);
  b.dispose(nllT);
  let nllSum = 0;
  for (const x of nll) nllSum += x;
  if (!Number.isFinite(nllSum)) {
    throw new StudioError('input', 'training diverged: the loss is not finite (NaN or Inf); lower the learning rates');
  }

  // Backward.
  const dLogits = b.nllGrad(logits, targets, lossScale);
  b.dispose(logits);
  b.dispose(targets);
  const dhn = b.matmulGradInput(dLogits, W.lmHead);
  b.dispose(dLogits);
  b.dispose(hn);
  let dh = b.rmsnormGradInput(h, W.norm, eps, dhn);
  b.dispose(dhn);
  b.dispose(h);

  const accumulate = (li: number, name: LinearName, dy: Tensor, x: Tensor) => {
    const g = b.matmulGradWeight(dy, x);
    const acc = gammas[li]![name];
    if (acc) {
      b.addInPlace(acc, g);
      b.dispose(g);
    } else {
      gammas[li]![name] = g;
    }
  };

  for (let li = W.layers.length - 1; li >= 0; li--) {
    const L = W.layers[li]!;
    const s = saved[li]!;
    // dh is the gradient at the layer output; it flows unchanged to h1 through the residual.
    const dh1 = dh;
    if (L.intermediateSize > 0) {
      accumulate(li, 'down', dh, s.act!);
      const dAct = b.matmulGradInput(dh, L.down);
      const { dGate, dUp } = b.swigluGrad(s.g!, s.u!, dAct);
      b.dispose(dAct);
      accumulate(li, 'gate', dGate, s.x2!);
      accumulate(li, 'up', dUp, s.x2!);
      const dx2 = b.matmulGradInput(dGate, L.gate);
      const dx2u = b.matmulGradInput(dUp, L.up);
      b.addInPlace(dx2, dx2u);
      for (const x of [dGate, dUp, dx2u]) b.dispose(x);
      const dn = b.rmsnormGradInput(s.h1, L.postNorm, eps, dx2);
      b.dispose(dx2);
      b.addInPlace(dh1, dn);
      b.dispose(dn);
      for (const x of [s.x2, s.g, s.u, s.act]) b.dispose(x!);
    }
    if (s.h1 !== s.hIn) b.dispose(s.h1);
    if (L.numHeads > 0) {
      accumulate(li, 'o', dh1, s.att!);
      const dAtt = b.matmulGradInput(dh1, L.o);
      const { dq, dk, dv } = b.attentionGrad(s.q!, s.k!, s.v!, dAtt, { numHeads: L.numHeads, numKvHeads: L.numKvHeads, headDim: hd });
      b.dispose(dAtt);
      const dq0 = b.ropeGradInput(dq, rope.cos, rope.sin, L.numHeads, hd);
      const dk0 = b.ropeGradInput(dk, rope.cos, rope.sin, L.numKvHeads, hd);
      b.dispose(dq);
      b.dispose(dk);
      accumulate(li, 'q', dq0, s.x1!);
      accumulate(li, 'k', dk0, s.x1!);
      accumulate(li, 'v', dv, s.x1!);
      const dx1 = b.matmulGradInput(dq0, L.q);
      for (const [d, w] of [[dk0, L.k], [dv, L.v]] as const) {
        const part = b.matmulGradInput(d, w);
        b.addInPlace(dx1, part);
        b.dispose(part);
      }
      for (const x of [dq0, dk0, dv]) b.dispose(x);
      const dn = b.rmsnormGradInput(s.hIn, L.inputNorm, eps, dx1);
      b.dispose(dx1);
      b.addInPlace(dh1, dn);
      b.dispose(dn);
      for (const x of [s.x1, s.q, s.k, s.v, s.att]) b.dispose(x!);
    }
    b.dispose(s.hIn);
    dh = dh1;
  }
  b.dispose(dh);
  b.dispose(rope.cos);
  b.dispose(rope.sin);
  return { nllSum, predictions: T, activationBytes: act };
}

export { LINEAR_NAMES };

/**
 * Parts of one forward pass timed alone, for the share of the forward they take: every
 * linear, and every layer's attention, with the model's real shapes on random inputs.
 * Shared by bench/forward.ts (Node) and bench/browser/bench.worker.ts (Chromium); `measure`
 * is the caller's timer (warm-up, repetitions, wall or CPU clock).
 */
import type { Backend, Tensor } from '../src/engine/backend/backend';
import type { LlamaModel } from '../src/engine/model/llama';
import { seededRandom } from '../src/engine/random';

type Measure = (f: () => Promise<void>) => Promise<number>;

function randomActivations(b: Backend, T: number, seed: number): (cols: number) => Tensor {
  const rand = seededRandom(seed);
  return (cols) => b.upload(Float32Array.from({ length: T * cols }, () => rand() - 0.5), [T, cols]);
}

/** The forward's linears (and the LM head) on T rows, run alone. */
export async function matmulOnly(b: Backend, lm: LlamaModel, T: number, measure: Measure): Promise<number> {
  const cfg = lm.config;
  const act = randomActivations(b, T, 5);
  const xH = act(cfg.hiddenSize);
  const xQ = act(cfg.numHeads * cfg.headDim);
  const xI = act(cfg.intermediateSize);
  const ms = await measure(async () => {
    const outs: Tensor[] = [];
    for (const L of lm.weights.layers) {
      outs.push(b.matmul(xH, L.q, L.qBias), b.matmul(xH, L.k, L.kBias), b.matmul(xH, L.v, L.vBias));
      outs.push(b.matmul(xQ, L.o), b.matmul(xH, L.gate), b.matmul(xH, L.up), b.matmul(xI, L.down));
    }
    const logits = b.matmul(xH, lm.weights.lmHead);
    await b.read(logits);
    for (const t of [...outs, logits]) b.dispose(t);
  });
  for (const t of [xH, xQ, xI]) b.dispose(t);
  return ms;
}

/** Every layer's attention on T rows (random q, k, v), run alone. */
export async function attentionOnly(b: Backend, lm: LlamaModel, T: number, measure: Measure): Promise<number> {
  const cfg = lm.config;
  const act = randomActivations(b, T, 6);
  const q = act(cfg.numHeads * cfg.headDim);
  const kv = act(cfg.numKvHeads * cfg.headDim);
  const shape = { numHeads: cfg.numHeads, numKvHeads: cfg.numKvHeads, headDim: cfg.headDim };
  const ms = await measure(async () => {
    const outs = lm.weights.layers.map(() => b.attention(q, kv, kv, shape));
    await b.read(outs[outs.length - 1]!);
    for (const t of outs) b.dispose(t);
  });
  b.dispose(q);
  b.dispose(kv);
  return ms;
}

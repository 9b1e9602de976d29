/**
 * An independent reference for tests: llama2.c run.c's forward pass in float64, token by
 * token with a KV cache, on the ORIGINAL checkpoint (adjacent-pair RoPE, llama2.c tensor
 * layout). It shares no code with the engine, so agreement checks the conversion (RoPE
 * permutation, tensor names, tying) and the engine's forward pass together.
 */
import type { Llama2cCheckpoint } from '../../scripts/convert-stories260k';

function rmsnorm(x: Float64Array, w: Float32Array, off: number, eps = 1e-5): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * inv * w[off + i]!);
}

/** y[r] = Σ_c W[off + r·cols + c] · x[c] */
function matvec(W: Float32Array, off: number, rows: number, x: Float64Array): Float64Array {
  const cols = x.length;
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    for (let c = 0; c < cols; c++) acc += W[off + r * cols + c]! * x[c]!;
    y[r] = acc;
  }
  return y;
}

/** Returns the logits at every position of `tokens` (each row: next-token logits). */
export function llama2cForward(ck: Llama2cCheckpoint, tokens: readonly number[]): Float64Array[] {
  const c = ck.config;
  const dim = c.dim;
  const hs = c.headSize;
  const kvDim = c.nKvHeads * hs;
  const kvMul = c.nHeads / c.nKvHeads;
  const keys: Float64Array[][] = Array.from({ length: c.nLayers }, () => []);
  const values: Float64Array[][] = Array.from({ length: c.nLayers }, () => []);
  const cls = ck.wcls ?? ck.tokenEmbedding;
  const out: Float64Array[] = [];
  tokens.forEach((token, pos) => {
    let x = Float64Array.from(ck.tokenEmbedding.subarray(token * dim, (token + 1) * dim));
    for (let l = 0; l < c.nLayers; l++) {
      const xb = rmsnorm(x, ck.rmsAtt, l * dim);
      const q = matvec(ck.wq, l * dim * dim, dim, xb);
      const k = matvec(ck.wk, l * kvDim * dim, kvDim, xb);
      const v = matvec(ck.wv, l * kvDim * dim, kvDim, xb);
      // RoPE on adjacent pairs (2i, 2i+1), frequency 10000^(-2i/hs) within each head.
      for (let i = 0; i < dim; i += 2) {
        const headDim = i % hs;
        const freq = 1 / Math.pow(10000, headDim / hs);
        const angle = pos * freq;
        const cr = Math.cos(angle);
        const ci = Math.sin(angle);
        const rotate = (vec: Float64Array) => {
          const a = vec[i]!;
          const b = vec[i + 1]!;
          vec[i] = a * cr - b * ci;
          vec[i + 1] = a * ci + b * cr;
        };
        rotate(q);
        if (i < kvDim) rotate(k);
      }
      keys[l]!.push(k);
      values[l]!.push(v);
      const att = new Float64Array(dim);
      for (let h = 0; h < c.nHeads; h++) {
        const kvh = Math.floor(h / kvMul);
        const scores = new Float64Array(pos + 1);
        let max = -Infinity;
        for (let t = 0; t <= pos; t++) {
          let s = 0;
          for (let e = 0; e < hs; e++) s += q[h * hs + e]! * keys[l]![t]![kvh * hs + e]!;
          scores[t] = s / Math.sqrt(hs);
          max = Math.max(max, scores[t]!);
        }
        let sum = 0;
        for (let t = 0; t <= pos; t++) {
          scores[t] = Math.exp(scores[t]! - max);
          sum += scores[t]!;
        }
        for (let t = 0; t <= pos; t++) {
          for (let e = 0; e < hs; e++) att[h * hs + e] += (scores[t]! / sum) * values[l]![t]![kvh * hs + e]!;
        }
      }
      const o = matvec(ck.wo, l * dim * dim, dim, att);
      x = x.map((v2, i) => v2 + o[i]!);
      const xb2 = rmsnorm(x, ck.rmsFfn, l * dim);
      const h1 = matvec(ck.w1, l * c.hiddenDim * dim, c.hiddenDim, xb2);
      const h3 = matvec(ck.w3, l * c.hiddenDim * dim, c.hiddenDim, xb2);
      const hh = h1.map((g, i) => (g / (1 + Math.exp(-g))) * h3[i]!);
      const down = matvec(ck.w2, l * dim * c.hiddenDim, dim, hh);
      x = x.map((v2, i) => v2 + down[i]!);
    }
    const xf = rmsnorm(x, ck.rmsFinal, 0);
    out.push(matvec(cls, 0, c.vocabSize, xf));
  });
  return out;
}

export function nllOf(logits: Float64Array, target: number): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return max + Math.log(sum) - logits[target]!;
}

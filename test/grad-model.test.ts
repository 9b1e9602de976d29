/**
 * Whole-model gradient checks on a tiny random 2-layer GQA Llama: the loss's gradient with
 * respect to LoRA A, B (warm-up, float weights) and to the quantizer's s, b (joint phase)
 * against central finite differences. Round has no useful derivative, so the s, b check
 * runs the forward through the STE surrogate Ŵ = s·(c + δ) + b, c = clamp((W'−b)/s), with
 * δ = round(c) − c frozen at the base point: its exact derivatives are the STE/LSQ+ ones.
 */
import { describe, expect, it } from 'vitest';
import { CpuTrainingBackend } from '../src/engine/backend/cpu/cpu-grad';
import { parseModelConfig } from '../src/engine/model/config';
import { randomWeights } from '../src/engine/model/random-model';
import { mergeLora } from '../src/engine/quant/lora';
import { L4Q_DEFAULTS, L4QTrainer, type L4QOptions, type TrainableLinear } from '../src/engine/quant/train';
import { seededRandom } from '../src/engine/random';

const cfg = parseModelConfig(
  { architectures: ['LlamaForCausalLM'], hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 16, max_position_embeddings: 64, rms_norm_eps: 1e-5, tie_word_embeddings: false },
  'tiny',
);

function sequences(n: number, len: number, seed: number): Int32Array[] {
  const r = seededRandom(seed);
  return Array.from({ length: n }, () => Int32Array.from({ length: len }, () => Math.floor(r() * cfg.vocabSize)));
}

/** Trainer whose joint-phase forward is the STE surrogate with δ frozen when `freeze()` is called. */
class SurrogateTrainer extends L4QTrainer {
  private deltas = new Map<TrainableLinear, Float64Array>();
  freeze(): void {
    for (const x of this.linears) {
      const w = mergeLora(x.w0, x.lora);
      const p = x.quant!;
      const d = new Float64Array(w.length);
      for (let i = 0; i < w.length; i++) {
        const gi = Math.floor(i / x.cols) * p.groupsPerRow + Math.floor((i % x.cols) / p.group);
        const c = Math.min(this.grid.qp, Math.max(this.grid.qn, (w[i]! - p.b[gi]!) / p.s[gi]!));
        d[i] = Math.round(c) - c;
      }
      this.deltas.set(x, d);
    }
  }
  protected override effective(x: TrainableLinear) {
    const merged = mergeLora(x.w0, x.lora);
    const d = this.deltas.get(x);
    if (!x.quant || !d) return super.effective(x);
    const p = x.quant;
    const eff = new Float32Array(merged.length);
    for (let i = 0; i < merged.length; i++) {
      const gi = Math.floor(i / x.cols) * p.groupsPerRow + Math.floor((i % x.cols) / p.group);
      const c = Math.min(this.grid.qp, Math.max(this.grid.qn, (merged[i]! - p.b[gi]!) / p.s[gi]!));
      eff[i] = p.s[gi]! * (c + d[i]!) + p.b[gi]!;
    }
    return { merged, eff };
  }
}

const opts: L4QOptions = { ...L4Q_DEFAULTS, bits: 3, group: 4, rank: 2, alpha: 2, steps: 10, warmup: 0, batch: 2, gradScale: 1, init: 'minmax' };

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/** Central difference of the batch loss in parameter p[i]. */
async function fd(tr: L4QTrainer, batch: Int32Array[], p: Float32Array, i: number, h: number): Promise<number> {
  const x0 = p[i]!;
  p[i] = x0 + h;
  const lp = (await tr.gradients(batch)).loss;
  p[i] = x0 - h;
  const lm = (await tr.gradients(batch)).loss;
  p[i] = x0;
  return (lp - lm) / (2 * h);
}

describe('whole-model gradients of L4Q training (tiny 2-layer model)', () => {
  const b = new CpuTrainingBackend();
  const batch = sequences(2, 7, 3);

  it('LoRA A and B match finite differences (warm-up, float weights)', async () => {
    const tr = new L4QTrainer(b, cfg, randomWeights(cfg, 5), batch, opts);
    // B = 0 at init makes ∂L/∂A vanish; give B a value so both gradients are exercised.
    const nb = seededRandom(9);
    for (const x of tr.linears) x.lora.B.forEach((_, i, B) => (B[i] = (nb() - 0.5) * 0.5));
    const g = await tr.gradients(batch);
    let checked = 0;
    for (const li of [0, 3, 6, 9, 13]) {
      const x = tr.linears[li]!;
      const [dA, dB] = [g.lora[2 * li]!, g.lora[2 * li + 1]!];
      for (const [p, d] of [[x.lora.A, dA], [x.lora.B, dB]] as const) {
        const scale = Math.max(maxAbs(d), 1e-3);
        for (const i of [0, Math.floor(p.length / 2), p.length - 1]) {
          const num = await fd(tr, batch, p, i, 1e-2);
          expect(Math.abs(num - d[i]!) / scale, `${x.name}${x.layer} [${i}]`).toBeLessThan(2e-2);
          checked++;
        }
      }
    }
    expect(checked).toBe(30);
  });

  it('s and b match finite differences of the STE surrogate (joint phase, LSQ+)', async () => {
    const tr = new SurrogateTrainer(b, cfg, randomWeights(cfg, 6), batch, opts);
    tr.initQuantizer();
    // Move s, b off their min-max init so some weights clip at both ends.
    const r = seededRandom(11);
    for (const x of tr.linears) {
      x.quant!.s.forEach((s, i, S) => (S[i] = s * (0.6 + 0.5 * r())));
      x.quant!.b.forEach((v, i, B) => (B[i] = v + (r() - 0.5) * 0.1 * x.quant!.s[i]!));
    }
    tr.freeze();
    const g = await tr.gradients(batch);
    let clipped = 0;
    for (const li of [1, 4, 8, 12]) {
      const x = tr.linears[li]!;
      const [ds, db] = [g.quant[2 * li]!, g.quant[2 * li + 1]!];
      for (const [p, d] of [[x.quant!.s, ds], [x.quant!.b, db]] as const) {
        const scale = Math.max(maxAbs(d), 1e-4);
        for (const i of [0, 1, p.length - 1]) {
          const num = await fd(tr, batch, p, i, 1e-3 * x.quant!.s[i]!);
          expect(Math.abs(num - d[i]!) / scale, `${x.name}${x.layer} [${i}]`).toBeLessThan(3e-2);
        }
      }
      clipped += db.filter((v) => v !== 0).length;
    }
    // b only gets gradient from clipped weights: the check above is not vacuous.
    expect(clipped).toBeGreaterThan(0);
  });
});

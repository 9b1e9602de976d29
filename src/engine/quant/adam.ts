/**
 * Adam (Kingma & Ba) with bias correction, over a list of parameter arrays updated in place:
 *   m ← β1·m + (1−β1)·g,  v ← β2·v + (1−β2)·g²,
 *   p ← p − lr · (m/(1−β1^t)) / (√(v/(1−β2^t)) + ε)
 * L4Q uses two instances: one for LoRA A, B and one (own learning rate) for s, b.
 * State is float32, 2 values per parameter (the memory the studio reports).
 */
export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** β1, β2, ε when the options leave them out (Kingma & Ba's defaults). */
export const ADAM_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const;

export class Adam {
  readonly params: Float32Array[];
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  private t = 0;
  lr: number;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;

  constructor(params: Float32Array[], o: AdamOptions) {
    this.params = params;
    this.m = params.map((p) => new Float32Array(p.length));
    this.v = params.map((p) => new Float32Array(p.length));
    this.lr = o.lr;
    this.beta1 = o.beta1 ?? ADAM_DEFAULTS.beta1;
    this.beta2 = o.beta2 ?? ADAM_DEFAULTS.beta2;
    this.eps = o.eps ?? ADAM_DEFAULTS.eps;
  }

  get stateBytes(): number {
    return this.m.reduce((a, x) => a + x.byteLength, 0) * 2;
  }

  get steps(): number {
    return this.t;
  }

  /** grads[i] matches params[i] in length. */
  step(grads: ArrayLike<number>[]): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k]!;
      const g = grads[k]!;
      const m = this.m[k]!;
      const v = this.v[k]!;
      if (g.length !== p.length) throw new Error(`Adam: gradient ${k} has ${g.length} values for ${p.length} parameters`);
      adamUpdate(p, g, m, v, this.lr, this.beta1, this.beta2, this.eps, c1, c2);
    }
  }
}

/**
 * The update of one parameter array in place, with the bias corrections c1 = 1 − β1^t and
 * c2 = 1 − β2^t given (shared by Adam and the CPU QuantTrainOps).
 */
export function adamUpdate(p: Float32Array, g: ArrayLike<number>, m: Float32Array, v: Float32Array, lr: number, beta1: number, beta2: number, eps: number, c1: number, c2: number): void {
  for (let i = 0; i < p.length; i++) {
    const gi = g[i]!;
    m[i] = beta1 * m[i]! + (1 - beta1) * gi;
    v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
    p[i] -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps);
  }
}

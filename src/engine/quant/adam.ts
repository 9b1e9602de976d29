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
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
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
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]!;
        m[i] = this.beta1 * m[i]! + (1 - this.beta1) * gi;
        v[i] = this.beta2 * v[i]! + (1 - this.beta2) * gi * gi;
        p[i] -= (this.lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + this.eps);
      }
    }
  }
}

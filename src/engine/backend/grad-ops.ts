/**
 * The backward operations training needs: the `grad` capability of a Backend (backend.ts),
 * which a backend opts into (the CPU reference's CpuTrainingBackend in cpu/cpu-grad.ts, the
 * WebGPU backend's kernels in webgpu/webgpu-grad.ts). Every op takes the tensors the
 * forward op saw plus the gradient of the loss with respect to the forward op's output
 * (dY), and returns gradients with respect to its inputs. Frozen parameters (norm weights, embeddings, biases) get none.
 *
 * Conventions as in Backend: activations [T, features], a linear weight W is [out, in],
 * the forward is y = x · Wᵀ.
 */
import type { AttentionShape, Tensor } from './types';

export interface AttentionGrads {
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
}

export interface SwigluGrads {
  dGate: Tensor;
  dUp: Tensor;
}

export interface GradOps {
  /** y = x·Wᵀ  ⇒  dX = dY · W   (dY [T, out], W [out, in] → [T, in]) */
  matmulGradInput(dy: Tensor, w: Tensor): Tensor;
  /** y = x·Wᵀ  ⇒  dW = dYᵀ · X  (→ [out, in]); the dense weight gradient Γ of L4Q. */
  matmulGradWeight(dy: Tensor, x: Tensor): Tensor;
  /**
   * y = x·r·w with r = 1/√(mean(x²)+eps), weight w frozen:
   * dx_j = r·w_j·dy_j − x_j·r³/d · Σ_k dy_k·w_k·x_k   (per row, d features)
   */
  rmsnormGradInput(x: Tensor, weight: Tensor, eps: number, dy: Tensor): Tensor;
  /** RoPE is a rotation per (i, i+d/2) pair, so its gradient is the inverse rotation (angle −θ). */
  ropeGradInput(dy: Tensor, cos: Tensor, sin: Tensor, numHeads: number, headDim: number): Tensor;
  /**
   * Causal GQA attention, P = softmax(q·kᵀ/√d + mask), O = P·v. Per query head and row i:
   *   dP_ij = dO_i · v_j,  dS_ij = P_ij·(dP_ij − Σ_l P_il·dP_il),
   *   dq_i = Σ_j dS_ij·k_j/√d,  dk_j += dS_ij·q_i/√d,  dv_j += P_ij·dO_i
   * with dk, dv summed over the query heads sharing a key/value head.
   */
  attentionGrad(q: Tensor, k: Tensor, v: Tensor, dOut: Tensor, shape: AttentionShape): AttentionGrads;
  /** y = silu(g)·u, silu(g) = g·σ(g):  dg = dy·u·σ(g)·(1 + g·(1−σ(g))),  du = dy·silu(g). */
  swigluGrad(gate: Tensor, up: Tensor, dy: Tensor): SwigluGrads;
  /**
   * Loss = scale · Σ_t nll_t, nll_t = logsumexp(logits_t) − logits_t[target_t]:
   * dlogits_t = scale·(softmax(logits_t) − onehot(target_t)). scale = 1/tokens for a mean.
   */
  nllGrad(logits: Tensor, targets: Tensor, scale: number): Tensor;
  /** a += b in place (gradient accumulation at residual branches). */
  addInPlace(a: Tensor, b: Tensor): void;
}

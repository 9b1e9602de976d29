/**
 * The L4Q quantizer (docs/methods/l4q.md#the-quantizer, #backward): per row of a linear weight W' [out, in], groups
 * of G consecutive input columns, each with a learned step s and offset b;
 *
 *   v = (W' − b)/s,   q = round(clamp(v, Qn, Qp)),   Ŵ = s·q + b,
 *   Qn = −2^(n−1), Qp = 2^(n−1) − 1   (4-bit: −8…7; 3-bit: −4…3).
 *
 * Backward (straight-through estimator for round, LSQ / LSQ+ for s and b), with Γ = ∂L/∂Ŵ:
 *
 *   in range (Qn ≤ v ≤ Qp):  ∂L/∂W' = Γ,  ∂Ŵ/∂s = round(v) − v,  ∂Ŵ/∂b = 0
 *   clipped low  (v < Qn):   ∂L/∂W' = 0,  ∂Ŵ/∂s = Qn,             ∂Ŵ/∂b = 1
 *   clipped high (v > Qp):   ∂L/∂W' = 0,  ∂Ŵ/∂s = Qp,             ∂Ŵ/∂b = 1
 *   ∂L/∂s_group = g·Σ_group Γ·∂Ŵ/∂s,   ∂L/∂b_group = g·Σ_group Γ·∂Ŵ/∂b
 *
 * g is LSQ's gradient scale; our default g = 1/√(G·Qp) (LSQ's 1/√(N·Qp) with N = the weights
 * sharing a step). A pruning mask M (1 = kept) multiplies Ŵ: masked weights are exactly 0
 * in the forward, the merge and the exported codes' dequantization, and pass no gradient.
 *
 * Rounding is half to even (torch.round and WGSL round()), written out in roundHalfEven.
 * A group's last columns may be fewer than G when `in` is not a multiple of G.
 */
import { groupsPerRow, type QuantGrid } from '../backend/quant-train-ops';
import { StudioError } from '../errors';
import { CODE_BITS, isCodeBits } from '../rules';

export { groupsPerRow, type QuantGrid } from '../backend/quant-train-ops';

export function quantGrid(bits: number): QuantGrid {
  if (!isCodeBits(bits)) throw new StudioError('input', `bits ${bits} must be an integer from ${CODE_BITS.text}`);
  return { bits, qn: -(2 ** (bits - 1)), qp: 2 ** (bits - 1) - 1 };
}

/** Half to even, as torch.round and WGSL round(). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Per-group step and offset of one [rows, cols] weight; groups index row·groupsPerRow + ⌊col/G⌋. */
export interface GroupQuant {
  rows: number;
  cols: number;
  group: number;
  groupsPerRow: number;
  s: Float32Array;
  b: Float32Array;
}

/**
 * How s, b start (§3.5): l4q = L4Q_init, s = max(|min/Qn|, |max/Qp|), b = 0 (symmetric, no
 * clipping; the default); minmax = s = (max − min)/(Qp − Qn), b = min − s·Qn (min → Qn
 * exactly); lsq = LSQ's s = 2·mean|w|/√Qp, b = 0.
 */
export const QUANT_INITS = ['l4q', 'minmax', 'lsq'] as const;
export type QuantInit = (typeof QUANT_INITS)[number];

/** s, b of every group from the weight (masked weights ignored); an empty or all-zero group gets s = 1, b = 0. */
export function initGroupQuant(w: Float32Array, rows: number, cols: number, group: number, grid: QuantGrid, init: QuantInit, mask: Uint8Array | null = null): GroupQuant {
  const gpr = groupsPerRow(cols, group);
  const s = new Float32Array(rows * gpr);
  const b = new Float32Array(rows * gpr);
  for (let r = 0; r < rows; r++) {
    for (let gi = 0; gi < gpr; gi++) {
      let min = Infinity;
      let max = -Infinity;
      let absSum = 0;
      let n = 0;
      for (let c = gi * group; c < Math.min(cols, (gi + 1) * group); c++) {
        const i = r * cols + c;
        if (mask && !mask[i]) continue;
        const x = w[i]!;
        min = Math.min(min, x);
        max = Math.max(max, x);
        absSum += Math.abs(x);
        n++;
      }
      let step = 0;
      let off = 0;
      if (n > 0) {
        if (init === 'l4q') step = Math.max(Math.abs(min / grid.qn), Math.abs(max / grid.qp));
        else if (init === 'lsq') step = (2 * (absSum / n)) / Math.sqrt(grid.qp);
        else {
          step = (max - min) / (grid.qp - grid.qn);
          off = min - step * grid.qn;
        }
      }
      if (!(step > 0) || !Number.isFinite(step)) {
        // Constant or empty group: any step represents it; keep the offset so min-max stays exact.
        step = 1;
        off = init === 'minmax' && n > 0 ? min - grid.qn : 0;
      }
      s[r * gpr + gi] = step;
      b[r * gpr + gi] = off;
    }
  }
  return { rows, cols, group, groupsPerRow: gpr, s, b };
}

/** The integer code of one weight: round(clamp((w − b)/s, Qn, Qp)). */
function code(w: number, s: number, b: number, grid: QuantGrid): number {
  const v = (w - b) / s;
  return roundHalfEven(Math.min(grid.qp, Math.max(grid.qn, v)));
}

/** Ŵ = M ⊙ (s·q + b) for the whole weight. */
export function fakeQuantize(w: Float32Array, p: GroupQuant, grid: QuantGrid, mask: Uint8Array | null = null): Float32Array {
  const { rows, cols, group, groupsPerRow: gpr } = p;
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (mask && !mask[i]) continue;
      const gi = r * gpr + Math.floor(c / group);
      out[i] = p.s[gi]! * code(w[i]!, p.s[gi]!, p.b[gi]!, grid) + p.b[gi]!;
    }
  }
  return out;
}

export interface QuantizerGrads {
  /** ∂L/∂W' = β ⊙ M ⊙ Γ (zero where clipped or masked). */
  dW: Float32Array;
  ds: Float64Array;
  db: Float64Array;
}

/** The STE / LSQ+ backward of fakeQuantize for Γ = ∂L/∂Ŵ; `gradScale` is g. */
export function fakeQuantizeGrad(w: Float32Array, gamma: Float32Array, p: GroupQuant, grid: QuantGrid, gradScale: number, mask: Uint8Array | null = null): QuantizerGrads {
  const { rows, cols, group, groupsPerRow: gpr } = p;
  const dW = new Float32Array(w.length);
  const ds = new Float64Array(p.s.length);
  const db = new Float64Array(p.b.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      if (mask && !mask[i]) continue;
      const gi = r * gpr + Math.floor(c / group);
      const v = (w[i]! - p.b[gi]!) / p.s[gi]!;
      const G = gamma[i]!;
      if (v < grid.qn) {
        ds[gi] += G * grid.qn;
        db[gi] += G;
      } else if (v > grid.qp) {
        ds[gi] += G * grid.qp;
        db[gi] += G;
      } else {
        dW[i] = G;
        ds[gi] += G * (roundHalfEven(v) - v);
      }
    }
  }
  for (let i = 0; i < ds.length; i++) {
    ds[i] *= gradScale;
    db[i] *= gradScale;
  }
  return { dW, ds, db };
}

/** LSQ's gradient scale for group-wise steps: g = 1/√(G·Qp) (our choice of N = G). */
export function defaultGradScale(group: number, grid: QuantGrid): number {
  return 1 / Math.sqrt(group * grid.qp);
}

/**
 * The merged integer form of one linear: codes q ∈ [Qn, Qp] row-major [rows, cols] and per
 * group s, b; dequantized Ŵ = M ⊙ (s·q + b). This is what the studio evaluates and packs.
 */
export interface IntegerLinear {
  rows: number;
  cols: number;
  bits: number;
  group: number;
  codes: Int8Array;
  scales: Float32Array;
  offsets: Float32Array;
  /** 1 = kept, 0 = pruned (dequantizes to exactly 0); null = dense. */
  mask: Uint8Array | null;
}

export function quantizeToIntegers(w: Float32Array, p: GroupQuant, grid: QuantGrid, mask: Uint8Array | null = null): IntegerLinear {
  const { rows, cols, group, groupsPerRow: gpr } = p;
  const codes = new Int8Array(w.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      const gi = r * gpr + Math.floor(c / group);
      // A masked weight stores the code nearest to zero (what a packer pads with).
      codes[i] = code(mask && !mask[i] ? 0 : w[i]!, p.s[gi]!, p.b[gi]!, grid);
    }
  }
  return { rows, cols, bits: grid.bits, group, codes, scales: p.s.slice(), offsets: p.b.slice(), mask: mask ? mask.slice() : null };
}

export function dequantizeIntegers(q: IntegerLinear): Float32Array {
  const gpr = groupsPerRow(q.cols, q.group);
  const out = new Float32Array(q.rows * q.cols);
  for (let r = 0; r < q.rows; r++) {
    for (let c = 0; c < q.cols; c++) {
      const i = r * q.cols + c;
      if (q.mask && !q.mask[i]) continue;
      const gi = r * gpr + Math.floor(c / q.group);
      out[i] = q.scales[gi]! * q.codes[i]! + q.offsets[gi]!;
    }
  }
  return out;
}

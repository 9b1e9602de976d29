/**
 * Rotary position tables in the Hugging Face convention (rotate_half layout):
 * inv_freq[i] = θ^(−2i/d) for i < d/2, optionally rescaled per Llama 3's `rope_scaling`;
 * the angle of position p is p·inv_freq[i]. Tables are [positions, d/2] because the two
 * halves of a head share the same angles.
 */
import type { ModelConfig } from './config';

export function inverseFrequencies(cfg: ModelConfig): Float64Array {
  const d = cfg.headDim;
  const inv = new Float64Array(d / 2);
  for (let i = 0; i < d / 2; i++) inv[i] = 1 / Math.pow(cfg.ropeTheta, (2 * i) / d);
  const s = cfg.ropeScaling;
  if (s?.type === 'llama3') {
    // Llama 3.1 frequency rescaling: long wavelengths slowed by `factor`, short ones kept,
    // a linear blend between (transformers' _compute_llama3_parameters).
    const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
    const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
    for (let i = 0; i < inv.length; i++) {
      const f = inv[i]!;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < highWavelen) continue;
      if (wavelen > lowWavelen) {
        inv[i] = f / s.factor;
      } else {
        const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        inv[i] = (1 - smooth) * (f / s.factor) + smooth * f;
      }
    }
  }
  return inv;
}

export interface RopeTables {
  cos: Float32Array;
  sin: Float32Array;
}

/** cos/sin of p·inv_freq[i] for positions start … start+count−1. */
export function ropeTables(cfg: ModelConfig, start: number, count: number): RopeTables {
  const inv = inverseFrequencies(cfg);
  const half = inv.length;
  const cos = new Float32Array(count * half);
  const sin = new Float32Array(count * half);
  for (let p = 0; p < count; p++) {
    for (let i = 0; i < half; i++) {
      const angle = (start + p) * inv[i]!;
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/**
 * Writing the packed integer linear that RTN and L4Q both produce: codes, scales and zero
 * points into the MatMulNBits layout of backend/packed-linear.ts (which also reads it back;
 * re-exported here so a quantizer imports one module).
 */
import { StudioError } from '../errors';
import { checkBits, packedGeometry, type PackedLinear } from '../backend/packed-linear';
import { groupWidth } from '../rules';

export { checkBits, dequantize, packedBytes, packedGeometry, readBits, unpackCodes, zeroPoints, type PackedLinear } from '../backend/packed-linear';

function fail(m: string): never {
  throw new StudioError('input', m);
}

/** Writes `value` (bits wide) at bit offset `bit` of `buf`, low bits first. */
export function writeBits(buf: Uint8Array, bit: number, bits: number, value: number): void {
  for (let done = 0; done < bits; ) {
    const byte = (bit + done) >> 3;
    const shift = (bit + done) & 7;
    const take = Math.min(8 - shift, bits - done);
    const part = (value >> done) & ((1 << take) - 1);
    buf[byte] = (buf[byte]! & ~(((1 << take) - 1) << shift)) | (part << shift);
    done += take;
  }
}

export interface PackInput {
  rows: number;
  cols: number;
  bits: number;
  blockSize: number;
  /** Unsigned code per weight, row-major [rows, cols], each in [0, 2^bits − 1]. */
  codes: Uint8Array;
  /** Per (row, block), row-major [rows, kBlocks]. */
  scales: Float32Array;
  /**
   * Zero point per (row, block): integers in [0, 2^bits − 1] (Uint8Array → packed qzeros),
   * any float (Float32Array → fzeros), or null for the default 2^(bits−1).
   */
  zeros: Uint8Array | Float32Array | null;
}

/**
 * Codes, scales and zero points → the packed linear. This is the one entry point both RTN
 * and the L4Q merge use (L4Q through `packSigned`).
 */
export function packLinear(p: PackInput): PackedLinear {
  const { rows, cols, bits, blockSize } = p;
  const { kBlocks, blobSize, zeroRowBytes } = packedGeometry(rows, cols, bits, blockSize);
  const maxq = (1 << bits) - 1;
  if (p.codes.length !== rows * cols) fail(`quantization: ${p.codes.length} codes for a [${rows}, ${cols}] weight`);
  if (p.scales.length !== rows * kBlocks) fail(`quantization: ${p.scales.length} scales for ${rows} rows × ${kBlocks} blocks`);
  if (p.zeros && p.zeros.length !== rows * kBlocks) fail(`quantization: ${p.zeros.length} zero points for ${rows} rows × ${kBlocks} blocks`);
  for (let i = 0; i < p.scales.length; i++) if (!Number.isFinite(p.scales[i]!)) fail(`quantization: scale ${i} is ${p.scales[i]}`);
  const intZeros = p.zeros instanceof Uint8Array ? p.zeros : null;
  const floatZeros = p.zeros instanceof Float32Array ? p.zeros : null;
  if (floatZeros) for (let i = 0; i < floatZeros.length; i++) if (!Number.isFinite(floatZeros[i]!)) fail(`quantization: zero point ${i} is ${floatZeros[i]}`);
  const defaultZero = 1 << (bits - 1);

  const qweight = new Uint8Array(rows * kBlocks * blobSize);
  for (let n = 0; n < rows; n++) {
    for (let b = 0; b < kBlocks; b++) {
      const blob = (n * kBlocks + b) * blobSize * 8;
      const k0 = b * blockSize;
      const pad = intZeros ? intZeros[n * kBlocks + b]! : floatZeros ? Math.min(maxq, Math.max(0, Math.round(floatZeros[n * kBlocks + b]!))) : defaultZero;
      for (let i = 0; i < blockSize; i++) {
        const k = k0 + i;
        const u = k < cols ? p.codes[n * cols + k]! : pad;
        if (u > maxq) fail(`quantization: code ${u} at [${n}, ${k}] does not fit ${bits} bits`);
        writeBits(qweight, blob + i * bits, bits, u);
      }
    }
  }
  let qzeros: Uint8Array | null = null;
  if (intZeros) {
    qzeros = new Uint8Array(rows * zeroRowBytes);
    for (let n = 0; n < rows; n++) {
      for (let b = 0; b < kBlocks; b++) {
        const z = intZeros[n * kBlocks + b]!;
        if (z > maxq) fail(`quantization: zero point ${z} does not fit ${bits} bits`);
        writeBits(qzeros, n * zeroRowBytes * 8 + b * bits, bits, z);
      }
    }
  }
  return { rows, cols, bits, blockSize, kBlocks, blobSize, qweight, scales: p.scales.slice(), qzeros, fzeros: floatZeros ? floatZeros.slice() : null };
}

/**
 * L4Q's merge: signed integers q ∈ [Q_n, Q_p] (Q_n = −2^(bits−1), Q_p = 2^(bits−1) − 1)
 * with a step s and offset b per (row, group) of `groupSize` input columns, meaning
 * Ŵ = s·q + b, → the packed linear. As docs/methods/l4q.md#merge-into-packed-integers says: u = q − Q_n, scale = s,
 * z = −Q_n − b/s, so (u − z)·s = s·q + b. With every b = 0, z is the default 2^(bits−1)
 * and no zero points are stored; otherwise they are stored as float (fzeros). A zero step
 * with a non-zero offset cannot be written as (u − z)·s and is refused. As in RTN, a group
 * wider than the row (groupSize ≥ cols) is the whole row: one block of cols codes.
 */
export function packSigned(p: { rows: number; cols: number; bits: number; groupSize: number; q: Int8Array | Int32Array; step: Float32Array; offset: Float32Array | null }): PackedLinear {
  checkBits(p.bits);
  const Qn = -(1 << (p.bits - 1));
  const Qp = (1 << (p.bits - 1)) - 1;
  const codes = new Uint8Array(p.q.length);
  for (let i = 0; i < p.q.length; i++) {
    const q = p.q[i]!;
    if (!Number.isInteger(q) || q < Qn || q > Qp) fail(`quantization: integer ${q} at ${i} is outside [${Qn}, ${Qp}] for ${p.bits} bits`);
    codes[i] = q - Qn;
  }
  const hasOffset = p.offset !== null && p.offset.some((b) => b !== 0);
  let zeros: Float32Array | null = null;
  if (hasOffset) {
    zeros = new Float32Array(p.step.length);
    for (let i = 0; i < zeros.length; i++) {
      const s = p.step[i]!;
      const b = p.offset![i]!;
      if (s === 0 && b !== 0) fail(`quantization: group ${i} has step 0 and offset ${b}; (u − z)·s cannot represent it`);
      zeros[i] = s === 0 ? -Qn : -Qn - b / s;
    }
  }
  // A group wider than the row is the whole row, stored unpadded (rules.ts groupWidth: RTN's and the checkpoint format's rule).
  return packLinear({ rows: p.rows, cols: p.cols, bits: p.bits, blockSize: groupWidth(p.groupSize, p.cols), codes, scales: p.step, zeros });
}

/**
 * The packed integer linear that RTN and L4Q both produce, and the bit packing it uses.
 *
 * A weight W [rows = N out, cols = K in] is cut, row by row, into blocks of `blockSize`
 * consecutive input columns (k_blocks = ⌈K / blockSize⌉ per row; the last block of a row
 * may be short). Each weight is an unsigned code u ∈ [0, 2^bits − 1]; each (row, block)
 * has a float32 scale and a zero point z, and
 *
 *     Ŵ[n, k] = (u[n, k] − z[n, b]) · scale[n, b],   b = ⌊k / blockSize⌋
 *
 * which is ONNX Runtime's com.microsoft.MatMulNBits dequantization (docs/methods/rtn.md#packed-layout).
 *
 * Byte layout (MatMulNBits for every bit width):
 * - qweight: N · k_blocks blobs of blobSize = ⌈blockSize · bits / 8⌉ bytes, row n's blobs in
 *   block order. Inside a blob the codes form a little-endian bit stream: code i of the
 *   block occupies bits [i·bits, (i+1)·bits), bit 0 being the lowest bit of byte 0. For
 *   4-bit this is "element 2t in the low nibble of byte t, 2t+1 in the high nibble"; for
 *   8-bit one byte per code; for 2-bit four codes per byte, lowest bits first; 3, 5, 6 and
 *   7 bits cross byte boundaries. A short last block is padded with the block's zero-point
 *   code (as ORT pads), so padded columns dequantize to 0.
 * - scales: float32, N · k_blocks, row-major.
 * - zero points, one of:
 *   - `qzeros` (integer z): per row, k_blocks codes in the same bit stream,
 *     ⌈k_blocks · bits / 8⌉ bytes per row (4-bit: block 2j low nibble, 2j+1 high nibble);
 *   - `fzeros` (non-integer z, e.g. an L4Q offset b: z = −Q_n − b/s): float32, N · k_blocks
 *     (MatMulNBits' unpacked zero_points input);
 *   - neither: the MatMulNBits default z = 2^(bits−1) (symmetric quantization).
 */
import { StudioError } from '../errors';

export interface PackedLinear {
  /** Output features N (rows of the PyTorch weight). */
  rows: number;
  /** Input features K. */
  cols: number;
  bits: number;
  blockSize: number;
  /** ⌈cols / blockSize⌉ */
  kBlocks: number;
  /** ⌈blockSize · bits / 8⌉ */
  blobSize: number;
  /** rows · kBlocks · blobSize bytes. */
  qweight: Uint8Array;
  /** rows · kBlocks. */
  scales: Float32Array;
  /** Packed integer zero points, rows · ⌈kBlocks · bits / 8⌉ bytes, or null. */
  qzeros: Uint8Array | null;
  /** Float zero points, rows · kBlocks, or null. At most one of qzeros / fzeros is set. */
  fzeros: Float32Array | null;
}

export const MIN_BITS = 2;
export const MAX_BITS = 8;

function fail(m: string): never {
  throw new StudioError('input', m);
}

export function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < MIN_BITS || bits > MAX_BITS) fail(`quantization: bits must be an integer from ${MIN_BITS} to ${MAX_BITS}, got ${bits}`);
}

/** The packed layout's sizes for a [rows, cols] weight. */
export function packedGeometry(rows: number, cols: number, bits: number, blockSize: number) {
  checkBits(bits);
  if (!Number.isInteger(blockSize) || blockSize < 1) fail(`quantization: block size must be a positive integer, got ${blockSize}`);
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 1) fail(`quantization: bad weight shape [${rows}, ${cols}]`);
  const kBlocks = Math.ceil(cols / blockSize);
  const blobSize = Math.ceil((blockSize * bits) / 8);
  const zeroRowBytes = Math.ceil((kBlocks * bits) / 8);
  return { kBlocks, blobSize, zeroRowBytes };
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

/** Reads a `bits`-wide value at bit offset `bit` of `buf`. */
export function readBits(buf: Uint8Array, bit: number, bits: number): number {
  let v = 0;
  for (let done = 0; done < bits; ) {
    const byte = (bit + done) >> 3;
    const shift = (bit + done) & 7;
    const take = Math.min(8 - shift, bits - done);
    v |= ((buf[byte]! >> shift) & ((1 << take) - 1)) << done;
    done += take;
  }
  return v;
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
  // A group wider than the row is the whole row, stored unpadded (the rule RTN and the checkpoint format use).
  return packLinear({ rows: p.rows, cols: p.cols, bits: p.bits, blockSize: Math.min(p.groupSize, p.cols), codes, scales: p.step, zeros });
}

/** The code of every weight, [rows, cols] (padding dropped). */
export function unpackCodes(p: PackedLinear): Uint8Array {
  const out = new Uint8Array(p.rows * p.cols);
  for (let n = 0; n < p.rows; n++) {
    for (let k = 0; k < p.cols; k++) {
      const b = Math.floor(k / p.blockSize);
      out[n * p.cols + k] = readBits(p.qweight, (n * p.kBlocks + b) * p.blobSize * 8 + (k - b * p.blockSize) * p.bits, p.bits);
    }
  }
  return out;
}

/** The zero point of every (row, block) as a float, [rows, kBlocks]. */
export function zeroPoints(p: PackedLinear): Float32Array {
  const out = new Float32Array(p.rows * p.kBlocks);
  if (p.fzeros) return p.fzeros.slice();
  if (!p.qzeros) return out.fill(1 << (p.bits - 1));
  const rowBytes = Math.ceil((p.kBlocks * p.bits) / 8);
  for (let n = 0; n < p.rows; n++) {
    for (let b = 0; b < p.kBlocks; b++) out[n * p.kBlocks + b] = readBits(p.qzeros, n * rowBytes * 8 + b * p.bits, p.bits);
  }
  return out;
}

/**
 * The reference dequantization Ŵ = (u − z)·scale, [rows, cols] float32. The product is
 * formed in float64 and rounded once to float32; the GPU kernel's f32 arithmetic agrees to
 * an ulp (exactly, for integer zero points).
 */
export function dequantize(p: PackedLinear): Float32Array {
  const codes = unpackCodes(p);
  const z = zeroPoints(p);
  const out = new Float32Array(p.rows * p.cols);
  for (let n = 0; n < p.rows; n++) {
    for (let k = 0; k < p.cols; k++) {
      const g = n * p.kBlocks + Math.floor(k / p.blockSize);
      out[n * p.cols + k] = (codes[n * p.cols + k]! - z[g]!) * p.scales[g]!;
    }
  }
  return out;
}

/** Bytes the packed linear really takes: codes + scales (f32) + zero points. */
export function packedBytes(p: PackedLinear): number {
  return p.qweight.byteLength + p.scales.byteLength + (p.qzeros?.byteLength ?? 0) + (p.fzeros?.byteLength ?? 0);
}

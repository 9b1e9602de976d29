/**
 * The packed integer linear that RTN and L4Q both produce (Backend.uploadQuantized takes
 * it as it is), and the readers of its bit packing; quant/pack.ts writes it.
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
import { CODE_BITS, isCodeBits } from '../rules';

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

function fail(m: string): never {
  throw new StudioError('input', m);
}

export function checkBits(bits: number): void {
  if (!isCodeBits(bits)) fail(`quantization: bits must be an integer from ${CODE_BITS.text}, got ${bits}`);
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

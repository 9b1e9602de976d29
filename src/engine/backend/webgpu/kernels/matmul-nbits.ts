/**
 * Matmul with a packed integer weight (quant/pack.ts, the MatMulNBits layout), dequantized
 * on the fly; no float copy of the weight exists on the GPU.
 *
 *   y[r, c] = Σ_k x[r, k] · Ŵ[c, k]  (+ bias[c]),
 *   Ŵ[c, k] = (u[c, k] − z[c, b]) · scale[c, b],   b = ⌊k / bs⌋
 *
 * u is read from the qweight bit stream: code i of block (c, b) sits at bit
 * ((c·kBlocks + b)·blobSize)·8 + i·BITS, low bits first, so it is one u32 word shifted
 * right, or two words when the code straddles a word boundary (3, 5, 6, 7 bits). z is the
 * default 2^(BITS−1) (zeroMode 0), a code of the packed zero-point stream (1: row c's
 * stream starts at byte c·zeroRowBytes) or a float (2). (u − z)·scale is formed per weight
 * exactly as the CPU reference does, so the weights agree bit for bit, and each output is
 * summed over k in order; only f32 vs f64 accumulation differs from the CPU.
 *
 * Each invocation computes a 4 × 4 block (4 token rows × 4 output columns): every decoded
 * weight serves 4 rows, which is what makes the decode affordable. BITS is compiled in
 * (one pipeline per bit width). For 2, 4 and 8 bits with blobs of whole words (block
 * sizes that are multiples of 32/BITS·4 codes, e.g. 16, 32, 64, 128) one u32 load gives 32/BITS
 * codes; otherwise each code is read from its bit offset. Buffers are padded to whole u32 words.
 */
import type { GpuRuntime, PipelineSource } from '../runtime';

const WG = 64;

function code(bits: number): string {
  // Only widths that divide 32 get the word path (the others would divide by PER_WORD = 0).
  const wordPath =
    32 % bits === 0
      ? /* wgsl */ `if (PER_WORD > 0u && (p.blobSize & 3u) == 0u) {
      // 2, 4 or 8 bits with word-aligned blobs: one u32 load per column holds PER_WORD codes.
      let words = (n + PER_WORD - 1u) / PER_WORD;
      let wb = base >> vec4<u32>(5u);
      for (var wi = 0u; wi < words; wi++) {
        let q = vec4<u32>(qw[wb.x + wi], qw[wb.y + wi], qw[wb.z + wi], qw[wb.w + wi]);
        let kw = k0 + wi * PER_WORD;
        let m = min(PER_WORD, k0 + n - kw);
        for (var j = 0u; j < m; j++) {
          let u = vec4<f32>((q >> vec4<u32>(j * BITS)) & vec4<u32>(MASK));
          let w = (u - z) * s;
          let k = kw + j;
          a0 += x[xr.x + k] * w;
          a1 += x[xr.y + k] * w;
          a2 += x[xr.z + k] * w;
          a3 += x[xr.w + k] * w;
        }
      }
    } else `
      : '';
  return /* wgsl */ `
const BITS: u32 = ${bits}u;
struct Params { T: u32, N: u32, K: u32, blockSize: u32, kBlocks: u32, blobSize: u32, zeroMode: u32, zeroRowBytes: u32, hasBias: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> qw: array<u32>;
@group(0) @binding(3) var<storage, read> scales: array<f32>;
@group(0) @binding(4) var<storage, read> qz: array<u32>;
@group(0) @binding(5) var<storage, read> fz: array<f32>;
@group(0) @binding(6) var<storage, read> bias: array<f32>;
@group(0) @binding(7) var<storage, read_write> y: array<f32>;

const MASK: u32 = (1u << BITS) - 1u;
/** Codes per u32 when BITS divides 32 (2, 4, 8), else 0 (codes may straddle words). */
const PER_WORD: u32 = ${32 % bits === 0 ? 32 / bits : 0}u;

fn codeAt(bit: u32) -> u32 {
  let w = bit >> 5u;
  let sh = bit & 31u;
  var v = qw[w] >> sh;
  if (sh + BITS > 32u) { v = v | (qw[w + 1u] << (32u - sh)); }
  return v & MASK;
}

fn zeroAt(bit: u32) -> u32 {
  let w = bit >> 5u;
  let sh = bit & 31u;
  var v = qz[w] >> sh;
  if (sh + BITS > 32u) { v = v | (qz[w + 1u] << (32u - sh)); }
  return v & MASK;
}

@compute @workgroup_size(${WG}, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c0 = gid.x * 4u;
  let r0 = gid.y * 4u;
  if (c0 >= p.N || r0 >= p.T) { return; }
  // Rows and columns past the edge repeat the last one; their results are not written.
  let cs = min(vec4<u32>(c0, c0 + 1u, c0 + 2u, c0 + 3u), vec4<u32>(p.N - 1u));
  let xr = min(vec4<u32>(r0, r0 + 1u, r0 + 2u, r0 + 3u), vec4<u32>(p.T - 1u)) * p.K;
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);
  for (var b = 0u; b < p.kBlocks; b++) {
    let g = cs * p.kBlocks + vec4<u32>(b);
    let s = vec4<f32>(scales[g.x], scales[g.y], scales[g.z], scales[g.w]);
    var z = vec4<f32>(f32(1u << (BITS - 1u)));
    if (p.zeroMode == 1u) {
      let zb = cs * (p.zeroRowBytes * 8u) + vec4<u32>(b * BITS);
      z = vec4<f32>(f32(zeroAt(zb.x)), f32(zeroAt(zb.y)), f32(zeroAt(zb.z)), f32(zeroAt(zb.w)));
    } else if (p.zeroMode == 2u) {
      z = vec4<f32>(fz[g.x], fz[g.y], fz[g.z], fz[g.w]);
    }
    let k0 = b * p.blockSize;
    let n = min(p.blockSize, p.K - k0);
    let base = g * (p.blobSize * 8u);
    ${wordPath}{
      for (var i = 0u; i < n; i++) {
        let bit = base + vec4<u32>(i * BITS);
        let u = vec4<f32>(f32(codeAt(bit.x)), f32(codeAt(bit.y)), f32(codeAt(bit.z)), f32(codeAt(bit.w)));
        let w = (u - z) * s;
        let k = k0 + i;
        a0 += x[xr.x + k] * w;
        a1 += x[xr.y + k] * w;
        a2 += x[xr.z + k] * w;
        a3 += x[xr.w + k] * w;
      }
    }
  }
  var bv = vec4<f32>(0.0);
  if (p.hasBias != 0u) { bv = vec4<f32>(bias[cs.x], bias[cs.y], bias[cs.z], bias[cs.w]); }
  var acc = array<vec4<f32>, 4>(a0 + bv, a1 + bv, a2 + bv, a3 + bv);
  for (var r = 0u; r < 4u; r++) {
    let row = r0 + r;
    if (row >= p.T) { break; }
    for (var j = 0u; j < 4u; j++) {
      let c = c0 + j;
      if (c < p.N) { y[row * p.N + c] = acc[r][j]; }
    }
  }
}`;
}

const sources = new Map<number, PipelineSource>();

/** The kernel for one bit width (compiled once per width). */
export function matmulNbitsSource(bits: number): PipelineSource {
  let s = sources.get(bits);
  if (!s) {
    s = { name: 'matmul-nbits', code: code(bits), key: `matmul-nbits-${bits}` };
    sources.set(bits, s);
  }
  return s;
}

export interface NbitsShape {
  T: number;
  N: number;
  K: number;
  bits: number;
  blockSize: number;
  kBlocks: number;
  blobSize: number;
  /** 0: default 2^(bits−1); 1: packed codes; 2: float. */
  zeroMode: 0 | 1 | 2;
  zeroRowBytes: number;
}

export function dispatchMatmulNbits(
  rt: GpuRuntime,
  buf: { x: GPUBuffer; qweight: GPUBuffer; scales: GPUBuffer; qzeros: GPUBuffer; fzeros: GPUBuffer; bias: GPUBuffer | null; dummy: GPUBuffer; y: GPUBuffer },
  s: NbitsShape,
): void {
  rt.dispatch(
    'matmul-nbits',
    rt.pipeline(matmulNbitsSource(s.bits)),
    [{ buffer: buf.x }, { buffer: buf.qweight }, { buffer: buf.scales }, { buffer: buf.qzeros }, { buffer: buf.fzeros }, { buffer: buf.bias ?? buf.dummy }, { buffer: buf.y }],
    { u32: [s.T, s.N, s.K, s.blockSize, s.kBlocks, s.blobSize, s.zeroMode, s.zeroRowBytes, buf.bias ? 1 : 0] },
    [Math.ceil(s.N / 4 / WG), Math.ceil(s.T / 4), 1],
  );
}

/**
 * Packed linears in a Hub-layout checkpoint (save.ts writes, load.ts reads).
 *
 * A quantized decoder linear `P` (e.g. `model.layers.0.self_attn.q_proj`) is stored as
 *   P.qweight  U8  [N, k_blocks, blob_size]   the code bit streams (backend/packed-linear.ts; MatMulNBits B)
 *   P.scales   F32 [N, k_blocks]
 *   P.qzeros   U8  [N, ⌈k_blocks·bits/8⌉]     packed integer zero points (asymmetric RTN), or
 *   P.zeros    F32 [N, k_blocks]              float zero points (L4Q with offsets), or neither
 *                                              (zero point 2^(bits−1), symmetric)
 * instead of P.weight, and config.json gets
 *   "quantization_config": { "quant_method": "pq-studio", "format": "matmulnbits",
 *     "bits": B, "group_size": G | null, "block_size_rule": "min(group_size, in_features)", … }
 * The block size of a linear with K input features is min(G, K), or K when G is null
 * (per-channel), the rule RTN uses (quant/rtn.ts); the loader checks every tensor shape against it.
 */
import { StudioError } from '../errors';
import { CODE_BITS, groupWidth, isCodeBits, isGroupSize } from '../rules';
import type { ModelConfig } from './config';
import type { TensorToWrite } from './safetensors';
import { readJson, type FileSource } from './source';
import { hfLayerNames, LINEAR_NAMES, type HostTensor, type ModelWeights, type TensorProvider } from './weights';
import { dequantize, packedGeometry, type PackedLinear } from '../backend/packed-linear';

export interface QuantizationConfig {
  bits: number;
  groupSize: number | null;
}

/** Blocks of a linear with `cols` inputs under the saved rule (rules.ts groupWidth). */
export function blockSizeFor(cols: number, groupSize: number | null): number {
  return groupWidth(groupSize, cols);
}

/** The tensors that replace `<prefix>.weight` for a packed linear. */
export function packedTensors(prefix: string, p: PackedLinear): TensorToWrite[] {
  const out: TensorToWrite[] = [
    { name: `${prefix}.qweight`, dtype: 'U8', shape: [p.rows, p.kBlocks, p.blobSize], data: p.qweight },
    { name: `${prefix}.scales`, dtype: 'F32', shape: [p.rows, p.kBlocks], data: p.scales },
  ];
  if (p.qzeros) out.push({ name: `${prefix}.qzeros`, dtype: 'U8', shape: [p.rows, Math.ceil((p.kBlocks * p.bits) / 8)], data: p.qzeros });
  if (p.fzeros) out.push({ name: `${prefix}.zeros`, dtype: 'F32', shape: [p.rows, p.kBlocks], data: p.fzeros });
  return out;
}

/** config.json's quantization_config for weights with packed linears, or null when none are. */
export function quantizationConfigJson(w: ModelWeights<HostTensor>): Record<string, unknown> | null {
  const packed = w.layers.flatMap((l) => LINEAR_NAMES.flatMap((n) => (l[n].packed ? [l[n].packed!] : [])));
  if (packed.length === 0) return null;
  const bits = new Set(packed.map((p) => p.bits));
  if (bits.size > 1) throw new StudioError('input', `saving: the linears use different bit widths (${[...bits].join(', ')}), which one quantization_config cannot describe`);
  // Linears whose block is shorter than their row tell the group size; if there are none, every block is a whole row (per-channel).
  const groups = new Set(packed.filter((p) => p.blockSize < p.cols).map((p) => p.blockSize));
  if (groups.size > 1) throw new StudioError('input', `saving: the linears use different group sizes (${[...groups].join(', ')})`);
  const groupSize = groups.size ? [...groups][0]! : null;
  for (const p of packed) {
    if (p.blockSize !== blockSizeFor(p.cols, groupSize)) throw new StudioError('input', `saving: a [${p.rows}, ${p.cols}] linear has blocks of ${p.blockSize}, not min(group ${groupSize}, ${p.cols})`);
  }
  return {
    quant_method: 'pq-studio',
    format: 'matmulnbits',
    bits: [...bits][0]!,
    group_size: groupSize,
    block_size_rule: 'min(group_size, in_features); in_features when group_size is null',
    tensors: '<linear>.qweight U8 [N, k_blocks, blob_size] (low bits first), <linear>.scales F32 [N, k_blocks], <linear>.qzeros U8 packed or <linear>.zeros F32 [N, k_blocks] (absent: 2^(bits-1))',
  };
}

/** quantization_config of a checkpoint directory, or null for a float checkpoint. */
export async function readQuantizationConfig(src: FileSource, signal?: AbortSignal): Promise<QuantizationConfig | null> {
  const raw = (await readJson(src, 'config.json', signal)) as Record<string, unknown>;
  const q = raw?.quantization_config as Record<string, unknown> | undefined;
  if (q === undefined || q === null) return null;
  const where = `${src.label}/config.json: quantization_config`;
  if (typeof q !== 'object' || q.quant_method !== 'pq-studio') throw new StudioError('config', `${where}: only "quant_method": "pq-studio" (this studio's packed format) can be loaded, got ${JSON.stringify(q.quant_method ?? q)}`);
  const bits = q.bits;
  const g = q.group_size;
  if (typeof bits !== 'number' || !isCodeBits(bits)) throw new StudioError('config', `${where}: bits must be an integer from ${CODE_BITS.text}, got ${JSON.stringify(bits)}`);
  if (g !== null && (typeof g !== 'number' || !isGroupSize(g))) throw new StudioError('config', `${where}: group_size must be a positive integer or null, got ${JSON.stringify(g)}`);
  return { bits, groupSize: g as number | null };
}

/** Tensor names of the packed linears (so that a loader reading only wanted tensors keeps them). */
export function packedTensorNames(cfg: ModelConfig): string[] {
  const out: string[] = [];
  for (let i = 0; i < cfg.numLayers; i++) {
    const n = hfLayerNames(i);
    for (const l of LINEAR_NAMES) {
      const p = n[l].replace(/\.weight$/, '');
      out.push(`${p}.qweight`, `${p}.scales`, `${p}.qzeros`, `${p}.zeros`);
    }
  }
  return out;
}

/**
 * A TensorProvider that serves `<P>.weight` of a packed linear as its dequantization, and
 * `attach`, which afterwards puts the PackedLinear on the loaded HostTensors.
 */
export function packedProvider(base: TensorProvider, u8: (name: string) => { shape: number[]; bytes: Uint8Array } | null, qc: QuantizationConfig, file: string) {
  const byData = new Map<Float32Array, PackedLinear>();
  const fail = (m: string): never => {
    throw new StudioError('weights', `${file}: ${m}`);
  };
  const cache = new Map<string, { shape: number[]; data: Float32Array; packed: PackedLinear } | null>();
  const packedOf = (weightName: string) => {
    if (cache.has(weightName)) return cache.get(weightName)!;
    const p = weightName.replace(/\.weight$/, '');
    const qw = u8(`${p}.qweight`);
    if (!qw) {
      cache.set(weightName, null);
      return null;
    }
    if (!base.has(`${p}.scales`)) fail(`missing tensor "${p}.scales" next to "${p}.qweight"`);
    const [rows, kBlocks] = base.shape(`${p}.scales`) as [number, number];
    // K is not stored; it is the input width the weight must have, found from the scales and the rule.
    const cols = inputWidth(p, kBlocks, qc.groupSize);
    const bs = blockSizeFor(cols, qc.groupSize);
    const geo = packedGeometry(rows, cols, qc.bits, bs);
    const want = [rows, geo.kBlocks, geo.blobSize];
    if (qw.shape.join() !== want.join()) fail(`tensor "${p}.qweight" has shape [${qw.shape.join(', ')}], expected [${want.join(', ')}] for ${qc.bits}-bit blocks of ${bs}`);
    const qz = u8(`${p}.qzeros`);
    if (qz && qz.shape.join() !== [rows, geo.zeroRowBytes].join()) fail(`tensor "${p}.qzeros" has shape [${qz.shape.join(', ')}], expected [${rows}, ${geo.zeroRowBytes}]`);
    const fz = base.has(`${p}.zeros`) ? base.float32(`${p}.zeros`) : null;
    if (fz && fz.length !== rows * geo.kBlocks) fail(`tensor "${p}.zeros" has ${fz.length} values, expected ${rows * geo.kBlocks}`);
    if (qz && fz) fail(`linear "${p}" has both qzeros and zeros`);
    const packed: PackedLinear = { rows, cols, bits: qc.bits, blockSize: bs, kBlocks: geo.kBlocks, blobSize: geo.blobSize, qweight: qw.bytes, scales: base.float32(`${p}.scales`), qzeros: qz?.bytes ?? null, fzeros: fz };
    const entry = { shape: [rows, cols], data: dequantize(packed), packed };
    byData.set(entry.data, packed);
    cache.set(weightName, entry);
    return entry;
  };
  // The input width of each linear is set by the model shape; the loader gives it to us via `widths`.
  const widths = new Map<string, number>();
  const inputWidth = (prefix: string, kBlocks: number, g: number | null): number => {
    const k = widths.get(prefix);
    if (k === undefined) fail(`no input width known for "${prefix}"`);
    if (Math.ceil(k! / blockSizeFor(k!, g)) !== kBlocks) fail(`tensor "${prefix}.scales" has ${kBlocks} blocks per row; ${k} inputs in groups of ${g ?? k} make ${Math.ceil(k! / blockSizeFor(k!, g))}`);
    return k!;
  };
  const provider: TensorProvider = {
    has: (n) => base.has(n) || packedOf(n) !== null,
    shape: (n) => (base.has(n) ? base.shape(n) : packedOf(n)!.shape),
    float32: (n) => (base.has(n) ? base.float32(n) : packedOf(n)!.data),
  };
  return {
    provider,
    /** Tells the provider the input width of each linear (from the config: hidden, q width, intermediate per layer). */
    setWidths(cfg: ModelConfig) {
      for (let i = 0; i < cfg.numLayers; i++) {
        const n = hfLayerNames(i);
        const shape = cfg.layerShapes?.[i];
        const heads = shape?.numHeads ?? cfg.numHeads;
        const inter = shape?.intermediateSize ?? cfg.intermediateSize;
        for (const l of LINEAR_NAMES) {
          const k = l === 'o' ? heads * cfg.headDim : l === 'down' ? inter : cfg.hiddenSize;
          widths.set(n[l].replace(/\.weight$/, ''), k);
        }
      }
    },
    attach(w: ModelWeights<HostTensor>): void {
      for (const l of w.layers) {
        for (const n of LINEAR_NAMES) {
          const p = byData.get(l[n].data);
          if (p) l[n].packed = p;
        }
      }
    },
  };
}

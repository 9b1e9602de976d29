/**
 * Rules that a form, the record schema and a method all apply, written once here.
 *
 * The fraction a pruning method removes (magnitude's and Wanda's sparsity, FLAP's pruning
 * ratio) lies in [0, 1): FLAP cannot remove 100 % of a model (its thresholds need a head
 * or channel left to compare with, and a layer without any would have no output), and a
 * sparsity of 1 zeroes every weight, which no comparison of methods needs. The Method
 * panel, the `studio prune` options, record.ts's schema and FLAP's check import it.
 */
export const PRUNE_FRACTION = {
  min: 0,
  /** Exclusive. */
  below: 1,
  /** The range as messages write it. */
  text: '[0, 1)',
} as const;

/** Whether p is a fraction a pruning method may remove (0 ≤ p < 1). */
export function isPruneFraction(p: number): boolean {
  return p >= PRUNE_FRACTION.min && p < PRUNE_FRACTION.below;
}

/**
 * The largest fraction the Method panel's number inputs offer (their HTML max, which is
 * inclusive, and the hint's "0 to 0.99"): PRUNE_FRACTION's bound is exclusive, and an
 * input cannot say "below 1", so it stops at the largest two-decimal value below it. A
 * typed fraction between 0.99 and 1 is still accepted (isPruneFraction decides, not the hint).
 */
export const PRUNE_FRACTION_INPUT_MAX = 0.99;

/**
 * The bit widths a quantizer writes codes in: whole numbers from 2 to 8. The packed layout
 * (backend/packed-linear.ts, ONNX Runtime's MatMulNBits layout) stores codes of at most 8
 * bits as a little-endian bit stream with a zero point below 2^8; below 2 bits the signed
 * grid −2^(b−1) … 2^(b−1)−1 of L4Q and the symmetric rules has no positive code. The
 * packed layout's checkBits, L4Q's grid (quantGrid), record.ts's rtn and l4q schemas, a
 * quantized checkpoint's config, the panels' bits sweep and `studio quantize --bits` import it.
 */
export const CODE_BITS = {
  min: 2,
  max: 8,
  /** The range as messages write it. */
  text: '2 to 8',
} as const;

/** Whether b is a bit width a quantizer accepts (an integer from 2 to 8). */
export function isCodeBits(b: number): boolean {
  return Number.isInteger(b) && b >= CODE_BITS.min && b <= CODE_BITS.max;
}

/**
 * Group sizes (quantization scales, L4Q's steps and offsets): G consecutive input columns
 * of a row share one, G a positive integer, or null = one per output row (per channel).
 * There is no upper bound: a group wider than a row is the whole row (groupWidth). The
 * panels offer `choices` and per channel; the CLI, the record schema, RTN and L4Q take
 * any valid size. (The L4Q trainer's options write per channel as 0, quant/train.ts.)
 */
export const GROUP_SIZE = {
  min: 1,
  /** The sizes the RTN and L4Q panels offer (besides per channel). */
  choices: [32, 64, 128],
} as const;

/** Whether g is a valid group size: null (per channel) or a positive (safe) integer. */
export function isGroupSize(g: number | null): boolean {
  return g === null || (Number.isSafeInteger(g) && g >= GROUP_SIZE.min);
}

/**
 * The width of a group in a row of `cols` input columns: G, the whole row when G ≥ cols
 * or per channel (null). A row of K columns has ⌈K / width⌉ groups, the last one shorter
 * when the width does not divide K. RTN's block size, the saved checkpoint's
 * block_size_rule, L4Q's groups and its memory estimate all use this.
 */
export function groupWidth(groupSize: number | null, cols: number): number {
  return groupSize === null ? cols : Math.min(groupSize, cols);
}

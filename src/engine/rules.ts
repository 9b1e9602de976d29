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

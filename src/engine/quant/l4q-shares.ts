/**
 * The two shares an L4Q run is judged by, from its record (the CLI's summary and the
 * studio's L4Q result print them; docs/benchmarks.md#l4q-on-stories260k quotes them):
 *
 * - recovered: how much of the perplexity that RTN loses against the dense model the L4Q
 *   model wins back, (RTN − L4Q) / (RTN − dense) — the "at least half" target;
 *   above 1 when L4Q ends below the dense model (its training is also an in-domain fine-tune);
 * - merged kept: how much of what the RTN-then-LoRA baseline's float adapters gained over RTN
 *   is left once they are merged and the weights rounded again,
 *   (RTN − merged) / (RTN − unmerged).
 *
 * Both are null when a number is missing or the gap they divide by is not positive (RTN
 * lost nothing; the adapters gained nothing): a share of nothing means nothing.
 */
import type { ExperimentRecord } from '../record';

/** (from − reached) / (from − to): the part of the way from `from` to `to` that `reached` went. */
export function gapShare(from: number, to: number, reached: number): number | null {
  const gap = from - to;
  return gap > 0 && Number.isFinite(gap) && Number.isFinite(reached) ? (from - reached) / gap : null;
}

export function l4qRecoveredShare(r: ExperimentRecord): number | null {
  const rtn = r.training?.rtn?.ppl;
  const dense = r.baseline?.ppl;
  return rtn === undefined || dense === undefined ? null : gapShare(rtn, dense, r.ppl);
}

export function rtnLoraMergedKeptShare(r: ExperimentRecord): number | null {
  const t = r.training;
  if (!t?.rtn || !t.rtnLora || !t.rtnLoraMerged) return null;
  return gapShare(t.rtn.ppl, t.rtnLora.ppl, t.rtnLoraMerged.ppl);
}

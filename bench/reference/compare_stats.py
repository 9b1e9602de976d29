#!/usr/bin/env python3
"""The calibration statistics themselves: the studio's (dump-stats.ts) against the official running
updates (ref_stats.py) on the dense model, same samples. Shows how far apart the two float32
computations are (float summation order, float64 per-sample sums in the studio), which bounds
how close two scores must be for a mask to come out differently.

  npx tsx bench/reference/dump-stats.ts --out /tmp/stats.json [--expand-gqa] [calibration options]
  /usr/bin/python3 bench/reference/compare_stats.py /tmp/stats.json [--expand-gqa] [same calibration options]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)

import ref_model  # noqa: E402
import ref_prune  # noqa: E402
from ref_stats import FlapStats, WandaStats, hook_stats  # noqa: E402

POINTS = {"attnIn": "self_attn.q_proj", "o": "self_attn.o_proj", "mlpIn": "mlp.gate_proj", "down": "mlp.down_proj"}


def reference_stats(model, inps):
    out = []
    for layer in model.layers:
        mods = ref_prune.linears_of(layer, list(POINTS.values()))
        wanda, rm1 = hook_stats(mods, lambda lin: WandaStats(lin.weight.shape[1]))
        flap, rm2 = hook_stats(mods, lambda lin: FlapStats(lin.weight.shape[1], "WIFV"))
        inps = ref_prune.run_layer(layer, model, inps)
        rm1()
        rm2()
        out.append({p: {"scaler": wanda[n].scaler_row, "flapMean": flap[n].baseline_inp, "flapFluc": flap[n].fluc_inp} for p, n in POINTS.items()})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stats")
    ap.add_argument("--expand-gqa", action="store_true")
    ap.add_argument("--calib-dataset", default="tinystories")
    ap.add_argument("--calib-samples", type=int, default=64)
    ap.add_argument("--calib-seqlen", type=int, default=128)
    ap.add_argument("--calib-offset", type=int, default=200000)
    ap.add_argument("--calib-seed", type=int, default=None)
    ap.add_argument("--work", default="/tmp/pq-reference")
    a = ap.parse_args()
    with open(a.stats) as fh:
        ours = json.load(fh)
    cfg, t = ref_model.load_checkpoint(os.path.join(os.path.dirname(os.path.dirname(HERE)), "public", "models", "stories260K"))
    model = ref_model.Llama(cfg, t)
    if a.expand_gqa:
        ref_prune.expand_gqa(model)
    stream = np.fromfile(os.path.join(a.work, "tokens", f"{a.calib_dataset}.i32"), dtype="<i4")
    starts = ref_prune.calibration_offsets(len(stream), a.calib_samples, a.calib_seqlen, a.calib_offset, a.calib_seed)
    print(f"sample offsets: {'identical' if starts == ours['starts'] else 'DIFFERENT'} ({starts[:3]}...)")
    ref = reference_stats(model, ref_prune.calibration_inputs(model, stream, starts, a.calib_seqlen))
    print("| layer | input of | scaler: max rel. diff, bit-equal | mean: max diff / max abs mean | fluctuation: max rel. diff |")
    print("| --- | --- | --- | --- | --- |")
    worst = {"scaler": 0.0, "flapMean": 0.0, "flapFluc": 0.0}
    for i, layer in enumerate(ref):
        for p, st in layer.items():
            o = {k: torch.tensor(ours["layers"][i][p][k], dtype=torch.float32) for k in ("scaler", "flapMean", "flapFluc")}
            sc = float(((o["scaler"] - st["scaler"]).abs() / st["scaler"].abs()).max())
            eq = float((o["scaler"] == st["scaler"]).float().mean())
            mn = float((o["flapMean"] - st["flapMean"]).abs().max() / st["flapMean"].abs().max())
            fl = float(((o["flapFluc"] - st["flapFluc"]).abs() / st["flapFluc"].abs()).max())
            worst = {"scaler": max(worst["scaler"], sc), "flapMean": max(worst["flapMean"], mn), "flapFluc": max(worst["flapFluc"], fl)}
            print(f"| {i} | {POINTS[p]} | {sc:.1e}, {100 * eq:.0f}% | {mn:.1e} | {fl:.1e} |")
    print(f"worst: scaler {worst['scaler']:.1e}, mean {worst['flapMean']:.1e}, fluctuation {worst['flapFluc']:.1e}")


if __name__ == "__main__":
    main()

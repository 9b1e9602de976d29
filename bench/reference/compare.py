#!/usr/bin/env python3
"""Cross-check of `studio prune` against the official Wanda and FLAP behaviour, re-implemented in
PyTorch (ref_model.py, ref_stats.py, ref_prune.py). A by-hand check, not part of `npm test`.

  /usr/bin/python3 bench/reference/compare.py [--windows 0:4] [--only TEXT] [--work /tmp/pq-reference]
                                              [--markdown FILE] [--json FILE] [--backend cpu|webgpu]

Needs PyTorch and NumPy (Debian: apt-get install -y python3-torch python3-numpy) and the
studio's node_modules. For every setting it runs `npx studio prune --model stories260K ...
--json --out DIR` (CPU backend) and the reference with the same settings on the same token ids
(dumped by dump-tokens.ts, run on first use), then compares:
  magnitude / Wanda  the zero pattern of every decoder matrix (fraction of entries that differ),
                     and for a differing Wanda row how close its two boundary scores were;
  FLAP               kept heads and MLP channels per layer (recovered from our checkpoint by
                     matching its rows to the dense model's), the compensation biases (max |diff|)
                     and the standardized head scores;
  all                perplexity: ours (the record), the reference forward on our checkpoint, and the
                     reference forward on the reference's own pruned model; dense likewise.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import ref_model  # noqa: E402
import ref_prune  # noqa: E402
from ref_model import LINEARS  # noqa: E402

MODEL_DIR = os.path.join(ROOT, "public", "models", "stories260K")
DEFAULT_CALIB = {"dataset": "tinystories", "samples": 64, "seqlen": 128, "offset": 200000, "seed": None}


def setting(name, method, cli, ref, calib=None, expand=False):
    return {"name": name, "method": method, "cli": cli, "ref": ref, "calib": dict(DEFAULT_CALIB, **(calib or {})), "expand": expand}


def control(s, extra_cli):
    """A negative control: the studio runs with a deliberately different option, so the
    comparison must report differences (it shows the check can fail)."""
    return dict(s, name=f"control: {s['name']}, studio {' '.join(extra_cli)}", cli=s["cli"] + extra_cli)


def flap(name, ratio=0.2, metric="WIFV", structure="AL-AM", remove_heads=None, bias=True, fp16=False, calib=None):
    cli = ["--method", "flap", "--expand-gqa", "--sparsity", str(ratio), "--metric", metric, "--structure", structure]
    if remove_heads is not None:
        cli += ["--remove-heads", str(remove_heads)]
    if not bias:
        cli += ["--no-bias"]
    if fp16:
        cli += ["--baseline-fp16"]
    ref = dict(ratio=ratio, metric=metric, structure=structure, remove_heads=-1 if remove_heads is None else remove_heads, bias=bias, baseline_fp16=fp16)
    return setting(name, "flap", cli, ref, calib, expand=True)


WIKI_SEED0 = {"dataset": "wikitext2", "seed": 0}
SHAKE = {"dataset": "shakespeare", "samples": 128, "seqlen": 256, "seed": 3}

SETTINGS = [
    setting("magnitude 50%", "magnitude", ["--method", "magnitude", "--sparsity", "0.5"], dict(sparsity=0.5)),
    setting("magnitude 2:4", "magnitude", ["--method", "magnitude", "--pattern", "2:4"], dict(sparsity=0.5, pattern=(2, 4))),
    setting("magnitude 4:8", "magnitude", ["--method", "magnitude", "--pattern", "4:8"], dict(sparsity=0.5, pattern=(4, 8))),
    setting("wanda 50% sequential", "wanda", ["--method", "wanda", "--sparsity", "0.5"], dict(sparsity=0.5)),
    setting("wanda 50% one-shot", "wanda", ["--method", "wanda", "--sparsity", "0.5", "--one-shot"], dict(sparsity=0.5, one_shot=True)),
    setting("wanda 2:4", "wanda", ["--method", "wanda", "--pattern", "2:4"], dict(sparsity=0.5, pattern=(2, 4))),
    setting("wanda 4:8", "wanda", ["--method", "wanda", "--pattern", "4:8"], dict(sparsity=0.5, pattern=(4, 8))),
    setting("wanda variant 50%", "wanda", ["--method", "wanda", "--sparsity", "0.5", "--variant"], dict(sparsity=0.5, variant=True)),
    setting("wanda 30% seed 0 wikitext2", "wanda", ["--method", "wanda", "--sparsity", "0.3"], dict(sparsity=0.3), WIKI_SEED0),
    flap("flap WIFV AL-AM 20%"),
    flap("flap WIFV AL-AM 50%", ratio=0.5),
    flap("flap WIFN AL-AM 20%", metric="WIFN"),
    flap("flap IFV AL-AM 20%", metric="IFV"),
    flap("flap WIFV UL-UM 20%", structure="UL-UM"),
    flap("flap WIFN UL-UM 20%", metric="WIFN", structure="UL-UM"),
    flap("flap IFV UL-UM 50%", metric="IFV", structure="UL-UM", ratio=0.5),
    flap("flap WIFV UL-MM 20% rh 10", structure="UL-MM", remove_heads=10),
    flap("flap WIFV AL-MM 20% rh 8", structure="AL-MM", remove_heads=8),
    flap("flap WIFV AL-AM 20% no bias", bias=False),
    flap("flap WIFV AL-AM 20% fp16 baseline", fp16=True),
    flap("flap WIFV AL-AM 20% seed 0 wikitext2", calib=WIKI_SEED0),
    # Larger and other calibration sets, higher ratios.
    setting("wanda 70% 128x256 shakespeare seed 3", "wanda", ["--method", "wanda", "--sparsity", "0.7"], dict(sparsity=0.7), SHAKE),
    flap("flap WIFV AL-AM 40% 128x256 shakespeare seed 3", ratio=0.4, calib=SHAKE),
    flap("flap WIFN AL-MM 30% rh 12 128x256 shakespeare seed 3", ratio=0.3, metric="WIFN", structure="AL-MM", remove_heads=12, calib=SHAKE),
    # Negative controls: expected to differ.
    control(setting("wanda 50% sequential", "wanda", ["--method", "wanda", "--sparsity", "0.5"], dict(sparsity=0.5)), ["--one-shot"]),
    control(flap("flap WIFV AL-AM 20%"), ["--fluctuation", "variance"]),
]


# ---------------------------------------------------------------------------------------------


def run_studio(s, windows, out_dir, backend):
    c = s["calib"]
    cmd = ["npx", "--no-install", "studio", "prune", "--model", "stories260K", *s["cli"], "--windows", windows, "--json", "--out", out_dir, "--backend", backend]
    cmd += ["--calib-dataset", c["dataset"], "--calib-samples", str(c["samples"]), "--calib-seqlen", str(c["seqlen"])]
    cmd += ["--calib-seed", str(c["seed"])] if c["seed"] is not None else ["--calib-offset", str(c["offset"])]
    t0 = time.time()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return json.loads(p.stdout), time.time() - t0


def tokens(work, name):
    path = os.path.join(work, "tokens", f"{name}.i32")
    if not os.path.exists(path):
        subprocess.run(["npx", "--no-install", "tsx", os.path.join(HERE, "dump-tokens.ts"), "--out", os.path.join(work, "tokens"), "--dataset", "tinystories,wikitext2,shakespeare"], cwd=ROOT, check=True)
    return np.fromfile(path, dtype="<i4")


def run_reference(s, work):
    cfg, t = ref_model.load_checkpoint(MODEL_DIR)
    model = ref_model.Llama(cfg, t)
    if s["expand"]:
        ref_prune.expand_gqa(model)
    c = s["calib"]
    stream = tokens(work, c["dataset"])
    starts = ref_prune.calibration_offsets(len(stream), c["samples"], c["seqlen"], c["offset"], c["seed"])
    t0 = time.time()
    r = s["ref"]
    if s["method"] == "magnitude":
        out = ref_prune.prune_magnitude(model, r["sparsity"], r.get("pattern"))
    else:
        inps = ref_prune.calibration_inputs(model, stream, starts, c["seqlen"])
        if s["method"] == "wanda":
            out = ref_prune.prune_wanda(model, inps, r["sparsity"], r.get("pattern"), r.get("variant", False), r.get("one_shot", False))
        else:
            out = ref_prune.prune_flap(model, inps, **r)
    out["seconds"] = time.time() - t0
    out["starts"] = starts
    return model, out


# ---------------------------------------------------------------------------------------------


def boundary_gap(scores_row, k):
    """Relative gap between the k-th and (k+1)-th smallest score of a row (0 = an exact tie)."""
    v = torch.sort(scores_row.double())[0]
    return float((v[k] - v[k - 1]) / v[k]) if 0 < k < len(v) and v[k] > 0 else float("nan")


def closest_call_unstructured(s, ref):
    """The smallest relative gap, over every row (Wanda) or row block (N:M), between the last
    pruned and the first kept score of the reference: how close the selection came to a tie."""
    r = s["ref"]
    if "scores" not in ref or r.get("variant"):
        return None
    best = float("inf")
    for metric in ref["scores"].values():
        v = metric.double()
        if r.get("pattern"):
            n, m = r["pattern"]
            for b in range(0, v.shape[1], m):
                blk = torch.sort(v[:, b : b + m], dim=1)[0]
                if blk.shape[1] > n:
                    best = min(best, float(((blk[:, n] - blk[:, n - 1]) / blk[:, n]).min()))
        else:
            k = int(v.shape[1] * r["sparsity"])
            srt = torch.sort(v, dim=1)[0]
            best = min(best, float(((srt[:, k] - srt[:, k - 1]) / srt[:, k]).min()))
    return best


def closest_call_flap(ref):
    """UL-*: smallest relative gap at each layer's cut; AL-*: smallest distance (in standardized
    units) between the global threshold and its neighbours in the sorted list."""
    if "uniformCuts" in ref:
        best = float("inf")
        for scores, k in ref["uniformCuts"]:
            v = torch.sort(scores.double())[0]
            if 0 < k < len(v):
                best = min(best, float((v[k] - v[k - 1]) / v[k]))
        return {"kind": "relative", "gap": best}
    best = float("inf")
    for scores, thr in ref["globalCuts"]:
        v = torch.sort(scores.double(), descending=True)[0]
        i = int(torch.where(v == float(thr))[0][0])
        for j in (i - 1, i + 1):
            if 0 <= j < len(v):
                best = min(best, abs(float(v[j] - v[i])))
    return {"kind": "absolute (z units)", "gap": best}


def compare_unstructured(s, rec, ours, ref):
    rows = []
    total = diff = 0
    gaps = []
    for (i, name), mask in sorted(ref["masks"].items()):
        w = ours[f"model.layers.{i}.{name}.weight"]
        ours_mask = w == 0
        d = ours_mask != mask
        total += mask.numel()
        diff += int(d.sum())
        if d.any():
            rows.append({"layer": i, "matrix": name, "differing": int(d.sum()), "of": mask.numel(), "rowsDiffering": int(d.any(dim=1).sum())})
            if "scores" in ref and not s["ref"].get("pattern") and not s["ref"].get("variant"):
                k = int(mask.shape[1] * s["ref"]["sparsity"])
                for r in torch.where(d.any(dim=1))[0].tolist():
                    gaps.append(boundary_gap(ref["scores"][(i, name)][r], k))
    alphas = []
    for layer in rec.get("layers", []):
        for m in layer["matrices"]:
            key = (layer["layer"], next(n for n in LINEARS if n.endswith(m["name"] + "_proj")))
            if "alpha" in m and key in ref.get("alphas", {}):
                alphas.append(abs(m["alpha"] - ref["alphas"][key]))
    return {
        "maskEntries": total,
        "maskDiffering": diff,
        "maskDifferingFraction": diff / total,
        "matricesDiffering": rows,
        "maxBoundaryGapOfDifferingRows": max(gaps) if gaps else None,
        "maxAlphaDiff": max(alphas) if alphas else None,
        "variantEmptyRows": ref.get("variantEmptyRows"),
        "closestCall": closest_call_unstructured(s, ref),
    }


def kept_rows(dense, pruned, block):
    """Indices of the dense row blocks that a pruned matrix keeps (matched by exact equality)."""
    dense_b = dense.reshape(-1, block * dense.shape[1])
    pruned_b = pruned.reshape(-1, block * pruned.shape[1])
    out = []
    for r in pruned_b:
        hits = torch.where((dense_b == r).all(dim=1))[0]
        out.append(int(hits[0]) if len(hits) else -1)
    return out


def compare_flap(s, rec, ours, ref, dense_mha, d):
    layers = []
    bias_diff = {"o": 0.0, "down": 0.0}
    same_all = True
    heads_diff = chans_diff = 0
    for i in range(len(ref["biases"])):
        p = f"model.layers.{i}."
        ours_heads = kept_rows(dense_mha[p + "self_attn.q_proj.weight"], ours[p + "self_attn.q_proj.weight"], d)
        ours_chans = kept_rows(dense_mha[p + "mlp.gate_proj.weight"], ours[p + "mlp.gate_proj.weight"], 1)
        ref_heads = torch.where(ref["attnMask"][i])[0].tolist()
        ref_chans = torch.where(ref["mlpMask"][i])[0].tolist()
        same = ours_heads == ref_heads and ours_chans == ref_chans
        same_all &= same
        heads_diff += len(set(ours_heads) ^ set(ref_heads))
        chans_diff += len(set(ours_chans) ^ set(ref_chans))
        entry = {"layer": i, "heads": [len(ours_heads), len(ref_heads)], "channels": [len(ours_chans), len(ref_chans)], "same": same}
        if same:
            for key, name in (("o", "self_attn.o_proj.bias"), ("down", "mlp.down_proj.bias")):
                rb = ref["biases"][i][key]
                ob = ours.get(p + name)
                if rb is None and ob is None:
                    continue
                if rb is None or ob is None:
                    # No removal (a zero bias) on one side, none written on the other.
                    other = rb if ob is None else ob
                    bias_diff[key] = max(bias_diff[key], float(other.abs().max()))
                else:
                    bias_diff[key] = max(bias_diff[key], float((rb - ob).abs().max()))
        else:
            entry["headsOnlyOurs"] = sorted(set(ours_heads) - set(ref_heads))
            entry["headsOnlyRef"] = sorted(set(ref_heads) - set(ours_heads))
            entry["channelsOnlyOurs"] = sorted(set(ours_chans) - set(ref_chans))
            entry["channelsOnlyRef"] = sorted(set(ref_chans) - set(ours_chans))
        layers.append(entry)
    unit_diff = None
    if "unitScores" in ref:
        ours_units = torch.tensor([l["flap"]["attentionUnitScores"] for l in rec["layers"]])
        unit_diff = float((ours_units - ref["unitScores"]).abs().max())
    return {
        "sameStructure": same_all,
        "headsDiffering": heads_diff,
        "channelsDiffering": chans_diff,
        "layers": layers,
        "maxBiasDiff": bias_diff,
        "maxUnitScoreDiff": unit_diff,
        "thresholdOurs": rec.get("flap", {}).get("attentionThreshold"),
        "thresholdRef": ref.get("threshold", ref.get("attentionThreshold")),
        "closestCall": closest_call_flap(ref),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", default="0:4", help="evaluation windows of tinystories at seqlen 512 (default 0:4)")
    ap.add_argument("--only", default=None, help="run the settings whose name contains this text")
    ap.add_argument("--work", default="/tmp/pq-reference", help="scratch folder (token dumps, checkpoints)")
    ap.add_argument("--markdown", default=None, help="write the agreement table here")
    ap.add_argument("--json", default=None, help="write every comparison here")
    ap.add_argument("--backend", default="cpu", help="the studio's backend: cpu (default) or webgpu (statistics on the GPU)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    a, b = (int(x) for x in args.windows.split(":"))
    eval_stream = tokens(args.work, "tinystories")
    dense_cfg, dense_t = ref_model.load_checkpoint(MODEL_DIR)
    dense_ref = ref_model.window_nll(ref_model.Llama(dense_cfg, dense_t), eval_stream, 512, (a, b))
    mha = ref_prune.expand_gqa(ref_model.Llama(dense_cfg, dense_t))
    dense_mha = mha.state()
    d = ref_model.head_dim_of(dense_cfg)

    results = []
    for s in SETTINGS:
        if args.only and args.only not in s["name"]:
            continue
        out_dir = os.path.join(args.work, "out", s["name"].replace(" ", "_").replace("%", "pct").replace(":", "-"))
        rec, studio_s = run_studio(s, args.windows, out_dir, args.backend)
        model, ref = run_reference(s, args.work)
        ours_cfg, ours = ref_model.load_checkpoint(out_dir)
        ppl_ref_model = ref_model.window_nll(model, eval_stream, 512, (a, b))
        ppl_ours_in_ref = ref_model.window_nll(ref_model.Llama(ours_cfg, ours), eval_stream, 512, (a, b))
        if s["method"] == "flap":
            cmp = compare_flap(s, rec, ours, ref, dense_mha, d)
        else:
            cmp = compare_unstructured(s, rec, ours, ref)
        row = {
            "setting": s["name"],
            "cli": " ".join(s["cli"]),
            "calibration": s["calib"],
            "calibrationStarts": ref["starts"][:4],
            "studioBackend": rec["backend"],
            "comparison": cmp,
            "ppl": {
                "denseOurs": rec["baseline"]["ppl"],
                "denseRef": dense_ref["ppl"],
                "ours": rec["ppl"],
                "oursCheckpointInRef": ppl_ours_in_ref["ppl"],
                "ref": ppl_ref_model["ppl"],
            },
            "seconds": {"studio": studio_s, "reference": ref["seconds"]},
        }
        results.append(row)
        print(summary_line(row), flush=True)

    table = markdown(results, args.windows)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(table)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"windows": args.windows, "torch": torch.__version__, "results": results}, fh, indent=1, default=str)


def rel(a, b):
    return abs(a - b) / abs(b)


def agreement(row):
    c = row["comparison"]
    if "maskDiffering" in c:
        return f"{c['maskDiffering']} of {c['maskEntries']} mask entries differ ({c['maskDifferingFraction']:.2e})"
    if c["sameStructure"]:
        return f"same heads and channels in every layer; bias max diff o {c['maxBiasDiff']['o']:.1e}, down {c['maxBiasDiff']['down']:.1e}"
    return f"{c['headsDiffering']} heads, {c['channelsDiffering']} channels differ"


def closest(row):
    c = row["comparison"].get("closestCall")
    if c is None:
        return "-"
    if isinstance(c, dict):
        return f"{c['gap']:.1e}" + (" (z)" if c["kind"].startswith("absolute") else " (rel.)")
    return f"{c:.1e} (rel.)"


def summary_line(row):
    p = row["ppl"]
    return f"{row['setting']:<40} {agreement(row)}; closest call {closest(row)}; ppl ours {p['ours']:.4f} / ref {p['ref']:.4f} (ours in ref {p['oursCheckpointInRef']:.4f})"


def markdown(results, windows):
    lines = [
        f"Perplexity: tinystories, seqlen 512, windows {windows}. 'ours in ref' = our --out checkpoint run by the reference forward.",
        "",
        "| setting | agreement | closest call | ppl ours | ppl reference | ppl ours in ref | rel. diff ours vs ref |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        p = r["ppl"]
        lines.append(
            f"| {r['setting']} | {agreement(r)} | {closest(r)} | {p['ours']:.4f} | {p['ref']:.4f} | {p['oursCheckpointInRef']:.4f} | {rel(p['ours'], p['ref']):.1e} |"
        )
    if results:
        p = results[0]["ppl"]
        lines += ["", f"Dense: ours {p['denseOurs']:.6f}, reference {p['denseRef']:.6f} (rel. diff {rel(p['denseOurs'], p['denseRef']):.1e})."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

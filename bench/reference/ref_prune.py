"""Magnitude, Wanda and FLAP as the official code runs them, step by step, on the PyTorch Llama of
ref_model.py. Rewritten from reading locuslab/wanda (lib/prune.py, lib/layerwrapper.py,
lib/data.py, main.py) and CASIA-IVA-Lab/FLAP (the same files), with
the project's algorithm notes (the rules are in docs/methods/pruning.md). Independent of the studio's TypeScript.

Generalisations the official code needs to run on stories260K (it hard-codes LLaMA-7B):
  - head_dim: the official code writes 128 (reshape(-1, 128), repeat_interleave(128), the
    head cost 512/3 = 4*128/3 and the MLP budget's 4*h*128); here the model's head_dim d
    (head cost 4d/3, truncated to an integer as the official int64 tensor does);
  - FLAP is MHA-only: it runs on the MHA-expanded copy (expand_gqa below);
  - the official bias uses the fp16 means of an fp16 model; our models are float32, so the
    means stay float32 unless baseline_fp16 (then they and the bias are rounded to fp16);
  - a Wanda-variant row whose smallest score already exceeds alpha*total makes the official
    gather read index -1 (a failure on CPU); such rows prune nothing here (counted).
"""
import random

import numpy as np
import torch

from ref_model import LINEARS, head_dim_of, linear, sub_module
from ref_stats import FlapStats, WandaStats, hook_stats

# ---------------------------------------------------------------------------------------------
# Calibration samples (lib/data.py): slices of one tokenization of the whole text.


def calibration_offsets(stream_len, samples, seqlen, offset=None, seed=None):
    """Sample starts: Python random.seed(seed); randint(0, T - S - 1) per sample, as the official
    loaders; or, without a seed, the studio's contiguous layout offset + i*S."""
    if seed is not None:
        random.seed(seed)
        return [random.randint(0, stream_len - seqlen - 1) for _ in range(samples)]
    return [offset + i * seqlen for i in range(samples)]


def calibration_inputs(model, stream, starts, seqlen):
    """The inputs of layer 0 for every sample (the official Catcher captures the embeddings)."""
    out = []
    for s in starts:
        ids = torch.from_numpy(stream[s : s + seqlen].astype(np.int64))[None]
        out.append(model.embed_ids(ids))
    return out


def run_layer(layer, model, inps):
    with torch.no_grad():
        return [layer(x, model.cos, model.sin) for x in inps]


def linears_of(layer, names=LINEARS):
    return {name: sub_module(layer, name) for name in names}


# ---------------------------------------------------------------------------------------------
# Selection rules (Wanda lib/prune.py)


def nm_mask(metric, n, m):
    """For every block of m columns starting at a multiple of m, the n lowest per row (torch.topk
    smallest); the last block may be shorter."""
    mask = torch.zeros_like(metric, dtype=torch.bool)
    for ii in range(0, metric.shape[1], m):
        tmp = metric[:, ii : ii + m].float()
        k = min(n, tmp.shape[1])
        mask.scatter_(1, ii + torch.topk(tmp, k, dim=1, largest=False)[1], True)
    return mask


def _given_alpha(alpha, sort_vals, metric, cumsum, row_sum):
    limit = row_sum * alpha
    sort_mask = cumsum <= limit.reshape((-1, 1))
    counts = sort_mask.sum(dim=1, keepdim=True)
    empty = counts == 0
    thres = torch.gather(sort_vals, 1, (counts - 1).clamp(min=0))
    mask = (metric <= thres) & ~empty
    return mask, (mask == True).sum() / mask.numel(), int(empty.sum())  # noqa: E712 (the official expression)


def variant_mask(metric, sparsity):
    """The appendix variant: binary search of alpha (start 0.4 in [0, 0.8])."""
    vals, _ = torch.sort(metric, dim=-1, stable=True)
    cumsum = torch.cumsum(vals, dim=1)
    row_sum = metric.sum(dim=1)
    alpha, lo, hi = 0.4, 0.0, 0.8
    mask, cur, empty = _given_alpha(alpha, vals, metric, cumsum, row_sum)
    while torch.abs(cur - sparsity) > 0.001 and hi - lo >= 0.001:
        if cur > sparsity:
            alpha, hi = (alpha + lo) / 2.0, alpha
        else:
            alpha, lo = (alpha + hi) / 2.0, alpha
        mask, cur, empty = _given_alpha(alpha, vals, metric, cumsum, row_sum)
    return mask, alpha, empty


def per_row_lowest(metric, sparsity):
    """Unstructured Wanda: the first floor(in*p) indices of the stable ascending sort of each row."""
    mask = torch.zeros_like(metric, dtype=torch.bool)
    idx = torch.sort(metric, dim=-1, stable=True)[1][:, : int(metric.shape[1] * sparsity)]
    mask.scatter_(1, idx, True)
    return mask


# ---------------------------------------------------------------------------------------------
# Magnitude (prune_magnitude)


def prune_magnitude(model, sparsity, pattern=None):
    masks = {}
    for i, layer in enumerate(model.layers):
        for name, lin in linears_of(layer).items():
            W = lin.weight.data
            metric = torch.abs(W)
            if pattern:
                mask = nm_mask(metric, *pattern)
            else:
                thresh = torch.sort(metric.flatten())[0][int(W.numel() * sparsity)]
                mask = metric <= thresh
            W[mask] = 0
            masks[(i, name)] = mask
    return {"masks": masks}


# ---------------------------------------------------------------------------------------------
# Wanda (prune_wanda): layer by layer; statistics of all seven linears from one pass of the
# current (still dense) layer over the inputs; prune; re-run the pruned layer for the next
# layer's inputs (sequential). one_shot: the next inputs are the dense layer's outputs.


def prune_wanda(model, inps, sparsity, pattern=None, variant=False, one_shot=False):
    masks, scores, alphas, empty_rows = {}, {}, {}, 0
    for i, layer in enumerate(model.layers):
        subset = linears_of(layer)
        stats, remove = hook_stats(subset, lambda lin: WandaStats(lin.weight.shape[1]))
        outs = run_layer(layer, model, inps)
        remove()
        for name, lin in subset.items():
            W = lin.weight.data
            metric = torch.abs(W) * torch.sqrt(stats[name].scaler_row.reshape((1, -1)))
            if pattern:
                mask = nm_mask(metric, *pattern)
            elif variant:
                mask, alphas[(i, name)], e = variant_mask(metric, sparsity)
                empty_rows += e
            else:
                mask = per_row_lowest(metric, sparsity)
            W[mask] = 0
            masks[(i, name)] = mask
            scores[(i, name)] = metric
        if not one_shot:
            outs = run_layer(layer, model, inps)
        inps = outs
    return {"masks": masks, "scores": scores, "alphas": alphas, "variantEmptyRows": empty_rows}


# ---------------------------------------------------------------------------------------------
# FLAP (prune_flap + compress + cal_remove_neuron)


def expand_gqa(model):
    """MHA copy: each query head gets its own copy of the key/value head it reads."""
    d = head_dim_of(model.cfg)
    for layer in model.layers:
        att = layer.self_attn
        if att.num_kv == att.num_heads:
            continue
        for name in ["k_proj", "v_proj"]:
            lin = getattr(att, name)
            blocks = lin.weight.data.view(att.num_kv, d, -1)[torch.tensor(att.kv_map)]
            bias = None if lin.bias is None else lin.bias.data.view(att.num_kv, d)[torch.tensor(att.kv_map)].reshape(-1)
            setattr(att, name, linear(blocks.reshape(att.num_heads * d, -1), bias))
        att.num_kv = att.num_heads
        att.kv_map = list(range(att.num_heads))
    model.cfg = dict(model.cfg, num_key_value_heads=model.cfg["num_attention_heads"])
    return model


def _flap_metric(metric, st, W):
    if metric == "IFV":
        return st.fluc_inp
    if metric == "WIFV":
        return st.fluc_inp * torch.sum(W.pow(2), dim=0)
    return (torch.abs(W) * torch.sqrt(st.scaler_inp.reshape((1, -1)))).mean(axis=0)


def _remove_neurons(structure, ratio, remove_heads, cfg, d):
    h, I, L = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    if structure == "UL-MM":
        params = ratio * (I * h * 3 + h * h * 4)
        head_params = h * 4 * (remove_heads // L) * d
    else:
        params = L * ratio * (I * h * 3 + h * h * 4)
        head_params = h * 4 * remove_heads * d
    return int((params - head_params) / (h * 3))


def _standardize(x):
    return (x - torch.mean(x, axis=1, keepdim=True)) / torch.std(x, axis=1, keepdim=True)


def prune_flap(model, inps, ratio, metric="WIFV", structure="AL-AM", remove_heads=-1, bias=True, baseline_fp16=False):
    cfg = model.cfg
    d = head_dim_of(cfg)
    L = len(model.layers)
    attn_metrics, mlp_metrics, attn_means, mlp_means = [], [], [], []
    attn_mask, mlp_mask = [], []
    # UL-*: (scores, k) per layer and module, to measure how close the selection came to a tie.
    uniform_cuts = []
    for layer in model.layers:
        subset = linears_of(layer, ["self_attn.o_proj", "mlp.down_proj"])
        stats, remove = hook_stats(subset, lambda lin: FlapStats(lin.weight.shape[1], metric))
        # Statistics from the dense model only: the dense outputs feed the next layer.
        inps = run_layer(layer, model, inps)
        remove()
        o, down = subset["self_attn.o_proj"], subset["mlp.down_proj"]
        heads = layer.self_attn.num_heads
        a = _flap_metric(metric, stats["self_attn.o_proj"], o.weight.data) ** 2
        m = _flap_metric(metric, stats["mlp.down_proj"], down.weight.data)
        if structure in ("UL-UM", "UL-MM"):
            a = a.reshape(-1, d).sum(dim=1)
            k = int(ratio * heads) if structure == "UL-UM" else remove_heads // L
            attn_mask.append(a >= torch.sort(a)[0][k])
            km = int(m.numel() * ratio) if structure == "UL-UM" else _remove_neurons(structure, ratio, remove_heads, cfg, d)
            mlp_mask.append(m >= torch.sort(m)[0][km])
            uniform_cuts += [(a, k), (m, km)]
        else:
            attn_metrics.append(a)
            mlp_metrics.append(m)
        attn_means.append(stats["self_attn.o_proj"].baseline_inp)
        mlp_means.append(stats["mlp.down_proj"].baseline_inp)

    info = {}
    if structure in ("AL-MM", "AL-AM"):
        attn = _standardize(torch.stack(attn_metrics)).reshape(L, -1, d).mean(dim=2)
        mlp = _standardize(torch.stack(mlp_metrics))
        if structure == "AL-MM":
            attn_thres = torch.sort(attn.view(-1), descending=True)[0][-int(remove_heads)]
            mlp_thres = torch.sort(mlp.view(-1), descending=True)[0][-_remove_neurons(structure, ratio, remove_heads, cfg, d)]
            attn_mask, mlp_mask = attn > attn_thres, mlp > mlp_thres
            info.update(attentionThreshold=float(attn_thres), mlpThreshold=float(mlp_thres))
            info.update(globalCuts=[(attn.view(-1), attn_thres), (mlp.view(-1), mlp_thres)])
        else:
            scores = torch.cat([attn.view(-1), mlp.view(-1)])
            sorted_scores, order = torch.sort(scores, descending=True)
            # int64 cost tensor: assigning 4d/3 truncates it (512/3 -> 170 at d = 128).
            cost = torch.ones_like(order)
            cost[order < attn.numel()] = 4 * d / 3
            target = torch.sum(cost) * (1 - ratio)
            threshold = sorted_scores[torch.argmin(torch.abs(torch.cumsum(cost, 0) - target))]
            attn_mask, mlp_mask = attn > threshold, mlp > threshold
            info.update(threshold=float(threshold), headCost=int(cost[order < attn.numel()][0]) if attn.numel() else None)
            info.update(globalCuts=[(scores, threshold)])
        info.update(unitScores=attn, mlpScores=mlp)
    else:
        attn_mask, mlp_mask = torch.stack(attn_mask), torch.stack(mlp_mask)
        info.update(uniformCuts=uniform_cuts)

    biases = []
    for i, layer in enumerate(model.layers):
        biases.append(_compress(layer, d, attn_mask[i], mlp_mask[i], attn_means[i], mlp_means[i], bias, baseline_fp16))
    return {"attnMask": attn_mask, "mlpMask": mlp_mask, "biases": biases, "means": (attn_means, mlp_means), **info}


def _compensation(mean, removed, W, fp16):
    if fp16:
        # The official means are .type(torch.half) and the product is formed by the fp16 model.
        return ((mean.half().float() * removed) @ W.T).half().float()
    return (mean * removed) @ W.T


def _compress(layer, d, head_keep, chan_keep, attn_mean, mlp_mean, bias, fp16):
    """Real pruning: kept heads' q/k/v rows and o_proj columns, kept channels' gate/up rows and
    down_proj columns; the removed inputs' calibration means folded into the output biases,
    computed with the full weights before the columns go."""
    att, mlp = layer.self_attn, layer.mlp
    keep = head_keep.repeat_interleave(d)
    rows = torch.where(keep)[0]
    out = {}
    o_bias = _compensation(attn_mean, ~keep, att.o_proj.weight.data, fp16) if bias else None
    for name in ["q_proj", "k_proj", "v_proj"]:
        lin = getattr(att, name)
        setattr(att, name, linear(lin.weight.data[rows], None if lin.bias is None else lin.bias.data[rows]))
    att.o_proj = linear(att.o_proj.weight.data[:, rows], o_bias)
    att.num_heads = att.num_kv = int(head_keep.sum())
    att.kv_map = list(range(att.num_heads))
    chans = torch.where(chan_keep)[0]
    d_bias = _compensation(mlp_mean, ~chan_keep, mlp.down_proj.weight.data, fp16) if bias else None
    mlp.gate_proj = linear(mlp.gate_proj.weight.data[chans])
    mlp.up_proj = linear(mlp.up_proj.weight.data[chans])
    mlp.down_proj = linear(mlp.down_proj.weight.data[:, chans], d_bias)
    out["o"], out["down"] = o_bias, d_bias
    return out

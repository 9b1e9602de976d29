"""A minimal Llama in PyTorch, as Hugging Face transformers' LlamaForCausalLM computes it, for the
official-behaviour cross-check (transformers itself is not installable here).

Written from the transformers modelling code's formulas, not from the studio's TypeScript:
  RMSNorm      y = w * x / sqrt(mean(x^2) + eps)                       (float32)
  RoPE         inv_freq_i = theta^(-2i/d); angle = p * inv_freq; emb = [angle, angle];
               q' = q*cos(emb) + rotate_half(q)*sin(emb), rotate_half([a, b]) = [-b, a]
  attention    softmax(q k^T / sqrt(d) + causal mask) v; grouped-query heads read
               key/value head h // (H / KV) (repeat_kv), or the checkpoint's kv_head_map
  MLP          down(silu(gate(x)) * up(x))
  head         logits = embed^T . norm(h) when the embeddings are tied
Every decoder projection is an nn.Linear, so the pruning code can register forward hooks on
them exactly as the official Wanda and FLAP code does. Layers may have their own head and
channel counts (FLAP checkpoints), read from the tensor shapes; o_proj / down_proj may carry
a bias (FLAP's compensation).

Safetensors are read with json + numpy (no safetensors package): 8-byte little-endian header
length, a JSON header {name: {dtype, shape, data_offsets}}, then the raw little-endian data.
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "F64": np.float64, "I32": np.int32, "I64": np.int64, "U8": np.uint8}


def read_safetensors(path):
    """{name: float32 torch tensor} of a .safetensors file (F32, F16 and BF16 widen to float32)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        buf = raw[base + start : base + end]
        dt = info["dtype"]
        if dt == "BF16":
            # bfloat16 = the high 16 bits of a float32.
            arr = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(buf, dtype=np.dtype(_DTYPES[dt]).newbyteorder("<"))
        out[name] = torch.from_numpy(arr.astype(np.float32).reshape(info["shape"]).copy())
    return out


def load_checkpoint(model_dir):
    """(config dict, {name: tensor}) of a Hub-layout folder with one model.safetensors."""
    with open(os.path.join(model_dir, "config.json")) as fh:
        cfg = json.load(fh)
    return cfg, read_safetensors(os.path.join(model_dir, "model.safetensors"))


def head_dim_of(cfg):
    return cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]


class RMSNorm(nn.Module):
    def __init__(self, weight, eps):
        super().__init__()
        self.weight = nn.Parameter(weight.clone(), requires_grad=False)
        self.eps = eps

    def forward(self, x):
        var = x.float().pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.eps))


def linear(w, b=None):
    lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
    lin.weight = nn.Parameter(w.clone(), requires_grad=False)
    if b is not None:
        lin.bias = nn.Parameter(b.clone(), requires_grad=False)
    return lin


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_tables(head_dim, theta, positions):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
    freqs = torch.outer(torch.arange(positions).float(), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


class Attention(nn.Module):
    def __init__(self, t, p, head_dim, kv_map):
        super().__init__()
        self.head_dim = head_dim
        self.q_proj = linear(t[p + "q_proj.weight"], t.get(p + "q_proj.bias"))
        self.k_proj = linear(t[p + "k_proj.weight"], t.get(p + "k_proj.bias"))
        self.v_proj = linear(t[p + "v_proj.weight"], t.get(p + "v_proj.bias"))
        self.o_proj = linear(t[p + "o_proj.weight"], t.get(p + "o_proj.bias"))
        self.num_heads = self.q_proj.out_features // head_dim
        self.num_kv = self.k_proj.out_features // head_dim
        if kv_map is None and self.num_heads:
            group = self.num_heads // self.num_kv
            kv_map = [h // group for h in range(self.num_heads)]
        self.kv_map = kv_map

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        d = self.head_dim
        q = self.q_proj(x).view(B, T, self.num_heads, d).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.num_kv, d).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.num_kv, d).transpose(1, 2)
        c, s = cos[:T], sin[:T]
        q = q * c + rotate_half(q) * s
        k = k * c + rotate_half(k) * s
        idx = torch.tensor(self.kv_map, dtype=torch.long)
        k, v = k[:, idx], v[:, idx]
        scores = (q @ k.transpose(2, 3)) / math.sqrt(d)
        causal = torch.full((T, T), float("-inf")).triu(1)
        probs = F.softmax(scores + causal, dim=-1, dtype=torch.float32)
        a = (probs @ v).transpose(1, 2).reshape(B, T, self.num_heads * d)
        # A layer without heads (FLAP) still adds o_proj's bias.
        return self.o_proj(a)


class MLP(nn.Module):
    def __init__(self, t, p):
        super().__init__()
        self.gate_proj = linear(t[p + "gate_proj.weight"], t.get(p + "gate_proj.bias"))
        self.up_proj = linear(t[p + "up_proj.weight"], t.get(p + "up_proj.bias"))
        self.down_proj = linear(t[p + "down_proj.weight"], t.get(p + "down_proj.bias"))

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, t, i, cfg, kv_map):
        super().__init__()
        p = f"model.layers.{i}."
        eps = cfg["rms_norm_eps"]
        self.input_layernorm = RMSNorm(t[p + "input_layernorm.weight"], eps)
        self.post_attention_layernorm = RMSNorm(t[p + "post_attention_layernorm.weight"], eps)
        self.self_attn = Attention(t, p + "self_attn.", head_dim_of(cfg), kv_map)
        self.mlp = MLP(t, p + "mlp.")

    def forward(self, h, cos, sin):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin)
        return h + self.mlp(self.post_attention_layernorm(h))


class Llama(nn.Module):
    def __init__(self, cfg, t):
        super().__init__()
        self.cfg = cfg
        self.embed = t["model.embed_tokens.weight"].clone()
        self.lm_head = t.get("lm_head.weight", self.embed)
        self.norm = RMSNorm(t["model.norm.weight"], cfg["rms_norm_eps"])
        maps = cfg.get("kv_head_map_per_layer") or [None] * cfg["num_hidden_layers"]
        self.layers = nn.ModuleList(DecoderLayer(t, i, cfg, maps[i]) for i in range(cfg["num_hidden_layers"]))
        self.cos, self.sin = rope_tables(head_dim_of(cfg), cfg.get("rope_theta", 10000.0), cfg["max_position_embeddings"])

    def embed_ids(self, ids):
        return F.embedding(ids, self.embed)

    @torch.no_grad()
    def logits(self, ids):
        h = self.embed_ids(ids)
        for layer in self.layers:
            h = layer(h, self.cos, self.sin)
        return self.norm(h) @ self.lm_head.T

    def state(self):
        """{name: tensor} in the Hub layout (what load_checkpoint reads)."""
        out = {"model.embed_tokens.weight": self.embed, "model.norm.weight": self.norm.weight.data}
        for i, layer in enumerate(self.layers):
            for name in ["input_layernorm", "post_attention_layernorm"]:
                out[f"model.layers.{i}.{name}.weight"] = getattr(layer, name).weight.data
            for name in LINEARS:
                lin = sub_module(layer, name)
                out[f"model.layers.{i}.{name}.weight"] = lin.weight.data
                if lin.bias is not None:
                    out[f"model.layers.{i}.{name}.bias"] = lin.bias.data
        return out


def sub_module(layer, dotted):
    m = layer
    for part in dotted.split("."):
        m = getattr(m, part)
    return m


def window_nll(model, stream, seqlen, windows):
    """Per-window mean NLL and the overall mean NLL of windows [a, b) of `stream` (studio eval's
    protocol: window w = stream[w*L, (w+1)*L), token 0 context only, tokens 1..L-1 scored)."""
    a, b = windows
    total, count, per = 0.0, 0, []
    for w in range(a, b):
        ids = torch.from_numpy(stream[w * seqlen : (w + 1) * seqlen].astype(np.int64))
        logits = model.logits(ids[None, :-1])[0]
        nll = F.cross_entropy(logits.float(), ids[1:], reduction="none").double()
        per.append(float(nll.mean()))
        total += float(nll.sum())
        count += nll.numel()
    return {"meanNll": total / count, "ppl": math.exp(total / count), "windowMeanNll": per, "scoredTokens": count}

#!/usr/bin/env python3
"""An independent round-to-nearest implementation in NumPy (float32, np.round = half to even),
written from the rules in docs/methods/rtn.md#rules and GPTQ's quantizer, not from the studio's TypeScript.

  python3 bench/quant-rtn-reference.py model --model public/models/stories260K --out /tmp/ref-w4g64 --bits 4 --group 64 [--sym]
      writes a float32 checkpoint whose decoder linears are the dequantized RTN weights;
      `npx studio eval --model /tmp/ref-w4g64 ...` then scores it on the dense path, to be
      compared with `npx studio quantize --method rtn ...` (packed integers, quantized matmul).
  python3 bench/quant-rtn-reference.py fixture --out test/fixtures/rtn-reference.json
      writes small random matrices and their dequantized RTN weights for test/quant-reference.test.ts.

Rules (per output row, groups of G consecutive input columns, or the whole row; a group wider
than the row is the whole row):
  asymmetric: lo = min(min w, 0), hi = max(max w, 0) (all-zero group: lo = -1, hi = 1);
              scale = (hi - lo) / maxq; z = clip(round(-lo / scale), 0, maxq);
              q = clip(round(w / scale) + z, 0, maxq); w_hat = (q - z) * scale
  symmetric:  e = the first weight of largest |w|; scale = e / -2^(b-1); z = 2^(b-1);
              q = clip(round(w / scale) + z, 0, maxq) (scale 0: q = z); w_hat = (q - z) * scale
  symmetric, GPTQ rule (--sym-rule gptq): m = max|w| (0 -> 1); scale = 2m / maxq; z = 2^(b-1); q, w_hat as above
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np

LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def rtn_group(w, bits, sym, rule="mlas"):
    w = w.astype(np.float32)
    maxq = np.float32(2**bits - 1)
    half = np.float32(2 ** (bits - 1))
    if sym and rule == "gptq":
        m = np.float32(np.abs(w).max())
        if m == 0:
            m = np.float32(1)
        scale = np.float32(np.float32(2 * m) / maxq)
        z = half
    elif sym:
        e = w[np.argmax(np.abs(w))]
        scale = np.float32(e / -half)
        if scale == 0:
            return np.zeros_like(w)
        z = half
    else:
        lo = np.float32(min(w.min(), 0))
        hi = np.float32(max(w.max(), 0))
        if lo == 0 and hi == 0:
            lo, hi = np.float32(-1), np.float32(1)
        scale = np.float32(np.float32(hi - lo) / maxq)
        z = np.clip(np.round(np.float32(-lo / scale)), 0, maxq)
    q = np.clip(np.round((w / scale).astype(np.float32)) + z, 0, maxq)
    return ((q - z).astype(np.float32) * scale).astype(np.float32)


def rtn(W, bits, group, sym, rule="mlas"):
    rows, cols = W.shape
    bs = cols if group is None else min(group, cols)
    out = np.empty_like(W, dtype=np.float32)
    for r in range(rows):
        for k0 in range(0, cols, bs):
            out[r, k0 : k0 + bs] = rtn_group(W[r, k0 : k0 + bs], bits, sym, rule)
    return out


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", f"{name}: only F32 checkpoints are handled here"
        a, b = e["data_offsets"]
        tensors[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(e["shape"]).copy()
    return tensors


def write_safetensors(path, tensors):
    header = {}
    offset = 0
    blobs = []
    for name, t in tensors.items():
        b = np.ascontiguousarray(t, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def cmd_model(a):
    t = read_safetensors(os.path.join(a.model, "model.safetensors"))
    n = 0
    for name in list(t):
        if any(name.endswith(f"{l}.weight") for l in LINEARS):
            t[name] = rtn(t[name], a.bits, a.group, a.sym or a.sym_rule == "gptq", a.sym_rule)
            n += 1
    os.makedirs(a.out, exist_ok=True)
    write_safetensors(os.path.join(a.out, "model.safetensors"), t)
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"]:
        if os.path.exists(os.path.join(a.model, f)):
            shutil.copy(os.path.join(a.model, f), os.path.join(a.out, f))
    print(f"{n} linears rounded ({a.bits}-bit, group {a.group or 'channel'}, {('sym (' + a.sym_rule + ')') if a.sym or a.sym_rule == 'gptq' else 'asym'}) -> {a.out}")


def cmd_fixture(a):
    rng = np.random.default_rng(20261128)
    rows, cols = 3, 70
    W = (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)
    W[1, 3] = -W[1, :].__abs__().max() * 1.5  # a clear negative extreme
    W[2, 40:70] = 0  # an all-zero group (and zeros in others)
    cases = []
    for bits in [2, 3, 4, 5, 8]:
        for sym in [False, True]:
            for group in [32, 64, None, 128]:
                cases.append({"bits": bits, "symmetric": sym, "groupSize": group, "dequantized": rtn(W, bits, group, sym).flatten().tolist()})
    for bits in [2, 3, 4, 8]:
        for group in [32, None]:
            cases.append({"bits": bits, "symmetric": True, "symmetricRule": "gptq", "groupSize": group, "dequantized": rtn(W, bits, group, True, "gptq").flatten().tolist()})
    with open(a.out, "w") as f:
        json.dump({"rows": rows, "cols": cols, "weights": W.flatten().tolist(), "cases": cases}, f)
    print(f"{len(cases)} cases -> {a.out}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("model")
    m.add_argument("--model", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--bits", type=int, required=True)
    m.add_argument("--group", default="64")
    m.add_argument("--sym", action="store_true")
    m.add_argument("--sym-rule", choices=["mlas", "gptq"], default="mlas")
    fx = sub.add_parser("fixture")
    fx.add_argument("--out", required=True)
    a = p.parse_args()
    if a.cmd == "model":
        a.group = None if a.group == "channel" else int(a.group)
        cmd_model(a)
    else:
        cmd_fixture(a)


if __name__ == "__main__":
    main()

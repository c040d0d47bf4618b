#!/usr/bin/env python3
"""Independent float64 reference perplexity for the golden tests (tests/data/runtime/ref_ppl.json).

A from-scratch Llama forward pass in torch float64 on the bf16 safetensors weights (no transformers),
with the DESIGN.md §5 protocol: the whole valid.txt tokenized at once by HF `tokenizers` (no BOS),
non-overlapping windows of 512 tokens, every predicted token counted. The C++ runtime's short
golden perplexity check compares against these numbers; the full 400-window check uses
reference.json's valid_ppl_ctx512.

  pip install torch safetensors tokenizers numpy
  python3 tools/ref_ppl.py --data ../shared/data --windows 20 -o tests/data/runtime/ref_ppl.json
"""
import argparse, json, math, os

import numpy as np
import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer


def load_weights(folder):
    w = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith(".safetensors"):
            w.update({k: v.to(torch.float64) for k, v in load_file(os.path.join(folder, f)).items()})
    return w


def rmsnorm(x, g, eps):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps) * g


def forward(w, cfg, ids):
    d, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or d // H
    eps = cfg["rms_norm_eps"]
    theta = (cfg.get("rope_parameters") or {}).get("rope_theta", cfg.get("rope_theta", 10000.0))
    T = len(ids)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)

    def rope(t):  # [heads, T, hd], rotate-half
        t1, t2 = t[..., : hd // 2], t[..., hd // 2 :]
        return t * cos + torch.cat([-t2, t1], -1) * sin

    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(T, H, hd).transpose(0, 1)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(T, KV, hd).transpose(0, 1)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(T, KV, hd).transpose(0, 1)
        q, k = rope(q), rope(k)
        k, v = k.repeat_interleave(H // KV, 0), v.repeat_interleave(H // KV, 0)
        a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, -1) @ v
        x = x + a.transpose(0, 1).reshape(T, H * hd) @ w[p + "self_attn.o_proj.weight"].T
        h = rmsnorm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = h @ w[p + "mlp.gate_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    x = rmsnorm(x, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--windows", type=int, default=20)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("-o", "--out", default="tests/data/runtime/ref_ppl.json")
    a = ap.parse_args()
    torch.set_num_threads(2)
    text = open(os.path.join(a.data, "corpus/valid.txt"), encoding="utf-8").read()
    out = {"protocol": f"corpus/valid.txt tokenized whole (no BOS), first {a.windows} non-overlapping windows of "
                       f"{a.ctx}, every predicted token counted; float64 torch forward (tools/ref_ppl.py)"}
    for name in ["tq-ref-s", "tq-ref-m"]:
        folder = os.path.join(a.data, "models", name)
        cfg = json.load(open(os.path.join(folder, "config.json")))
        ids = Tokenizer.from_file(os.path.join(folder, "tokenizer.json")).encode(text).ids
        w = load_weights(folder)
        nll = []
        with torch.no_grad():
            for c in range(a.windows):
                win = ids[c * a.ctx:(c + 1) * a.ctx]
                lp = torch.log_softmax(forward(w, cfg, win), -1)
                nll += [-lp[j, win[j + 1]].item() for j in range(a.ctx - 1)]
        out[name] = {"windows": a.windows, "n_ctx": a.ctx, "n_scored": len(nll), "mean_nll": float(np.mean(nll)),
                     "ppl": math.exp(float(np.mean(nll))), "first_ids": ids[:8]}
        print(name, out[name])
    json.dump(out, open(a.out, "w"), indent=1)


if __name__ == "__main__":
    main()

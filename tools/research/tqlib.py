"""Small exact Llama forward + evaluation harness for quantization research (torch, CPU, float32).

Protocol (DESIGN.md §5, same as shared/data/anchors/LLAMACPP-WEIGHTS.md): corpus/valid.txt tokenized
whole, no BOS, non-overlapping 512-token windows; PPL counts the 511 predictions inside each window;
KLD / top-1 vs the bf16 model over every position of the first N windows.
Research-only code: nothing in the C++ build depends on it.
"""
import glob
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

DATA = os.environ.get("TQ_SHARED_DATA", "/work/shared/data")
CACHE = os.environ.get("TQ_RESEARCH_CACHE", "/tmp/tq_research_cache")
CTX = 512
torch.set_num_threads(int(os.environ.get("TQ_THREADS", "1")))

LINEARS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]
HF_NAME = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
# Which captured activation feeds each linear.
INPUT_OF = {"attn_q": "attn_in", "attn_k": "attn_in", "attn_v": "attn_in", "attn_output": "attn_out",
            "ffn_gate": "ffn_in", "ffn_up": "ffn_in", "ffn_down": "ffn_act"}


def tensor_names(n_layer):
    """llama.cpp-style names of every quantizable matrix; 'token_embd' is the tied emb/output head."""
    return ["token_embd"] + [f"blk.{i}.{n}" for i in range(n_layer) for n in LINEARS]


class Model:
    """Weights as float32 tensors keyed by llama.cpp-style names (linear weights [n_out, n_in])."""

    def __init__(self, name):
        d = f"{DATA}/models/{name}"
        self.name = name
        self.cfg = json.load(open(f"{d}/config.json"))
        from safetensors.torch import load_file
        sd = {}
        for f in sorted(glob.glob(f"{d}/*.safetensors")):
            sd.update(load_file(f))
        c = self.cfg
        self.n_layer = c["num_hidden_layers"]
        self.n_head = c["num_attention_heads"]
        self.n_kv = c["num_key_value_heads"]
        self.hd = c["head_dim"]
        self.eps = c["rms_norm_eps"]
        theta = c.get("rope_parameters", {}).get("rope_theta", c.get("rope_theta", 10000.0))
        W = {"token_embd": sd["model.embed_tokens.weight"].float(),
             "output_norm": sd["model.norm.weight"].float()}
        for i in range(self.n_layer):
            p = f"model.layers.{i}."
            for n in LINEARS:
                W[f"blk.{i}.{n}"] = sd[p + HF_NAME[n] + ".weight"].float()
            W[f"blk.{i}.attn_norm"] = sd[p + "input_layernorm.weight"].float()
            W[f"blk.{i}.ffn_norm"] = sd[p + "post_attention_layernorm.weight"].float()
        self.W = W  # base weights (never modified)
        inv = 1.0 / (theta ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        fr = torch.outer(torch.arange(CTX, dtype=torch.float64), inv)
        emb = torch.cat([fr, fr], dim=-1)
        self.cos = emb.cos().float()
        self.sin = emb.sin().float()
        self.n_params = sum(v.numel() for v in W.values())

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x):  # x [B, H, T, hd], rotate-half
        T = x.shape[2]
        h = self.hd // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], dim=-1)
        return x * self.cos[:T] + rot * self.sin[:T]

    def block(self, i, h, W, kvq=None, capture=None):
        """One transformer block. W: dict of weights (overrides); kvq(layer, k, v)->(k, v) quantizes
        the cache (K after RoPE, [B, n_kv, T, hd]); capture(layer, key, x) sees linear inputs."""
        g = lambda n: W.get(f"blk.{i}.{n}", self.W[f"blk.{i}.{n}"])
        B, T, D = h.shape
        x = self.rms(h, g("attn_norm"))
        if capture:
            capture(i, "attn_in", x)
        q = (x @ g("attn_q").T).view(B, T, self.n_head, self.hd).transpose(1, 2)
        k = (x @ g("attn_k").T).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        v = (x @ g("attn_v").T).view(B, T, self.n_kv, self.hd).transpose(1, 2)
        q, k = self.rope(q), self.rope(k)
        if kvq is not None:
            k, v = kvq(i, k, v)
        rep = self.n_head // self.n_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        a = a.transpose(1, 2).reshape(B, T, self.n_head * self.hd)
        if capture:
            capture(i, "attn_out", a)
        h = h + a @ g("attn_output").T
        x = self.rms(h, g("ffn_norm"))
        if capture:
            capture(i, "ffn_in", x)
        act = F.silu(x @ g("ffn_gate").T) * (x @ g("ffn_up").T)
        if capture:
            capture(i, "ffn_act", act)
        return h + act @ g("ffn_down").T

    def embed(self, ids, W):
        return W.get("token_embd", self.W["token_embd"])[ids]

    def head(self, h, W, capture=None):
        x = self.rms(h, self.W["output_norm"])
        if capture:
            capture(self.n_layer, "head_in", x)
        return x @ W.get("token_embd", self.W["token_embd"]).T

    @torch.no_grad()
    def forward(self, ids, W=None, kvq=None, capture=None):
        W = W or {}
        h = self.embed(ids, W)
        for i in range(self.n_layer):
            h = self.block(i, h, W, kvq, capture)
        return self.head(h, W, capture)


_tok_cache = {}


def tokenize_file(model_name, path):
    from tokenizers import Tokenizer
    os.makedirs(CACHE, exist_ok=True)
    key = f"{CACHE}/{model_name}_{os.path.basename(path)}.npy"
    if os.path.exists(key):
        return np.load(key)
    tk = Tokenizer.from_file(f"{DATA}/models/{model_name}/tokenizer.json")
    ids = np.array(tk.encode(open(path, encoding="utf-8").read()).ids, dtype=np.int64)
    np.save(key, ids)
    return ids


def valid_windows(model_name, n):
    ids = tokenize_file(model_name, f"{DATA}/corpus/valid.txt")
    nw = len(ids) // CTX
    assert n <= nw
    return torch.from_numpy(ids[: n * CTX].reshape(n, CTX))


def calib_windows(model_name, n, seed=0):
    """n random 512-token windows from corpus/train-00.txt (never valid.txt)."""
    path = f"{DATA}/corpus/train-00.txt"
    key = f"{CACHE}/{model_name}_train00_first4MB.npy"
    if os.path.exists(key):
        ids = np.load(key)
    else:
        from tokenizers import Tokenizer
        tk = Tokenizer.from_file(f"{DATA}/models/{model_name}/tokenizer.json")
        text = open(path, encoding="utf-8").read()[: 4_000_000]
        ids = np.array(tk.encode(text).ids, dtype=np.int64)
        os.makedirs(CACHE, exist_ok=True)
        np.save(key, ids)
    nw = len(ids) // CTX
    rng = np.random.default_rng(seed)
    sel = np.sort(rng.choice(nw, size=n, replace=False))
    return torch.from_numpy(ids[: nw * CTX].reshape(nw, CTX)[sel])


def base_logits(model, n):
    """float32 logits of the unquantized model on the first n valid windows, cached on disk
    (memory-mapped, [n, 512, vocab])."""
    os.makedirs(CACHE, exist_ok=True)
    path = f"{CACHE}/{model.name}_base_logits_{n}.f32"
    V = model.cfg["vocab_size"]
    if not os.path.exists(path):
        wins = valid_windows(model.name, n)
        mm = np.lib.format.open_memmap(path + ".tmp.npy", mode="w+", dtype=np.float32, shape=(n, CTX, V))
        for b in range(0, n, 4):
            mm[b:b + 4] = model.forward(wins[b:b + 4]).numpy()
        mm.flush()
        del mm
        os.rename(path + ".tmp.npy", path)
    return np.load(path, mmap_mode="r")


@torch.no_grad()
def evaluate(model, W=None, n_kld=50, n_ppl=None, kvq=None, bs=4):
    """Returns dict(ppl, base_ppl, dppl_pct, kld, kld_p99, top1) over the first n_kld windows for KLD
    and the first n_ppl (>= n_kld; default n_kld) windows for PPL."""
    n_ppl = n_ppl or n_kld
    base = base_logits(model, n_kld) if n_kld else None
    wins = valid_windows(model.name, n_ppl)
    nll = nll_b = 0.0
    cnt = 0
    klds, top1 = [], []
    starts = list(range(0, n_kld, bs)) + list(range(n_kld, n_ppl, bs))
    for b in starts:
        e = min(b + bs, n_kld) if b < n_kld else min(b + bs, n_ppl)
        ids = wins[b:e]
        lp = torch.log_softmax(model.forward(ids, W, kvq), -1)
        tgt = ids[:, 1:]
        nll += -lp[:, :-1].gather(-1, tgt.unsqueeze(-1)).sum().item()
        cnt += tgt.numel()
        if b < n_kld:
            bl = torch.log_softmax(torch.from_numpy(np.array(base[b:e])), -1)
            nll_b += -bl[:, :-1].gather(-1, tgt.unsqueeze(-1)).sum().item()
            klds.append((bl.exp() * (bl - lp)).sum(-1).flatten())
            top1.append((bl.argmax(-1) == lp.argmax(-1)).flatten())
        else:
            nll_b += base_nll_window(model, b, ids)
    kl = torch.cat(klds) if klds else torch.zeros(1)
    ppl = math.exp(nll / cnt)
    bppl = math.exp(nll_b / cnt)
    return dict(ppl=ppl, base_ppl=bppl, dppl_pct=100 * (ppl / bppl - 1), kld=kl.mean().item(),
                kld_p99=torch.quantile(kl[:: max(1, len(kl) // 100000)], 0.99).item(),
                top1=100 * torch.cat(top1).float().mean().item() if top1 else float("nan"),
                n_kld=n_kld, n_ppl=n_ppl)


_base_nll = {}


def base_nll_window(model, b, ids):
    """Summed NLL of the base model for the windows starting at index b (cached per model)."""
    key = (model.name, b, ids.shape[0])
    path = f"{CACHE}/{model.name}_base_nll.json"
    if not _base_nll and os.path.exists(path):
        _base_nll.update({tuple(json.loads(k)): v for k, v in json.load(open(path)).items()})
    if key not in _base_nll:
        lp = torch.log_softmax(model.forward(ids), -1)
        _base_nll[key] = -lp[:, :-1].gather(-1, ids[:, 1:].unsqueeze(-1)).sum().item()
        json.dump({json.dumps(list(k)): v for k, v in _base_nll.items()}, open(path, "w"))
    return _base_nll[key]


def fmt_row(name, bpw, r):
    return (f"| {name} | {bpw:.3f} | {r['ppl']:.3f} | {r['dppl_pct']:+.2f}% | {r['kld']:.4f} | "
            f"{r['kld_p99']:.3f} | {r['top1']:.1f}% |")


TABLE_HEAD = ("| method | bits/weight (all tensors) | PPL | ΔPPL | mean KLD | KLD p99 | top-1 |\n"
              "|---|---|---|---|---|---|---|")


def log_result(path, rec):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")

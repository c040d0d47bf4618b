"""KV-cache quantization research (issue 5): every cached K (after RoPE) and V head vector is
quantized -> dequantized inside the float32 forward (all tokens, including the current one), and
the model is scored against the unquantized model (KLD / top-1 over every position, PPL).

Usage: python3 tools/research/kv.py MODEL "KSPEC/VSPEC" ... [--kld 50] [--calib 16]
Specs (per head vector of head_dim d):
  f16 | q8 (ggml q8_0: int8 per 32, fp16 scale; 8.5 b) | q4 (ggml q4_0 per 32; 4.5 b) | q4r (q4 after a
  seeded Hadamard rotation of the head vector) | tq<b> (rotation + Lloyd-Max b bits + fp16 norm)
  tq<b>ls (fp16 least-squares scale instead of the norm) | tq<b>p (TurboQuant_prod: (b-1)-bit tq +
  1-bit QJL of the residual + fp16 residual norm)
  tq<b>o<n> outlier split: the n channels with the largest calibration energy (per layer and KV
     head; RoPE pairs kept together) at b+1 bits, the rest at b bits, each part rotated and normed
     separately (so bits = b + n/d + 32/d)
  tq<b>s  static per-channel rescaling before rotation (K: s_c = sqrt(rms(q_c)/rms(k_c)) from
     calibration, query multiplied by 1/s once; V: s_c from W_o column norms), then tq<b>
  combinations: tq<b>so<n>
Results are appended to tools/research/results/kv.jsonl.
"""
import argparse
import json
import math
import os
import re

import torch

import quant as Q
import tqlib


def bits_of(spec, d, ctx=512):
    if "+f" in spec:
        spec, n = spec.split("+f")
        return (bits_of(spec, d) * (ctx - int(n)) + 16 * int(n)) / ctx
    if spec == "f16":
        return 16.0
    if spec == "q8":
        return 8.5
    if spec in ("q4", "q4r"):
        return 4.5
    m = re.fullmatch(r"tq(\d)(ls1?)?(p)?(s)?(?:o(\d+))?", spec)
    b = int(m.group(1))
    n_out = int(m.group(5) or 0)
    extra = 16.0 / d
    if m.group(3):
        extra += 16.0 / d
    if n_out:
        extra += 16.0 / d
    return b + n_out / d + extra


def q4_0(x):
    return Q.ggml_q4_0(x.reshape(-1, 32)).view(x.shape)


def q8_0(x):
    return Q.ggml_q8_0(x.reshape(-1, 32)).view(x.shape)


def tq_vec(x, b, scale="norm", seed=7):
    """x [..., d] -> dequantized after rotation + Lloyd-Max + fp16 scale ('ls1': one start, 2
    alternations — the cheap online encoder)."""
    d = x.shape[-1]
    R = Q.rotation(d, seed)
    y = x @ R.T
    cb = Q.lloyd_max(b, d)
    if scale == "ls1":
        idx, s = Q.tq_quant_groups(y, cb, "ls", iters=2, starts=(1.0,))
    else:
        idx, s = Q.tq_quant_groups(y, cb, "ls" if scale == "ls" else "norm")
    return (s[..., None] * cb[idx]) @ R


def qjl_prod(x, b, seed=7):
    """TurboQuant_prod: (b-1)-bit tq + sign(S r) with gamma = ||r||; returns the unbiased
    reconstruction x_mse + gamma*sqrt(pi/2)/d * S^T sign(S r) (inner products with it are the
    estimator of DESIGN.md §1.3)."""
    d = x.shape[-1]
    xm = tq_vec(x, b - 1, seed=seed) if b > 1 else torch.zeros_like(x)
    r = x - xm
    g = torch.Generator().manual_seed(seed + 99)
    S = torch.randn(d, d, generator=g)
    gamma = Q.fp16(r.norm(dim=-1, keepdim=True))
    return xm + gamma * math.sqrt(math.pi / 2) / d * (torch.sign(r @ S.T) @ S)


class KVQuant:
    def __init__(self, model, kspec, vspec, stats=None):
        self.m, self.ks, self.vs, self.st = model, kspec, vspec, stats

    def q(self, spec, x, layer, which):
        if "+f" in spec:  # '+f<N>': the first N positions of the window (attention sinks) stay f16
            spec, n = spec.split("+f")
            y = self.q(spec, x, layer, which)
            y[:, :, : int(n)] = Q.fp16(x[:, :, : int(n)])
            return y
        if spec == "f16":
            return Q.fp16(x)
        if spec == "q8":
            return q8_0(x)
        if spec == "q4":
            return q4_0(x)
        if spec == "q4r":
            R = Q.rotation(x.shape[-1], 7)
            return q4_0(x @ R.T) @ R
        m = re.fullmatch(r"tq(\d)(ls1?)?(p)?(s)?(?:o(\d+))?", spec)
        b = int(m.group(1))
        scale = m.group(2) or "norm"
        n_out = int(m.group(5) or 0)
        sc = None
        if m.group(4):  # static per-channel rescale [n_kv, d]
            sc = self.st[(layer, which + "_scale")][None, :, None, :]
            x = x * sc
        if m.group(3):
            y = qjl_prod(x, b)
        elif n_out:
            # outlier channels chosen on the (rescaled) calibration energy, per KV head
            e = self.st[(layer, which + "_energy")]
            if sc is not None:
                e = e * sc[0, :, 0, :] ** 2
            y = torch.empty_like(x)
            for h in range(x.shape[1]):
                order = torch.argsort(e[h], descending=True)
                hi, lo = order[:n_out], order[n_out:]
                y[:, h, :, hi] = tq_vec(x[:, h, :, hi], b + 1, scale)
                y[:, h, :, lo] = tq_vec(x[:, h, :, lo], b, scale)
        else:
            y = tq_vec(x, b, scale)
        if sc is not None:
            y = y / sc
        return y

    def __call__(self, layer, k, v):
        ks, vs = self.over.get(layer, (self.ks, self.vs)) if hasattr(self, "over") else (self.ks, self.vs)
        return self.q(ks, k, layer, "k"), self.q(vs, v, layer, "v")


def calib_stats(model, calib):
    """Per layer / KV head / channel: E[k^2], E[v^2] (K after RoPE), E[q^2] (grouped per KV head),
    and the static rescales: K s_c = (rms_q/rms_k)^(1/2); V s_c = ||W_o[:, c]|| ^(1/2)... normalised."""
    st = {}
    acc = {}

    def kvq(layer, k, v):
        acc[(layer, "k")] = acc.get((layer, "k"), 0) + k.pow(2).mean(dim=(0, 2))
        acc[(layer, "v")] = acc.get((layer, "v"), 0) + v.pow(2).mean(dim=(0, 2))
        return k, v

    qacc = {}

    def cap(layer, key, x):
        if key != "attn_in":
            return
        B, T, D = x.shape
        W = model.W[f"blk.{layer}.attn_q"]
        q = (x @ W.T).view(B, T, model.n_head, model.hd).transpose(1, 2)
        q = model.rope(q)
        qe = q.pow(2).mean(dim=(0, 2)).view(model.n_kv, -1, model.hd).mean(1)
        qacc[layer] = qacc.get(layer, 0) + qe

    for b in range(0, calib.shape[0], 4):
        model.forward(calib[b:b + 4], {}, kvq=kvq, capture=cap)
    for L in range(model.n_layer):
        ek, ev, eq = acc[(L, "k")], acc[(L, "v")], qacc[L]
        # RoPE pairs (c, c + d/2) share energy over positions: keep them together
        h = model.hd // 2
        pk = ek[:, :h] + ek[:, h:]
        ek2 = torch.cat([pk, pk], -1)
        st[(L, "k_energy")] = ek2
        st[(L, "v_energy")] = ev
        s = (eq.sqrt() / ek.sqrt().clamp(min=1e-8)).sqrt()
        st[(L, "k_scale")] = s / s.pow(2).mean(-1, keepdim=True).sqrt()
        Wo = model.W[f"blk.{L}.attn_output"]  # [D, n_head*hd]
        cn = Wo.pow(2).sum(0).view(model.n_head, model.hd).view(model.n_kv, -1, model.hd).sum(1).sqrt()
        sv = cn.sqrt()
        st[(L, "v_scale")] = sv / sv.pow(2).mean(-1, keepdim=True).sqrt()
    return st


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("specs", nargs="+")
    ap.add_argument("--kld", type=int, default=50)
    ap.add_argument("--ppl", type=int, default=0)
    ap.add_argument("--calib", type=int, default=16)
    ap.add_argument("--tag", default="")
    a = ap.parse_args()
    m = tqlib.Model(a.model)
    st = calib_stats(m, tqlib.calib_windows(a.model, a.calib)) if any(
        ("o" in s.split("/")[0][3:] or "s" in s[3:]) for s in a.specs) else None
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "kv.jsonl")
    print("| K/V | bits/elem (K, V incl. norms) | PPL | ΔPPL | mean KLD | KLD p99 | top-1 |\n|---|---|---|---|---|---|---|")
    for sp in a.specs:
        # per-layer overrides: "K/V;L0=K0/V0;L5=K5/V5"
        main, *ovs = sp.split(";")
        ks, vs = main.split("/")
        kq = KVQuant(m, ks, vs, st)
        kq.over = {int(o.split("=")[0][1:]): tuple(o.split("=")[1].split("/")) for o in ovs}
        r = tqlib.evaluate(m, {}, n_kld=a.kld, n_ppl=max(a.ppl, a.kld), kvq=kq)
        lay = [kq.over.get(i, (ks, vs)) for i in range(m.n_layer)]
        bk = sum(bits_of(x[0], m.hd) for x in lay) / m.n_layer
        bv = sum(bits_of(x[1], m.hd) for x in lay) / m.n_layer
        print(f"| {sp} | {bk:.3f}, {bv:.3f} (avg {(bk + bv) / 2:.3f}) | {r['ppl']:.3f} | {r['dppl_pct']:+.2f}% | "
              f"{r['kld']:.4f} | {r['kld_p99']:.3f} | {r['top1']:.1f}% |", flush=True)
        tqlib.log_result(out, dict(model=a.model, spec=sp, bits_k=bk, bits_v=bv, tag=a.tag, **r))

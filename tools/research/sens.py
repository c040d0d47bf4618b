"""Per-tensor sensitivity for mixed precision: the KLD increase (vs the float model, on calibration
windows from corpus/train-00.txt, never valid.txt) when that tensor ALONE is quantized at each
width, plus the cheap proxy tr(E H E^T)/n_tokens (Hessian-weighted output error of that linear).

Usage: python3 tools/research/sens.py MODEL [--G 64] [--widths 2,3,4,5,6,8] [--win 4] [--calib 64]
       [--lin "tq{b}g{G}_ls_gptq"] [--emb "tq{b}g{G}_ls"]
Writes tools/research/results/sens_MODEL_<tag>.json.
"""
import argparse
import json
import os
import time

import torch

import tqlib
import wquant

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("--G", type=int, default=64)
ap.add_argument("--widths", default="2,3,4,5,6,8")
ap.add_argument("--win", type=int, default=4)
ap.add_argument("--calib", type=int, default=64)
ap.add_argument("--lin", default="tq{b}g{G}_ls_gptq")
ap.add_argument("--emb", default="tq{b}g{G}_ls")
ap.add_argument("--tag", default="")
a = ap.parse_args()

m = tqlib.Model(a.model)
widths = [int(x) for x in a.widths.split(",")]
calib = tqlib.calib_windows(a.model, a.calib)
sw = tqlib.calib_windows(a.model, a.win, seed=12345)  # sensitivity windows (train text)
t0 = time.time()
names = tqlib.tensor_names(m.n_layer)
keys = {(wquant.layer_of(n), wquant.input_key(n)) for n in names if n != "token_embd"}
keys.add(wquant.head_key(m))
Hs = wquant.hessians_float(m, calib, keys)
n_tok = calib.numel()
t_h = time.time() - t0
with torch.no_grad():
    hs = [m.embed(sw, {})]
    for i in range(m.n_layer):
        hs.append(m.block(i, hs[-1], {}))
    base_lp = torch.log_softmax(m.head(hs[-1], {}), -1)
    base_p = base_lp.exp()


def kld_from(layer, W):
    with torch.no_grad():
        if layer < 0:
            lp = torch.log_softmax(m.forward(sw, W), -1)
        else:
            h = hs[layer]
            for i in range(layer, m.n_layer):
                h = m.block(i, h, W)
            lp = torch.log_softmax(m.head(h, W), -1)
        return (base_p * (base_lp - lp)).sum(-1).mean().item()


out = {"model": a.model, "G": a.G, "lin": a.lin, "emb": a.emb, "win": a.win, "calib": a.calib,
       "hessian_s": t_h, "tensors": {}}
for n in names:
    W0 = m.W[n]
    L = wquant.layer_of(n)
    H = Hs[wquant.head_key(m)] if n == "token_embd" else Hs[(L, wquant.input_key(n))]
    rec = {"numel": W0.numel(), "shape": list(W0.shape), "w": {}}
    for b in widths:
        meth = (a.emb if n == "token_embd" else a.lin).format(b=b, G=a.G)
        t = time.time()
        Wq = wquant.quantize_tensor(W0, meth, H)
        tq = time.time() - t
        E = W0 - Wq
        proxy = (torch.einsum("oi,ij,oj->", E.double(), H.double(), E.double()) / n_tok).item()
        mse = E.pow(2).mean().item()
        d = kld_from(L, {n: Wq})
        rec["w"][b] = dict(method=meth, bpw=wquant.method_bpw(meth, W0.shape), dkld=d, proxy=proxy,
                           mse=mse, quant_s=tq)
        print(f"{n:22s} b={b} dkld={d:.5f} proxy={proxy:.4e} mse={mse:.3e} {tq:.1f}s", flush=True)
    out["tensors"][n] = rec
out["total_s"] = time.time() - t0
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                    f"sens_{a.model}_G{a.G}{a.tag}.json")
os.makedirs(os.path.dirname(path), exist_ok=True)
json.dump(out, open(path, "w"), indent=1)
print("wrote", path, f"{out['total_s']:.0f}s")

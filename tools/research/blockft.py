"""Learned scales on the BLOCK output (the "gradient-aware" step): starting from a quantized model
(codes fixed), learn a multiplier per (row, group) scale of every linear in a block with Adam so that
the quantized block, fed the quantized model's own calibration activations (sequential), reproduces
the float block's output on the float activations:  min_m  || block_q(h_q; m) - block_f(h_f) ||^2.
The multiplier m scales the rotated group: W_hat(m) = unrotate(rotate(W_hat) * m), i.e. s' = m*s.

Usage: python3 tools/research/blockft.py MODEL "RECIPE" [--steps 200] [--lr 1e-3] [--bs 2]
       [--calib 64] [--kld 20] [--target float|qin]
"""
import argparse
import json
import os
import time

import torch

import quant as Q
import tqlib
import wquant

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("recipe")
ap.add_argument("--steps", type=int, default=200)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--bs", type=int, default=2)
ap.add_argument("--calib", type=int, default=64)
ap.add_argument("--kld", type=int, default=20)
ap.add_argument("--target", default="float")
ap.add_argument("--seq", action="store_true", help="GPTQ Hessians sequential too")
ap.add_argument("--plan", help="JSON {tensor: method} plan (all tq with one G); recipe = its name")
a = ap.parse_args()

m = tqlib.Model(a.model)
calib = tqlib.calib_windows(a.model, a.calib)
lin, _, emb = a.recipe.partition("@")
if a.plan:
    plan = json.load(open(a.plan))
    lin = plan["blk.0.attn_q"]
else:
    plan = wquant.uniform_plan(m, lin, emb or None)
t0 = time.time()
W, _, _ = wquant.quantize_model(m, plan, calib, sequential=a.seq)
t_q = time.time() - t0
r0 = tqlib.evaluate(m, W, n_kld=a.kld)
print("before:", tqlib.fmt_row(a.recipe, wquant.model_bpw(m, plan), r0), f"quant {t_q:.0f}s", flush=True)

G = wquant.parse_tq(lin)[1]
t1 = time.time()
with torch.no_grad():
    hf = m.embed(calib, {})
    hq = m.embed(calib, W)
for i in range(m.n_layer):
    names = [f"blk.{i}.{n}" for n in tqlib.LINEARS]
    Wr = {n: Q.rotate_rows(W[n], G) for n in names}
    mult = {n: torch.ones(W[n].shape[0], W[n].shape[1] // G, requires_grad=True) for n in names}
    with torch.no_grad():
        tgt = torch.cat([m.block(i, hf[b:b + 4], {}) for b in range(0, len(hf), 4)]) if a.target == "float" \
            else torch.cat([m.block(i, hq[b:b + 4], {}) for b in range(0, len(hq), 4)])
    opt = torch.optim.Adam(mult.values(), lr=a.lr)
    g = torch.Generator().manual_seed(i)

    def wcur():
        return {n: Q.unrotate_rows(Wr[n] * mult[n].repeat_interleave(G, 1), G) for n in names}

    with torch.no_grad():
        l0 = sum((torch.cat([m.block(i, hq[b:b + 4], wcur()) for b in range(0, len(hq), 4)]) - tgt).pow(2).mean().item() for _ in [0])
    for step in range(a.steps):
        sel = torch.randperm(len(hq), generator=g)[: a.bs]
        out = m.block(i, hq[sel], wcur())
        loss = (out - tgt[sel]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        Wn = wcur()
        for n in names:  # scales stored in fp16: s' = fp16(m*s) ~ rounding m*W_hat group-wise
            W[n] = Wn[n].detach()
        l1 = (torch.cat([m.block(i, hq[b:b + 4], W) for b in range(0, len(hq), 4)]) - tgt).pow(2).mean().item()
        hq = torch.cat([m.block(i, hq[b:b + 4], W) for b in range(0, len(hq), 4)])
        hf = torch.cat([m.block(i, hf[b:b + 4], {}) for b in range(0, len(hf), 4)])
    print(f"  block {i}: block-output MSE {l0:.4e} -> {l1:.4e}", flush=True)
t_ft = time.time() - t1
r1 = tqlib.evaluate(m, W, n_kld=a.kld)
name = f"{a.recipe} +blockft(steps={a.steps},lr={a.lr},target={a.target})"
print("after: ", tqlib.fmt_row(name, wquant.model_bpw(m, plan), r1), f"ft {t_ft:.0f}s", flush=True)
tqlib.log_result(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "weights.jsonl"),
                 dict(model=a.model, recipe=name, bpw=wquant.model_bpw(m, plan), quant_s=t_q, ft_s=t_ft,
                      tag="blockft", **r1))

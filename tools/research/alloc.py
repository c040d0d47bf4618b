"""Bit allocation: choose each tensor's width to minimise the summed predicted loss increase
(measured per-tensor dKLD from sens.py, or the proxy) subject to a bits/weight budget over ALL
tensors (norms at f32 included). Exact multiple-choice knapsack by dynamic programming.

Usage: python3 tools/research/alloc.py SENS_JSON BPW [--cost dkld|proxy] [--out PLAN_JSON]
         [--min-emb B] [--fixed NAME=METHOD ...]
Prints the plan (width per tensor) and writes it as {tensor: method} for wrun.py --plan.
"""
import argparse
import json

import numpy as np

import tqlib


def allocate(sens, bpw_target, cost="dkld", unit_bits=2048, min_emb=0, n_params=None,
             norm_bits=0):
    T = sens["tensors"]
    names = list(T)
    total_bits = bpw_target * n_params - norm_bits
    cap = int(total_bits // unit_bits)
    INF = 1e30
    dp = np.full(cap + 1, INF)
    dp[0] = 0.0
    choice = []
    for n in names:
        opts = []
        best = INF
        for b in sorted(T[n]["w"], key=lambda x: int(x)):
            r = T[n]["w"][b]
            if n == "token_embd" and int(b) < min_emb:
                continue
            c = max(r[cost], 0.0)
            best = min(best, c)
            size = int(np.ceil(r["bpw"] * T[n]["numel"] / unit_bits))
            opts.append((b, best, size))  # monotone: more bits never predicted worse
        new = np.full(cap + 1, INF)
        arg = np.full(cap + 1, -1, dtype=np.int16)
        for k, (b, c, size) in enumerate(opts):
            if size > cap:
                continue
            cand = np.full(cap + 1, INF)
            cand[size:] = dp[: cap + 1 - size] + c
            better = cand < new
            new[better] = cand[better]
            arg[better] = k
        choice.append((opts, arg))
        dp = new
    c = int(np.argmin(dp))
    pred = dp[c]
    plan = {}
    for n, (opts, arg) in zip(reversed(names), reversed(choice)):
        k = int(arg[c])
        b, _, size = opts[k]
        plan[n] = T[n]["w"][b]["method"]
        c -= size
    return plan, pred


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("sens")
    ap.add_argument("bpw", type=float)
    ap.add_argument("--cost", default="dkld")
    ap.add_argument("--out")
    ap.add_argument("--min-emb", type=int, default=0)
    a = ap.parse_args()
    sens = json.load(open(a.sens))
    m = tqlib.Model(sens["model"])
    norm_bits = sum(32 * v.numel() for v in m.W.values() if v.dim() == 1)
    plan, pred = allocate(sens, a.bpw, a.cost, min_emb=a.min_emb, n_params=m.n_params, norm_bits=norm_bits)
    import wquant
    print(f"predicted sum {a.cost} = {pred:.4f}; bpw = {wquant.model_bpw(m, plan):.4f}")
    print(" ".join(f"{n.replace('blk.', '')}:{plan[n].split('g')[0]}" for n in plan))
    if a.out:
        json.dump(plan, open(a.out, "w"), indent=1)

"""Codebook facts: Lloyd-Max MSE for the exact coordinate law of a random unit vector in R^G
(per unit vector, = G * per-coordinate MSE in units of 1/G), vs Gaussian codebook and vs the same
codebook rounded to an int8 grid (c -> round(c*127/max|c|) * max|c|/127).
Usage: python3 tools/research/codebook.py"""
import math, torch
import quant as Q

def mse(cb, x):
    return (x - cb[Q.nearest(x, cb)]).pow(2).mean().item()

g = torch.Generator().manual_seed(0)
print("| b | G | MSE beta-LM (unit vector) | gauss-LM on beta data | int8-rounded beta-LM | int8 loss | 4^-b |")
print("|---|---|---|---|---|---|---|")
for G in (32, 64, 128):
    v = torch.randn(200000 // G * G // G, G, generator=g)
    v = v / v.norm(dim=1, keepdim=True) * math.sqrt(G)   # coordinates of random unit vectors, x sqrt(G)
    x = v.flatten()
    for b in range(1, 9):
        cb = Q.lloyd_max(b, G, "beta")
        cg = Q.lloyd_max(b, G, "gauss")
        k = cb.abs().max() / 127
        ci = (cb / k).round() * k
        e, eg, ei = mse(cb, x), mse(cg, x), mse(ci, x)
        print(f"| {b} | {G} | {e:.5f} | {eg:.5f} | {ei:.5f} | {100*(ei/e-1):+.2f}% | {4**-b:.5f} |")

#!/usr/bin/env python3
"""Independent reference for the Gaussian Lloyd–Max codebooks (tests/math/lloyd_max_test.cc).

Plain Lloyd iteration with the closed-form normal moments in 40-digit arithmetic (mpmath), no
quadrature, no Newton: a different method from src/math/lloyd_max.cc. Prints the distortion and
the positive centroids for b = 1..4 as C++ initializers.

    python3 tools/lloyd_max_reference.py
"""
import mpmath as mp

mp.mp.dps = 40


def pdf(t):
    return mp.npdf(t)


def solve(levels):
    # Start at uniform quantiles of N(0, 3) (the f^(1/3) point density), iterate to 1e-30.
    t = [mp.sqrt(3) * mp.sqrt(2) * mp.erfinv(2 * mp.mpf(i) / levels - 1) for i in range(1, levels)]
    for _ in range(100000):
        edges = [-mp.inf] + t + [mp.inf]
        c = [(pdf(edges[i]) - pdf(edges[i + 1])) / (mp.ncdf(edges[i + 1]) - mp.ncdf(edges[i]))
             for i in range(levels)]
        new_t = [(c[i] + c[i + 1]) / 2 for i in range(levels - 1)]
        delta = max(abs(a - b) for a, b in zip(new_t, t))
        t = new_t
        if delta < mp.mpf(10) ** -30:
            break
    edges = [-mp.inf] + t + [mp.inf]
    c = [(pdf(edges[i]) - pdf(edges[i + 1])) / (mp.ncdf(edges[i + 1]) - mp.ncdf(edges[i]))
         for i in range(levels)]
    dist = mp.mpf(0)
    for i in range(levels):
        a, b = edges[i], edges[i + 1]
        m0 = mp.ncdf(b) - mp.ncdf(a)
        m1 = pdf(a) - pdf(b)
        m2 = m0 + (0 if a == -mp.inf else a * pdf(a)) - (0 if b == mp.inf else b * pdf(b))
        dist += m2 - 2 * c[i] * m1 + c[i] ** 2 * m0
    return dist, c


for bits in range(1, 5):
    d, c = solve(2 ** bits)
    pos = ", ".join(mp.nstr(v, 17) for v in c[len(c) // 2:])
    print(f"    {{{bits}, {mp.nstr(d, 17)}, {{{pos}}}}},")

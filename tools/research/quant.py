"""Weight quantizers for the research harness (quantize -> dequantize, float32 torch).

TurboQuant weight format (as prototyped here): for each output row, groups of G consecutive input
features; each group rotated by the same seeded randomized Hadamard R = H_G * diag(signs) (so the
activation group is rotated once per token); the rotated group v is stored as b-bit indices into a
Lloyd-Max codebook c (for the coordinate law of a random unit vector in R^G, expressed in units of
1/sqrt(G), i.e. ~N(0,1)) and one fp16 scale s, v_hat = s * c[idx]. bits/weight = b + 16/G.
"""
import math
import functools

import numpy as np
import torch

# ----------------------------------------------------------------------------- rotation


@functools.lru_cache(maxsize=None)
def hadamard(n):
    H = torch.ones(1, 1)
    while H.shape[0] < n:
        H = torch.cat([torch.cat([H, H], 1), torch.cat([H, -H], 1)], 0)
    assert H.shape[0] == n, "group size must be a power of two"
    return H / math.sqrt(n)


@functools.lru_cache(maxsize=None)
def rotation(G, seed=0, passes=1):
    """G x G orthogonal matrix R (y = R x): passes of H * diag(random signs)."""
    g = torch.Generator().manual_seed(1000003 * seed + G)
    if G & (G - 1):  # not a power of two (KV outlier splits only): seeded Haar-random orthogonal
        q, r = torch.linalg.qr(torch.randn(G, G, generator=g, dtype=torch.float64))
        return (q * torch.sign(torch.diagonal(r))).float()
    R = torch.eye(G)
    for _ in range(passes):
        s = torch.randint(0, 2, (G,), generator=g).float() * 2 - 1
        R = hadamard(G) @ torch.diag(s) @ R
    return R


def rotate_rows(W, G, seed=0, passes=1):
    """W [n_out, n_in] -> W' with each input group rotated: W'_g = W_g R^T."""
    R = rotation(G, seed, passes)
    n_out, n_in = W.shape
    return (W.view(n_out, n_in // G, G) @ R.T).reshape(n_out, n_in)


def unrotate_rows(Wr, G, seed=0, passes=1):
    R = rotation(G, seed, passes)
    n_out, n_in = Wr.shape
    return (Wr.view(n_out, n_in // G, G) @ R).reshape(n_out, n_in)


def rotate_hessian(H, G, seed=0, passes=1):
    """H = X^T X in the original basis -> Rb H Rb^T with Rb block-diagonal of R."""
    R = rotation(G, seed, passes)
    n = H.shape[0]
    Rb = torch.block_diag(*([R] * (n // G)))
    return Rb @ H @ Rb.T


# ----------------------------------------------------------------------------- codebooks


@functools.lru_cache(maxsize=None)
def lloyd_max(bits, G, law="beta", iters=300):
    """Lloyd-Max codebook (sorted, float32 tensor, 2^bits values) for one coordinate of a random unit
    vector in R^G, in units of 1/sqrt(G) (law 'beta': density (1-t^2)^((G-3)/2)); 'gauss' = N(0,1)."""
    n = 2 ** bits
    if law == "beta":
        t = np.linspace(-1, 1, 400001)[1:-1]
        p = np.exp((G - 3) / 2 * np.log1p(-t * t))
        x = t * math.sqrt(G)
    else:
        x = np.linspace(-8, 8, 400001)
        p = np.exp(-x * x / 2)
    p /= p.sum()
    cdf = np.cumsum(p)
    c = np.interp((np.arange(n) + 0.5) / n, cdf, x)
    for _ in range(iters):
        b = (c[1:] + c[:-1]) / 2
        idx = np.searchsorted(b, x)
        m = np.bincount(idx, weights=p * x, minlength=n)
        w = np.bincount(idx, weights=p, minlength=n)
        c = np.where(w > 0, m / np.maximum(w, 1e-300), c)
    return torch.tensor(c, dtype=torch.float32)


def lloyd_max_empirical(samples, bits, iters=100, init=None):
    """Lloyd-Max (1-D k-means) on empirical samples (1-D tensor); returns sorted codebook."""
    x = samples.flatten().double()
    if x.numel() > 2_000_000:
        x = x[torch.randperm(x.numel(), generator=torch.Generator().manual_seed(0))[:2_000_000]]
    n = 2 ** bits
    c = init.double().clone() if init is not None else torch.quantile(x.float(), (torch.arange(n) + 0.5) / n).double()
    for _ in range(iters):
        b = (c[1:] + c[:-1]) / 2
        idx = torch.bucketize(x, b)
        s = torch.zeros(n, dtype=torch.float64).index_add_(0, idx, x)
        w = torch.zeros(n, dtype=torch.float64).index_add_(0, idx, torch.ones_like(x))
        c = torch.where(w > 0, s / w.clamp(min=1), c)
    return c.sort().values.float()


def nearest(x, cb):
    """Index of the nearest codebook value for every element (cb sorted)."""
    b = (cb[1:] + cb[:-1]) / 2
    return torch.bucketize(x.contiguous(), b)


def fp16(x):
    return x.half().float()


# ----------------------------------------------------------------------------- TurboQuant RTN


def tq_quant_groups(V, cb, scale_mode="norm", iters=4, starts=(0.9, 1.0, 1.1)):
    """V [..., G] rotated groups -> (idx, s) with V_hat = s[..., None] * cb[idx].
    scale_mode 'norm': s = ||v||/sqrt(G) (TurboQuant_mse); 'ls': alternate nearest codes and the
    least-squares scale <v, c>/<c, c> starting from the norm scale (best of a small grid of starts)."""
    G = V.shape[-1]
    s0 = V.norm(dim=-1) / math.sqrt(G)
    s0 = torch.where(s0 > 0, s0, torch.ones_like(s0))
    if scale_mode == "norm":
        s = fp16(s0)
        return nearest(V / s[..., None], cb), s
    best_err, best_idx, best_s = None, None, None
    for f in starts:
        s = s0 * f
        for _ in range(iters):
            idx = nearest(V / s[..., None], cb)
            c = cb[idx]
            s = ((V * c).sum(-1) / (c * c).sum(-1).clamp(min=1e-20))
            s = torch.where(s > 0, s, s0)
        s = fp16(s)
        idx = nearest(V / s[..., None], cb)
        err = (V - s[..., None] * cb[idx]).pow(2).sum(-1)
        if best_err is None:
            best_err, best_idx, best_s = err, idx, s
        else:
            m = err < best_err
            best_err = torch.where(m, err, best_err)
            best_idx = torch.where(m[..., None], idx, best_idx)
            best_s = torch.where(m, s, best_s)
    return best_idx, best_s


def tq_rtn(W, bits, G, scale_mode="norm", seed=0, law="beta", cb=None, passes=1):
    """Data-free TurboQuant of W [n_out, n_in]; returns dequantized W in the ORIGINAL basis."""
    cb = lloyd_max(bits, G, law) if cb is None else cb
    Wr = rotate_rows(W, G, seed, passes)
    n_out, n_in = W.shape
    V = Wr.view(n_out, n_in // G, G)
    idx, s = tq_quant_groups(V, cb, scale_mode)
    return unrotate_rows((s[..., None] * cb[idx]).reshape(n_out, n_in), G, seed, passes)


def tq_bpw(bits, G):
    return bits + 16.0 / G


# ----------------------------------------------------------------------------- GPTQ (rotated basis)


def gptq(W, H, quant_col, group_start=None, G=128, damp=0.01, act_order=False, block=128):
    """Generic GPTQ error feedback. W [n_out, n_in] (already in the basis H refers to), H [n_in, n_in].
    quant_col(w_col [n_out], j) -> dequantized column (j = original column index);
    group_start(W_current, g) is called when column g*G is reached (in original order, only without
    act_order) so the quantizer may set that group's scales from the error-updated weights.
    Returns the dequantized W (same basis)."""
    W = W.clone().double()
    H = H.clone().double()
    n = W.shape[1]
    dead = torch.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0
    H += damp * torch.mean(torch.diag(H)) * torch.eye(n, dtype=H.dtype)
    perm = torch.argsort(torch.diag(H), descending=True) if act_order else torch.arange(n)
    W = W[:, perm]
    H = H[perm][:, perm]
    L = torch.linalg.cholesky(H)
    Hinv = torch.cholesky_inverse(L)
    Hinv = torch.linalg.cholesky(Hinv, upper=True)
    Q = torch.zeros_like(W)
    for i1 in range(0, n, block):
        i2 = min(i1 + block, n)
        W1 = W[:, i1:i2].clone()
        Q1 = torch.zeros_like(W1)
        E1 = torch.zeros_like(W1)
        Hi = Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            j = int(perm[i1 + i])
            if group_start is not None and not act_order and j % G == 0:
                cur = torch.cat([W1[:, i:], W[:, i2:]], 1)  # remaining columns j.. in order
                group_start(cur[:, :G].float(), j // G)
            w = W1[:, i]
            q = quant_col(w.float(), j).double()
            Q1[:, i] = q
            e = (w - q) / Hi[i, i]
            W1[:, i:] -= e.unsqueeze(1) @ Hi[i, i:].unsqueeze(0)
            E1[:, i] = e
        Q[:, i1:i2] = Q1
        W[:, i2:] -= E1 @ Hinv[i1:i2, i2:]
    out = torch.empty_like(Q)
    out[:, perm] = Q
    return out.float()


class TQColQuant:
    """Column quantizer for GPTQ with the TurboQuant codebook and per-(row, group) scales."""

    def __init__(self, Wr, bits, G, cb, scale_mode="norm", static=True):
        self.cb, self.G, self.mode = cb, G, scale_mode
        n_out, n_in = Wr.shape
        self.S = torch.zeros(n_out, n_in // G)
        self.idx = torch.zeros(n_out, n_in, dtype=torch.long)
        if static:  # scales from the original (data-free) groups
            _, s = tq_quant_groups(Wr.view(n_out, n_in // G, G), cb, scale_mode)
            self.S[:] = s

    def group_start(self, Wg, g):
        _, s = tq_quant_groups(Wg.unsqueeze(1), self.cb, self.mode)
        self.S[:, g] = s[:, 0]

    def __call__(self, w, j):
        s = self.S[:, j // self.G]
        i = nearest(w / s, self.cb)
        self.idx[:, j] = i
        return s * self.cb[i]


def tq_gptq(W, H, bits, G, seed=0, scale_mode="norm", act_order=False, static=None, damp=0.01,
            law="beta", cb=None, passes=1, ls_scales=0, return_parts=False):
    """TurboQuant + GPTQ in the rotated basis (H = X^T X in the original basis).
    ls_scales: rounds of closed-form H-weighted least-squares scale refit (then GPTQ again with the
    refit scales held fixed, except after the last round). Returns W_hat in the original basis."""
    cb = lloyd_max(bits, G, law) if cb is None else cb
    Wr = rotate_rows(W, G, seed, passes)
    Hr = rotate_hessian(H, G, seed, passes)
    static = act_order if static is None else static
    qc = TQColQuant(Wr, bits, G, cb, scale_mode, static=static)
    Wq = gptq(Wr, Hr, qc, None if static else qc.group_start, G, damp, act_order)
    for r in range(ls_scales):
        S = ls_scales_fit(Wr, Hr, cb[qc.idx], G, damp)
        qc.S = S
        if r + 1 < ls_scales:
            Wq = gptq(Wr, Hr, qc, None, G, damp, act_order)
        else:
            Wq = (S.repeat_interleave(G, 1) * cb[qc.idx])
    out = unrotate_rows(Wq, G, seed, passes)
    if return_parts:
        return out, qc
    return out


def ls_scales_fit(Wr, Hr, U, G, damp=0.01, chunk=64):
    """Closed-form per-(row, group) scales minimising (w - Q s)^T H (w - Q s) for each row, where
    Q holds the unscaled code values U [n_out, n_in] of each group. = argmin ||(W - W_hat) X||^2
    over the scales with the codes fixed. Returns fp16-rounded scales [n_out, n_in/G]."""
    n_out, n_in = Wr.shape
    ng = n_in // G
    H = Hr.double() + damp * torch.mean(torch.diag(Hr)).double() * torch.eye(n_in, dtype=torch.float64)
    Hg = H.view(n_in, ng, G)
    S = torch.zeros(n_out, ng)
    b_all = ((Wr.double() @ H) * U.double()).view(n_out, ng, G).sum(-1)
    for r0 in range(0, n_out, chunk):
        Ur = U[r0:r0 + chunk].double().view(-1, ng, G)
        K = torch.einsum("ihj,rhj->rih", Hg, Ur)  # [r, n_in, ng]
        M = torch.einsum("rgi,rgih->rgh", Ur, K.view(-1, ng, G, ng))
        M += 1e-9 * torch.eye(ng, dtype=M.dtype) * M.diagonal(dim1=1, dim2=2).mean(-1)[:, None, None].clamp(min=1e-30)
        S[r0:r0 + chunk] = torch.linalg.solve(M, b_all[r0:r0 + chunk]).float()
    return fp16(S)


# ----------------------------------------------------------------------------- baselines


def q8_channel(W):
    """Symmetric int8 per output row, fp16 scale. bpw = 8 + 16/n_in."""
    s = fp16(W.abs().amax(1, keepdim=True) / 127).clamp(min=1e-12)
    return (W / s).round().clamp(-127, 127) * s


def asym_params(Wg, bits):
    """Asymmetric min/max params per group: Wg [..., G] -> (scale, zero) fp16-rounded."""
    mx = Wg.amax(-1).clamp(min=0)
    mn = Wg.amin(-1).clamp(max=0)
    qmax = 2 ** bits - 1
    s = fp16(((mx - mn) / qmax).clamp(min=1e-12))
    z = (-mn / s).round().clamp(0, qmax)  # integer zero point (stored in 4 bits in GPTQ; fp16 here)
    return s, z


def rtn_asym(W, bits=4, G=128):
    """Asymmetric RTN, group G along input. bpw = bits + 32/G (fp16 scale + zero)."""
    n_out, n_in = W.shape
    V = W.view(n_out, n_in // G, G)
    s, z = asym_params(V, bits)
    q = (V / s[..., None] + z[..., None]).round().clamp(0, 2 ** bits - 1)
    return ((q - z[..., None]) * s[..., None]).reshape(n_out, n_in)


class AsymColQuant:
    def __init__(self, W, bits, G, static):
        self.bits, self.G = bits, G
        n_out, n_in = W.shape
        self.s = torch.zeros(n_out, n_in // G)
        self.z = torch.zeros(n_out, n_in // G)
        if static:
            s, z = asym_params(W.view(n_out, n_in // G, G), bits)
            self.s[:], self.z[:] = s, z

    def group_start(self, Wg, g):
        s, z = asym_params(Wg, self.bits)
        self.s[:, g], self.z[:, g] = s, z

    def __call__(self, w, j):
        s, z = self.s[:, j // self.G], self.z[:, j // self.G]
        q = (w / s + z).round().clamp(0, 2 ** self.bits - 1)
        return (q - z) * s


def gptq_asym(W, H, bits=4, G=128, act_order=True, damp=0.01):
    """GPTQ int4 asymmetric group 128 (act-order with static groups: no g_idx needed)."""
    qc = AsymColQuant(W, bits, G, static=act_order)
    return gptq(W, H, qc, None if act_order else qc.group_start, G, damp, act_order)


# ----------------------------------------------------------------------------- ggml re-implementations


def ggml_q8_0(W):
    n_out, n_in = W.shape
    V = W.reshape(-1, 32)
    d = V.abs().amax(1, keepdim=True) / 127
    q = torch.where(d > 0, V / torch.where(d > 0, d, torch.ones_like(d)), torch.zeros_like(V)).round()
    return (q * fp16(d)).view(n_out, n_in)


def ggml_q4_0(W):
    n_out, n_in = W.shape
    V = W.reshape(-1, 32)
    ia = V.abs().argmax(1, keepdim=True)
    mx = V.gather(1, ia)
    d = mx / -8
    idd = torch.where(d != 0, 1 / torch.where(d != 0, d, torch.ones_like(d)), torch.zeros_like(d))
    q = torch.clamp(torch.trunc(V * idd + 8.5), max=15)
    return ((q - 8) * fp16(d)).view(n_out, n_in)


def _make_qx_quants(X, nmax):
    """ggml make_qx_quants(n, nmax, x, L, rmse_type=1, NULL) vectorised over rows of X [B, n]."""
    ia = X.abs().argmax(1, keepdim=True)
    mx = X.gather(1, ia)
    zero = mx.abs() < 1e-15
    mx = torch.where(zero, torch.ones_like(mx), mx)
    w = X * X

    def trial(iscale):
        l = torch.round(iscale * X).clamp(-nmax, nmax - 1)  # nearest_int rounds half away? close enough
        sumlx = (w * X * l).sum(1, keepdim=True)
        suml2 = (w * l * l).sum(1, keepdim=True)
        return l, sumlx, suml2

    iscale = -nmax / mx
    L, sumlx, suml2 = trial(iscale)
    scale = torch.where(suml2 > 0, sumlx / torch.where(suml2 > 0, suml2, torch.ones_like(suml2)), torch.zeros_like(sumlx))
    best = scale * sumlx
    for is_ in range(-9, 10):
        if is_ == 0:
            continue
        iscale = -(nmax + 0.1 * is_) / mx
        l, sx, s2 = trial(iscale)
        better = (s2 > 0) & (sx * sx > best * s2)
        sc = sx / torch.where(s2 > 0, s2, torch.ones_like(s2))
        L = torch.where(better, l, L)
        scale = torch.where(better, sc, scale)
        best = torch.where(better, sc * sx, best)
    scale = torch.where(zero, torch.zeros_like(scale), scale)
    return scale.squeeze(1)


def ggml_q6_k(W):
    """Q6_K (super-block 256, 16 sub-blocks of 16, int8 sub-scales, fp16 d). bpw 6.5625."""
    n_out, n_in = W.shape
    X = W.reshape(-1, 16, 16)
    nb = X.shape[0]
    sc = _make_qx_quants(X.reshape(-1, 16), 32).view(nb, 16)
    ia = sc.abs().argmax(1, keepdim=True)
    max_scale = sc.gather(1, ia)
    ok = max_scale.abs() > 1e-15
    iscale = -128.0 / torch.where(ok, max_scale, torch.ones_like(max_scale))
    d = fp16(1 / iscale)
    qs = torch.round(iscale * sc).clamp(max=127)
    dd = (d * qs).unsqueeze(-1)
    l = torch.round(X / torch.where(dd != 0, dd, torch.ones_like(dd))).clamp(-32, 31)
    out = torch.where(dd != 0, l * dd, torch.zeros_like(X))
    out = torch.where(ok.unsqueeze(-1), out, torch.zeros_like(X))
    return out.reshape(n_out, n_in)

"""Model-level weight quantization driver: method strings per tensor, calibration Hessians
(parallel = from the float model, sequential = block by block through the already-quantized model),
bits/weight accounting over all tensors (norms counted at f32, as the llama.cpp anchors do).

Method strings (one per tensor):
  bf16 | q8 (int8 per row) | rtn4 (asym int4 g128) | gptq4 (asym int4 g128, act-order, static groups)
  q8_0 | q4_0 | q6_k (ggml re-implementations)
  tq<b>g<G>[.<opt>...] TurboQuant, b in 2..8, G in 32/64/128, options:
     ls   data-free least-squares scale (else scale = group norm)
     gptq GPTQ error feedback in the rotated basis (H from calibration)
     ao   act-order (static scales)   st  static scales without act-order
     lsq<N> N rounds of closed-form H-weighted scale refit (learned scales, objective ||(W-W^)X||^2)
     d<x> damping fraction (default 0.01)   gauss  Gaussian codebook   r2  two Hadamard passes
     emp  codebook = Lloyd-Max fitted to this tensor's normalized rotated weights
     i8   codebook values rounded to an int8 grid (c * 127/max|c|, rounded)
     sp<f> channel split: fraction f of the groups (highest H-weighted energy) at b+1 bits
"""
import math
import re
import time

import torch

import quant as Q
import tqlib


def parse_tq(method):
    """tq<b>g<G>[_opt]* with '_' as option separator (so decimals are safe)."""
    head, *opts = method.split("_")
    m = re.fullmatch(r"tq(\d)g(\d+)", head)
    if not m:
        return None
    o = {}
    for x in opts:
        mm = re.fullmatch(r"([a-z]+)([0-9.]*)", x)
        o[mm.group(1)] = float(mm.group(2)) if mm.group(2) else True
    return int(m.group(1)), int(m.group(2)), o


def method_bpw(method, shape):
    n_out, n_in = shape
    if method == "bf16":
        return 16.0
    if method == "q8":
        return 8 + 16.0 / n_in
    if method in ("rtn4", "gptq4"):
        return 4 + 32.0 / 128
    if method in ("rtn3", "gptq3"):
        return 3 + 32.0 / 128
    fixed = {"q8_0": 8.5, "q4_0": 4.5, "q6_k": 6.5625}
    if method in fixed:
        return fixed[method]
    b, G, o = parse_tq(method)
    sp = o.get("sp", 0.0)
    return b + sp + 16.0 / G


def model_bpw(model, plan):
    bits = 0.0
    n = 0
    for k, v in model.W.items():
        if v.dim() == 1:
            bits += 32 * v.numel()
        else:
            bits += method_bpw(plan.get(k, "bf16"), v.shape) * v.numel()
        n += v.numel()
    return bits / n


def input_key(name):
    if name == "token_embd":
        return None
    return tqlib.INPUT_OF[name.split(".")[2]]


def layer_of(name):
    return -1 if name == "token_embd" else int(name.split(".")[1])


def quantize_tensor(W, method, H=None, Hdiag=None):
    """Returns the dequantized float32 W for one tensor."""
    if method == "bf16":
        return W
    if method == "q8":
        return Q.q8_channel(W)
    if method == "rtn4":
        return Q.rtn_asym(W, 4, 128)
    if method == "rtn3":
        return Q.rtn_asym(W, 3, 128)
    if method in ("gptq4", "gptq3"):
        return Q.gptq_asym(W, H, int(method[-1]), 128, act_order=True)
    if method == "q8_0":
        return Q.ggml_q8_0(W)
    if method == "q4_0":
        return Q.ggml_q4_0(W)
    if method == "q6_k":
        return Q.ggml_q6_k(W)
    b, G, o = parse_tq(method)
    law = "gauss" if o.get("gauss") else "beta"
    passes = 2 if o.get("r") == 2 else 1
    cb = Q.lloyd_max(b, G, law)
    scale_mode = "ls" if o.get("ls") else "norm"
    if o.get("emp"):
        Wr = Q.rotate_rows(W, G, 0, passes).view(-1, G)
        Vn = Wr / (Wr.norm(dim=-1, keepdim=True) / math.sqrt(G)).clamp(min=1e-12)
        cb = Q.lloyd_max_empirical(Vn, b, init=cb)
    if o.get("i8"):
        cb = quantize_codebook_int8(cb)
    sp = o.get("sp", 0.0)
    if sp:
        return split_quant(W, b, G, sp, o, H, method)
    if o.get("gptq"):
        return Q.tq_gptq(W, H, b, G, scale_mode=scale_mode, act_order=bool(o.get("ao")),
                         static=True if (o.get("ao") or o.get("st")) else False,
                         damp=o.get("d", 0.01), cb=cb, passes=passes, ls_scales=int(o.get("lsq", 0)))
    if o.get("lsq"):  # learned scales without error feedback: codes from RTN, scales refit on H
        Wr = Q.rotate_rows(W, G, 0, passes)
        n_out, n_in = W.shape
        idx, s = Q.tq_quant_groups(Wr.view(n_out, n_in // G, G), cb, scale_mode)
        S = Q.ls_scales_fit(Wr, Q.rotate_hessian(H, G, 0, passes), cb[idx].view(n_out, n_in), G)
        return Q.unrotate_rows(S.repeat_interleave(G, 1) * cb[idx].view(n_out, n_in), G, 0, passes)
    return Q.tq_rtn(W, b, G, scale_mode, cb=cb, passes=passes)


def quantize_codebook_int8(cb):
    """Codebook values represented as int8 * per-format constant: c -> round(c*127/max|c|)*max|c|/127."""
    k = cb.abs().max() / 127
    return (cb / k).round() * k


def split_quant(W, b, G, frac, o, H, method):
    """Channel split: the fraction frac of input groups with the largest H-weighted energy
    sum_j H_jj * ||W[:, j]||^2 get b+1 bits; the rest b bits. Same options otherwise."""
    n_out, n_in = W.shape
    ng = n_in // G
    diag = torch.diag(H) if H is not None else torch.ones(n_in)
    energy = (diag * W.pow(2).sum(0)).view(ng, G).sum(1)
    n_hi = int(round(frac * ng))
    hi = torch.zeros(ng, dtype=torch.bool)
    hi[torch.argsort(energy, descending=True)[:n_hi]] = True
    cols_hi = hi.repeat_interleave(G)
    base = method.split("_")[0]
    opts = "_".join(x for x in method.split("_")[1:] if not x.startswith("sp"))
    out = torch.empty_like(W)
    for mask, bb in ((cols_hi, b + 1), (~cols_hi, b)):
        if mask.sum() == 0:
            continue
        m2 = f"tq{bb}g{G}" + ("_" + opts if opts else "")
        Hs = H[mask][:, mask] if H is not None else None
        out[:, mask] = quantize_tensor(W[:, mask].contiguous(), m2, Hs)
    return out


def needs_H(method):
    if method in ("gptq4", "gptq3"):
        return True
    p = parse_tq(method)
    return bool(p and (p[2].get("gptq") or p[2].get("lsq") or p[2].get("sp")))


class HCollector:
    def __init__(self, keys):
        self.keys = set(keys)
        self.H = {}
        self.n = 0

    def __call__(self, layer, key, x):
        if (layer, key) not in self.keys:
            return
        x = x.reshape(-1, x.shape[-1])
        h = (x.T @ x).double()
        self.H[(layer, key)] = self.H.get((layer, key), 0) + h


_H_CACHE = {}


def hessians_float(model, calib, keys, bs=4):
    """H = sum X^T X of the float model's linear inputs for keys {(layer, input_key)} (all keys are
    computed and cached per (model, calibration set) on first use)."""
    ck = (model.name, calib.shape[0], int(calib[0, :8].sum()))
    if ck in _H_CACHE:
        return _H_CACHE[ck]
    keys = {(i, k) for i in range(model.n_layer) for k in ("attn_in", "attn_out", "ffn_in", "ffn_act")}
    keys.add(head_key(model))
    col = HCollector(keys)
    for b in range(0, calib.shape[0], bs):
        model.forward(calib[b:b + bs], {}, capture=col)
    _H_CACHE[ck] = {k: v.float() for k, v in col.H.items()}
    return _H_CACHE[ck]


def head_key(model):
    return (model.n_layer, "head_in")


def quantize_model(model, plan, calib=None, sequential=False, verbose=False, bs=4):
    """plan: {tensor name: method}. Returns (W dict of dequantized tensors, seconds per tensor dict,
    calibration seconds)."""
    W = {}
    times = {}
    t_cal = 0.0
    any_h = any(needs_H(m) for m in plan.values())
    emb_needs_h = needs_H(plan.get("token_embd", "bf16"))
    if any_h and not sequential:
        t = time.time()
        keys = {(layer_of(n), input_key(n)) for n, m in plan.items() if needs_H(m) and n != "token_embd"}
        if emb_needs_h:
            keys.add(head_key(model))
        Hs = hessians_float(model, calib, keys)
        t_cal += time.time() - t
        for n, m in plan.items():
            t = time.time()
            H = Hs.get(head_key(model)) if n == "token_embd" else Hs.get((layer_of(n), input_key(n)))
            W[n] = quantize_tensor(model.W[n], m, H)
            times[n] = time.time() - t
            if verbose:
                print(f"  {n:22s} {m:28s} {times[n]:6.1f}s", flush=True)
        return W, times, t_cal
    if not any_h:
        for n, m in plan.items():
            t = time.time()
            W[n] = quantize_tensor(model.W[n], m)
            times[n] = time.time() - t
        return W, times, 0.0
    # sequential: block by block, each linear's H from the partially quantized model
    t = time.time()
    with torch.no_grad():
        hs = [model.embed(calib[b:b + bs], {}) for b in range(0, calib.shape[0], bs)]  # float emb
    t_cal += time.time() - t
    stages = [["attn_q", "attn_k", "attn_v"], ["attn_output"], ["ffn_gate", "ffn_up"], ["ffn_down"]]
    for i in range(model.n_layer):
        for st in stages:
            names = [f"blk.{i}.{s}" for s in st if f"blk.{i}.{s}" in plan]
            if not names:
                continue
            t = time.time()
            key = (i, input_key(names[0]))
            H = None
            if any(needs_H(plan[n]) for n in names):
                col = HCollector({key})
                with torch.no_grad():
                    for h in hs:
                        model.block(i, h, W, capture=col)
                H = col.H[key].float()
            t_cal += time.time() - t
            for n in names:
                t = time.time()
                W[n] = quantize_tensor(model.W[n], plan[n], H)
                times[n] = time.time() - t
                if verbose:
                    print(f"  {n:22s} {plan[n]:28s} {times[n]:6.1f}s", flush=True)
        t = time.time()
        with torch.no_grad():
            hs = [model.block(i, h, W) for h in hs]
        t_cal += time.time() - t
    if "token_embd" in plan:
        t = time.time()
        H = None
        if emb_needs_h:
            col = HCollector({head_key(model)})
            with torch.no_grad():
                for h in hs:
                    model.head(h, {}, capture=col)
            H = col.H[head_key(model)].float()
        t_cal += time.time() - t
        t = time.time()
        W["token_embd"] = quantize_tensor(model.W["token_embd"], plan["token_embd"], H)
        times["token_embd"] = time.time() - t
    return W, times, t_cal


def uniform_plan(model, linear_method, emb_method=None):
    plan = {f"blk.{i}.{n}": linear_method for i in range(model.n_layer) for n in tqlib.LINEARS}
    plan["token_embd"] = emb_method or linear_method
    return plan

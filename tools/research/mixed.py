"""Mixed-precision plans from a sens.py file at given bits/weight budgets, then evaluated.
Usage: python3 tools/research/mixed.py SENS_JSON BPW [BPW ...] [--cost dkld|proxy] [--kld 50] [--ppl 0]
       [--min-emb B] [--seq]
Plans are written to tools/research/results/plan_<model>_<G>_<bpw>_<cost>.json; rows to weights.jsonl."""
import argparse, json, os, time
import tqlib, wquant, alloc

ap = argparse.ArgumentParser()
ap.add_argument("sens")
ap.add_argument("bpw", type=float, nargs="+")
ap.add_argument("--cost", default="dkld")
ap.add_argument("--kld", type=int, default=50)
ap.add_argument("--ppl", type=int, default=0)
ap.add_argument("--calib", type=int, default=64)
ap.add_argument("--min-emb", type=int, default=0)
ap.add_argument("--seq", action="store_true")
ap.add_argument("--extrap", type=int, default=0, help="use measured dKLD only at this width")
ap.add_argument("--sub", default="", help="replace linear method suffix, e.g. '_ls_gptq=_ls_gptq_lsq1'")
a = ap.parse_args()
ap2 = None
sens = json.load(open(a.sens))
if a.extrap:
    # cheap sensitivity: measured dKLD at ONE width b0 per tensor, other widths extrapolated by the
    # ratio of the Hessian-weighted error proxy (tr(E H E^T)) at b vs b0
    for n, r in sens["tensors"].items():
        w0 = r["w"][str(a.extrap)]
        for b, x in r["w"].items():
            x["dkld"] = w0["dkld"] * x["proxy"] / w0["proxy"]
    a.cost = "dkld"
m = tqlib.Model(sens["model"])
calib = tqlib.calib_windows(m.name, a.calib)
norm_bits = sum(32 * v.numel() for v in m.W.values() if v.dim() == 1)
res_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
print(tqlib.TABLE_HEAD)
for B in a.bpw:
    plan, pred = alloc.allocate(sens, B, a.cost, min_emb=a.min_emb, n_params=m.n_params, norm_bits=norm_bits)
    if a.sub:
        old, new = a.sub.split("=")
        plan = {k: (v.replace(old, new) if k != "token_embd" else v) for k, v in plan.items()}
    json.dump(plan, open(f"{res_dir}/plan_{m.name}_G{sens['G']}_{B}_{a.cost}{'_x' + str(a.extrap) if a.extrap else ''}.json", "w"), indent=1)
    t = time.time()
    W, times, tcal = wquant.quantize_model(m, plan, calib, sequential=a.seq)
    tq = time.time() - t
    r = tqlib.evaluate(m, W, n_kld=a.kld, n_ppl=max(a.ppl, a.kld))
    bpw = wquant.model_bpw(m, plan)
    widths = {}
    for k, v in plan.items():
        widths.setdefault(v.split("g")[0], []).append(k.replace("blk.", ""))
    name = f"mixed --bpw {B} ({a.cost}{'@' + str(a.extrap) + ' extrapolated' if a.extrap else ''}, G{sens['G']}{', seq' if a.seq else ''}{', ' + a.sub if a.sub else ''})"
    print(tqlib.fmt_row(name, bpw, r) + f" pred {pred:.4f} quant {tq:.0f}s emb={plan['token_embd']}", flush=True)
    print("   ", {k: len(v) for k, v in sorted(widths.items())}, flush=True)
    tqlib.log_result(f"{res_dir}/weights.jsonl", dict(model=m.name, recipe=name, plan=plan, bpw=bpw, pred=pred,
                     quant_s=tq, calib_s=tcal, tag="mixed", **r))

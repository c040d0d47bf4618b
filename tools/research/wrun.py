"""Run weight-quantization recipes on a reference model and print/log the comparison rows.

Usage: python3 tools/research/wrun.py MODEL "RECIPE" ["RECIPE" ...] [--kld N] [--ppl N] [--calib N]
       [--seq] [--tag TAG]
RECIPE = LINEAR_METHOD[@EMB_METHOD][;override=METHOD...]  e.g.  "tq4g64_gptq_lsq2@q6_k;attn_v=tq5g64_gptq"
(override keys match tensor name suffixes like attn_v, ffn_down, blk.0.; see wquant.py for methods).
Results are appended to tools/research/results/weights.jsonl.
"""
import argparse, json, os, time
import torch
import tqlib, wquant

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("recipes", nargs="+")
ap.add_argument("--kld", type=int, default=20)
ap.add_argument("--ppl", type=int, default=0)
ap.add_argument("--calib", type=int, default=64)
ap.add_argument("--seq", action="store_true")
ap.add_argument("--tag", default="")
ap.add_argument("--plan", help="JSON file with a full {tensor: method} plan (recipe ignored)")
a = ap.parse_args()

m = tqlib.Model(a.model)
calib = tqlib.calib_windows(a.model, a.calib)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "weights.jsonl")


def plan_of(recipe):
    parts = recipe.split(";")
    lin, _, emb = parts[0].partition("@")
    plan = wquant.uniform_plan(m, lin, emb or None)
    for ov in parts[1:]:
        k, v = ov.split("=")
        for n in plan:
            if n != "token_embd" and (n.endswith("." + k) or n.startswith(k)):
                plan[n] = v
    return plan


print(tqlib.TABLE_HEAD)
for r in a.recipes:
    plan = json.load(open(a.plan)) if a.plan else plan_of(r)
    t = time.time()
    W, times, tcal = wquant.quantize_model(m, plan, calib, sequential=a.seq)
    tq = time.time() - t
    res = tqlib.evaluate(m, W, n_kld=a.kld, n_ppl=max(a.ppl, a.kld))
    bpw = wquant.model_bpw(m, plan)
    name = r + (" [seq]" if a.seq else "")
    print(tqlib.fmt_row(name, bpw, res) + f" quant {tq:.1f}s (calib {tcal:.1f}s)", flush=True)
    tqlib.log_result(out, dict(model=a.model, recipe=r, seq=a.seq, calib=a.calib, bpw=bpw, tag=a.tag,
                               quant_s=tq, calib_s=tcal, **res))

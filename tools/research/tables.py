"""Render result rows logged in tools/research/results/{weights,kv}.jsonl as markdown tables.
Usage: python3 tools/research/tables.py weights|kv MODEL [TAG ...]   (last row wins per recipe)"""
import json, os, sys
kind, model, tags = sys.argv[1], sys.argv[2], sys.argv[3:]
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"{kind}.jsonl")
rows = {}
for line in open(path):
    r = json.loads(line)
    if r["model"] != model or (tags and r.get("tag") not in tags):
        continue
    key = r.get("recipe", r.get("spec")) + (" [seq]" if r.get("seq") else "")
    rows[key] = r
if kind == "weights":
    print("| method | bits/weight (all tensors) | PPL | ΔPPL | mean KLD | KLD p99 | top-1 | windows KLD/PPL | quant s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['bpw']:.3f} | {r['ppl']:.3f} | {r['dppl_pct']:+.2f}% | {r['kld']:.4f} | {r['kld_p99']:.3f} | "
              f"{r['top1']:.1f}% | {r['n_kld']}/{r['n_ppl']} | {r.get('quant_s', 0):.0f} |")
else:
    print("| K/V | bits K / V (incl. norms) | PPL | ΔPPL | mean KLD | KLD p99 | top-1 | windows |")
    print("|---|---|---|---|---|---|---|---|")
    for k, r in rows.items():
        print(f"| {k} | {r['bits_k']:.3f} / {r['bits_v']:.3f} | {r['ppl']:.3f} | {r['dppl_pct']:+.2f}% | {r['kld']:.4f} | "
              f"{r['kld_p99']:.3f} | {r['top1']:.1f}% | {r['n_kld']}/{r['n_ppl']} |")

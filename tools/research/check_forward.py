"""Checks the torch forward against reference.json / reference_logits.f32 and the reference PPL.
Usage: python3 tools/research/check_forward.py tq-ref-s [n_windows_for_ppl]"""
import json, sys, time
import numpy as np, torch
import tqlib

name = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 0
m = tqlib.Model(name)
ref = json.load(open(f"{tqlib.DATA}/models/{name}/reference.json"))
c0 = ref["cases"][0]
ids = torch.tensor([c0["ids"]])
lg = m.forward(ids)[0]
rl = np.fromfile(f"{tqlib.DATA}/models/{name}/reference_logits.f32", dtype=np.float32).reshape(len(c0["ids"]), -1)
print("max |logit - reference_logits.f32| =", (lg - torch.from_numpy(rl)).abs().max().item())
for c in ref["cases"]:
    lg = m.forward(torch.tensor([c["ids"]]))[0]
    top = lg[-1].topk(10)
    print("top10 ids match:", top.indices.tolist() == c["last_logits_top10_ids"],
          "max top10 diff", max(abs(a - b) for a, b in zip(top.values.tolist(), c["last_logits_top10"])) if "last_logits_top10" in c else "")
ids_all = tqlib.tokenize_file(name, f"{tqlib.DATA}/corpus/valid.txt")
print("valid tokens whole file", len(ids_all), "reference", ref["valid_tokens_whole_file"])
if n:
    t = time.time()
    r = tqlib.evaluate(m, {}, n_kld=0, n_ppl=n)
    print(f"PPL over {n} windows: {r['ppl']:.4f} (reference 400 windows: {ref['valid_ppl_ctx512']}) {time.time()-t:.1f}s")

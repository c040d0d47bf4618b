#!/usr/bin/env python3
"""Reference logits of the tiny synthetic models (tq synth --preset tiny-*) from Hugging Face
transformers, for tests/model/arch_test.cc: one check per architecture variant the runtime
supports (llama with llama3 RoPE scaling and an untied head, qwen2 with q/k/v bias, qwen3 with q/k
RMSNorm and head_dim * heads != hidden).

  build/release/bin/tq synth --preset tiny-llama3 --type f32 -o /tmp/tiny-llama3   (same for qwen2, qwen3)
  python3 tools/ref_tiny_archs.py --models /tmp -o tests/data/runtime/tiny_archs.json
"""
import argparse, json, os

import torch
from transformers import AutoModelForCausalLM

IDS = [1, 72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100, 33, 300, 5, 17, 250, 42, 7]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="/tmp")
    ap.add_argument("-o", "--out", default="tests/data/runtime/tiny_archs.json")
    a = ap.parse_args()
    out = {"ids": IDS, "source": f"transformers float32 forward (tools/ref_tiny_archs.py), tq synth --type f32 --seed 1"}
    for name in ["tiny-llama3", "tiny-qwen2", "tiny-qwen3"]:
        m = AutoModelForCausalLM.from_pretrained(os.path.join(a.models, name), torch_dtype=torch.float32)
        m.eval()
        with torch.no_grad():
            logits = m(torch.tensor([IDS])).logits[0].double()
        out[name] = {"logits": [[round(float(x), 7) for x in row] for row in logits]}
        print(name, logits.shape, float(logits.abs().max()))
    json.dump(out, open(a.out, "w"))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes tests/data/gguf/rope_freqs_llama3.json: llama.cpp's rope_freqs.weight factors for llama3
RoPE scaling, computed with torch by the code of convert_hf_to_gguf.py's
LlamaModel.generate_extra_tensors (reproduced below), for two real configurations. The C++ test
(tests/io/gguf_convert_rules_test.cc) compares llama3_rope_freq_factors with them bit for bit.

  pip install torch && python3 tools/make_rope_freqs_fixture.py
"""
import json
import math
import os

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def llama3_rope_factors(hparams):
    """convert_hf_to_gguf.py, LlamaModel.generate_extra_tensors (rope_type == "llama3")."""
    rope_scaling = hparams["rope_scaling"]
    base = hparams.get("rope_theta", 10000.0)
    if (dim := hparams.get("head_dim")) is None:
        dim = hparams["hidden_size"] // hparams["num_attention_heads"]
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))

    factor = rope_scaling.get("factor", 8.0)
    low_freq_factor = rope_scaling.get("low_freq_factor", 1.0)
    high_freq_factor = rope_scaling.get("high_freq_factor", 4.0)
    old_context_len = hparams.get("original_max_position_embeddings", 8192)

    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor

    rope_factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            rope_factors.append(1)
        elif wavelen > low_freq_wavelen:
            rope_factors.append(factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            rope_factors.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(rope_factors, dtype=torch.float32)


CONFIGS = {
    # Llama-3.1-8B: head_dim 128, factor 8
    "llama-3.1-8b": {"hidden_size": 4096, "num_attention_heads": 32, "rope_theta": 500000.0,
                     "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                      "original_max_position_embeddings": 8192, "rope_type": "llama3"}},
    # Llama-3.2-1B: head_dim 64, factor 32
    "llama-3.2-1b": {"hidden_size": 2048, "num_attention_heads": 32, "rope_theta": 500000.0,
                     "rope_scaling": {"factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                      "original_max_position_embeddings": 8192, "rope_type": "llama3"}},
}


def main():
    out = {}
    for name, hp in CONFIGS.items():
        hp = dict(hp, original_max_position_embeddings=hp["rope_scaling"]["original_max_position_embeddings"])
        f = llama3_rope_factors(hp).numpy()
        out[name] = {"config": hp, "factors_f32_bits": [int(x) for x in f.view(np.uint32)],
                     "factors": [float(x) for x in f]}
    path = os.path.join(ROOT, "tests", "data", "gguf", "rope_freqs_llama3.json")
    with open(path, "w") as fp:
        json.dump(out, fp, indent=1)
    print(f"{path}: torch {torch.__version__}")


if __name__ == "__main__":
    main()

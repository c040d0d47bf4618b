#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_sentencepiece.cc: two tiny SentencePiece models (unigram,
and BPE with byte fallback) trained on the first 20 KB of a text, identity normalization (no
precompiled charsmap, so each model is a few KB).
Usage: tools/make_spm_seeds.py ../shared/data/corpus/train-00.txt   (needs `pip install sentencepiece`)"""
import os
import sys
import tempfile

import sentencepiece as spm

src = sys.argv[1]
out = os.path.join(os.path.dirname(__file__), "..", "fuzz", "seeds", "sentencepiece")
os.makedirs(out, exist_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    text = os.path.join(tmp, "train.txt")
    with open(src, "rb") as f, open(text, "wb") as g:
        g.write(f.read(20000))
    for name, kw in [("unigram", dict(model_type="unigram", vocab_size=120)),
                     ("bpe_bytefallback", dict(model_type="bpe", vocab_size=400, byte_fallback=True))]:
        prefix = os.path.join(tmp, name)
        spm.SentencePieceTrainer.train(input=text, model_prefix=prefix, minloglevel=2,
                                       character_coverage=0.98, normalization_rule_name="identity", **kw)
        os.replace(prefix + ".model", os.path.join(out, name + ".model"))
        print("wrote", os.path.join(out, name + ".model"))

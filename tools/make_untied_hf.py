#!/usr/bin/env python3
"""Writes an untied copy of a tied Hugging Face model folder (Python standard library only).

The copy's config.json says tie_word_embeddings false and its model.safetensors gains
lm_head.weight = a byte copy of model.embed_tokens.weight, so it computes exactly the logits of the
source while storing an output head of its own (to measure untied-head quantization, e.g. hot rows
of output.weight, on the tied reference models).

Sharded folders (model.safetensors.index.json) get the head as one more shard,
lm_head.safetensors, listed in the index.

Usage: tools/make_untied_hf.py SRC_DIR DST_DIR
"""
import json
import os
import shutil
import struct
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for name in os.listdir(src):
        if name not in ("model.safetensors", "model.safetensors.index.json", "config.json") and \
                not name.startswith("reference"):
            shutil.copy(os.path.join(src, name), os.path.join(dst, name))
    with open(os.path.join(src, "config.json")) as f:
        config = json.load(f)
    config["tie_word_embeddings"] = False
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2)

    index_path = os.path.join(src, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        if "lm_head.weight" in index["weight_map"]:
            sys.exit(f"{src}: already has lm_head.weight")
        header, data = read_safetensors(os.path.join(src, index["weight_map"]["model.embed_tokens.weight"]))
        a, b = header["model.embed_tokens.weight"]["data_offsets"]
        emb = dict(header["model.embed_tokens.weight"], data_offsets=[0, b - a])
        write_safetensors(os.path.join(dst, "lm_head.safetensors"), {"lm_head.weight": emb}, data[a:b])
        index["weight_map"]["lm_head.weight"] = "lm_head.safetensors"
        with open(os.path.join(dst, "model.safetensors.index.json"), "w") as f:
            json.dump(index, f, indent=2)
        return
    header, data = read_safetensors(os.path.join(src, "model.safetensors"))
    if "lm_head.weight" in header:
        sys.exit(f"{src}: already has lm_head.weight")
    emb = header["model.embed_tokens.weight"]
    a, b = emb["data_offsets"]
    end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
    header["lm_head.weight"] = {"dtype": emb["dtype"], "shape": emb["shape"], "data_offsets": [end, end + b - a]}
    write_safetensors(os.path.join(dst, "model.safetensors"), header, data[:end] + data[a:b])


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def write_safetensors(path, header, data):
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Checks a GGUF file written by `tq convert` against independent implementations.

  pip install gguf numpy [llama-cpp-python]
  python3 tools/check_gguf.py OUT.gguf HF_FOLDER [--llamacpp]

1. Reads OUT.gguf with the `gguf` package's GGUFReader (llama.cpp's own Python reader) and checks
   the llama.cpp metadata keys against config.json, then rebuilds every tensor from the Hugging Face
   safetensors exactly as llama.cpp's convert_hf_to_gguf.py does (name mapping, Q/K permute for
   arch llama, f32 for 1-D/norm tensors, gguf.quants.quantize for bf16/q8_0, numpy for f16) and
   requires the bytes to be identical.
2. --llamacpp: loads the file with llama.cpp (llama-cpp-python), evaluates the first reference
   prompt's token ids and compares all logits with reference_logits.f32 and the 32-token greedy
   continuation with reference.json's greedy_ids (required for f32/f16 files; reported for bf16
   and q8_0, where llama.cpp rounds activations too and may flip a near-tie). If the file has no tokenizer.ggml.* keys, a
   temporary copy gets them from tokenizer.json (GPT-2 style BPE) so llama.cpp can load it; the
   token ids come from reference.json either way.
Prints one line per check and exits non-zero on any failure.
"""
import argparse
import json
import os
import struct
import sys
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

FAILURES = []
SUMMARY = {}


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        FAILURES.append(what)


# ---- Hugging Face side ---------------------------------------------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = np.frombuffer(data[b:e], dtype=np.uint8)
        if info["dtype"] == "BF16":
            arr = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] == "F16":
            arr = raw.view(np.float16).astype(np.float32)
        elif info["dtype"] == "F32":
            arr = raw.view(np.float32)
        else:
            raise ValueError(f"{path}: {name}: dtype {info['dtype']}")
        out[name] = arr.reshape(info["shape"])
    return out


def read_hf_tensors(folder):
    index = os.path.join(folder, "model.safetensors.index.json")
    files = sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index) else ["model.safetensors"]
    tensors = {}
    for f in files:
        tensors.update(read_safetensors(os.path.join(folder, f)))
    return tensors


LAYER_MAP = {
    "input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias", "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
}
TOP_MAP = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
           "lm_head.weight": "output.weight"}


def gguf_name(hf):
    if hf in TOP_MAP:
        return TOP_MAP[hf]
    parts = hf.split(".", 3)
    if len(parts) == 4 and parts[0] == "model" and parts[1] == "layers" and parts[3] in LAYER_MAP:
        return f"blk.{parts[2]}.{LAYER_MAP[parts[3]]}"
    return None


def llama_permute(weights, n_head, n_head_kv):
    """convert_hf_to_gguf.py LlamaModel.permute, verbatim in numpy."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def expected_bytes(name, data, ftype):
    """Type selection and quantization of convert_hf_to_gguf.py prepare_tensors."""
    if data.ndim <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight"):
        qtype = Q.F32
    else:
        qtype = ftype
    if qtype == Q.F32:
        return qtype, data.astype(np.float32).tobytes()
    if qtype == Q.F16:
        return qtype, data.astype(np.float16).tobytes()
    try:
        return qtype, gguf.quants.quantize(data.astype(np.float32), qtype).tobytes()
    except gguf.QuantError:
        return Q.F16, data.astype(np.float16).tobytes()


# ---- checks --------------------------------------------------------------------------------------

def field_value(reader, key):
    f = reader.fields.get(key)
    return None if f is None else f.contents()


def check_file(path, hf):
    reader = gguf.GGUFReader(path)
    config = json.load(open(os.path.join(hf, "config.json")))
    arch = field_value(reader, "general.architecture")
    check(arch in ("llama", "qwen2", "qwen3"), f"general.architecture = {arch!r}")
    ftype = {0: Q.F32, 1: Q.F16, 7: Q.Q8_0, 32: Q.BF16}.get(field_value(reader, "general.file_type"))
    check(ftype is not None, f"general.file_type = {field_value(reader, 'general.file_type')} ({ftype.name if ftype is not None else '?'})")
    n_head = config["num_attention_heads"]
    n_head_kv = config.get("num_key_value_heads") or n_head
    head_dim = config.get("head_dim") or config["hidden_size"] // n_head
    want = {
        f"{arch}.embedding_length": config["hidden_size"], f"{arch}.block_count": config["num_hidden_layers"],
        f"{arch}.feed_forward_length": config["intermediate_size"], f"{arch}.attention.head_count": n_head,
        f"{arch}.attention.head_count_kv": n_head_kv, f"{arch}.rope.dimension_count": head_dim,
        f"{arch}.context_length": config.get("max_position_embeddings"),
        "general.quantization_version": 2,
    }
    for k, v in want.items():
        check(field_value(reader, k) == v, f"{k} = {field_value(reader, k)} (config: {v})")
    eps = field_value(reader, f"{arch}.attention.layer_norm_rms_epsilon")
    check(eps is not None and abs(eps - config["rms_norm_eps"]) <= 1e-12 + 1e-6 * config["rms_norm_eps"],
          f"{arch}.attention.layer_norm_rms_epsilon = {eps}")
    theta = config.get("rope_theta", (config.get("rope_parameters") or {}).get("rope_theta", 10000.0))
    check(abs(field_value(reader, f"{arch}.rope.freq_base") - theta) <= 1e-3, f"{arch}.rope.freq_base = {theta}")

    hf_tensors = read_hf_tensors(hf)
    expected = {}
    for hf_name, data in hf_tensors.items():
        name = gguf_name(hf_name)
        if name is None:
            continue
        if arch == "llama" and name.endswith(("attn_q.weight", "attn_q.bias")):
            data = llama_permute(data, n_head, n_head)
        if arch == "llama" and name.endswith(("attn_k.weight", "attn_k.bias")):
            data = llama_permute(data, n_head, n_head_kv)
        expected[name] = (data.shape, *expected_bytes(name, data, ftype))
    got = {t.name: t for t in reader.tensors}
    check(set(got) - {"rope_freqs.weight"} == set(expected),
          f"tensor names: {len(got)} in file, {len(expected)} from HF"
          + (f"; only in file {sorted(set(got) - set(expected))}, only in HF {sorted(set(expected) - set(got))}"
             if set(got) != set(expected) else ""))
    n_identical = 0
    for name, (shape, qtype, raw) in expected.items():
        t = got.get(name)
        if t is None:
            continue
        same = (t.tensor_type == qtype and list(reversed([int(x) for x in t.shape])) == list(shape)
                and bytes(t.data.tobytes()) == raw)
        if not same:
            check(False, f"{name}: {t.tensor_type.name} {list(t.shape)} vs expected {qtype.name} {list(shape)[::-1]}, "
                         f"bytes {'equal' if bytes(t.data.tobytes()) == raw else 'differ'}")
        n_identical += same
    SUMMARY["identical"] = f"{n_identical}/{len(expected)}"
    check(n_identical == len(expected),
          f"{n_identical}/{len(expected)} tensors byte-identical to convert_hf_to_gguf's names, types, permutation and quantization")
    if "tokenizer.ggml.model" in reader.fields:
        check_tokenizer_keys(reader, hf)
    else:
        print("note: no tokenizer.ggml.* keys in the file")
    return reader


def tokenizer_from_json(hf):
    """tokenizer.ggml.tokens / token_type / merges of a byte-level BPE tokenizer.json, built the
    way llama.cpp's converter lays them out (added special tokens are CONTROL = 3)."""
    tok = json.load(open(os.path.join(hf, "tokenizer.json")))
    vocab = tok["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    types = [1] * len(tokens)
    for a in tok.get("added_tokens", []):
        if a["id"] < len(tokens):
            tokens[a["id"]] = a["content"]
            types[a["id"]] = 3 if a.get("special") else 4
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]
    return tokens, types, merges


def check_tokenizer_keys(reader, hf):
    if not os.path.exists(os.path.join(hf, "tokenizer.json")):
        return
    tokens, types, merges = tokenizer_from_json(hf)
    check(field_value(reader, "tokenizer.ggml.model") == "gpt2", "tokenizer.ggml.model = 'gpt2'")
    check(field_value(reader, "tokenizer.ggml.tokens") == tokens, f"tokenizer.ggml.tokens = tokenizer.json's {len(tokens)} tokens")
    check(field_value(reader, "tokenizer.ggml.token_type") == types, "tokenizer.ggml.token_type (special tokens CONTROL)")
    check(field_value(reader, "tokenizer.ggml.merges") == merges, f"tokenizer.ggml.merges = tokenizer.json's {len(merges)} merges")


def with_tokenizer(path, hf, tmpdir):
    """A copy of `path` with tokenizer.ggml.* keys from tokenizer.json if it has none."""
    reader = gguf.GGUFReader(path)
    if "tokenizer.ggml.model" in reader.fields:
        return path, False
    sys.path.insert(0, os.path.join(os.path.dirname(gguf.__file__), "scripts"))
    from gguf_new_metadata import copy_with_new_metadata, MetadataDetails
    tokens, types, merges = tokenizer_from_json(hf)
    V = gguf.GGUFValueType
    new = {
        "tokenizer.ggml.model": MetadataDetails(V.STRING, "gpt2"),
        "tokenizer.ggml.pre": MetadataDetails(V.STRING, "gpt-2"),
        "tokenizer.ggml.tokens": MetadataDetails(V.ARRAY, tokens, sub_type=V.STRING),
        "tokenizer.ggml.token_type": MetadataDetails(V.ARRAY, types, sub_type=V.INT32),
        "tokenizer.ggml.merges": MetadataDetails(V.ARRAY, merges, sub_type=V.STRING),
    }
    out = os.path.join(tmpdir, "with_tokenizer.gguf")
    writer = gguf.GGUFWriter(out, arch=field_value(reader, "general.architecture"))
    copy_with_new_metadata(reader, writer, new, [])
    return out, True


def check_llamacpp(path, hf, exact):
    try:
        import llama_cpp
    except ImportError:
        print("skip llama.cpp check: llama-cpp-python is not installed")
        return
    ref = json.load(open(os.path.join(hf, "reference.json")))
    info = ref["reference_logits_file"]
    ref_logits = np.fromfile(os.path.join(hf, info["file"]), dtype="<f4").reshape(info["shape"])
    ids = ref["cases"][0]["ids"]
    with tempfile.TemporaryDirectory() as tmp:
        model_path, added = with_tokenizer(path, hf, tmp)
        if added:
            print("note: tokenizer.ggml.* keys added from tokenizer.json for llama.cpp (file had none)")
        llm = llama_cpp.Llama(model_path=model_path, n_ctx=512, logits_all=True, verbose=False, n_threads=2,
                              n_batch=512)
        if not added:  # llama.cpp tokenizes with the file's own tokenizer keys
            n_same = 0
            for case in ref["cases"]:
                got = llm.tokenize(case["prompt"].encode(), add_bos=False, special=False)
                check(got == case["ids"], f"llama.cpp tokenizes {case['prompt'][:30]!r}... to the reference ids")
                n_same += got == case["ids"]
            SUMMARY["tokenize"] = f"{n_same}/{len(ref['cases'])}"
        llm.eval(ids)
        logits = np.array(llm.scores[: len(ids)], dtype=np.float32)
        diff = np.abs(logits - ref_logits).max()
        print(f"llama.cpp {llama_cpp.__version__}: max |logit - reference| over {logits.shape} = {diff:.6f}")
        SUMMARY["llama.cpp"] = llama_cpp.__version__
        SUMMARY["max_logit_diff"] = f"{diff:.4f}"
        greedy_prompt = ref["greedy_ids"][: len(ids)]
        check(greedy_prompt == ids, "greedy prompt = first case's ids")
        out, steps = [], []
        last = logits[-1]
        for _ in range(len(ref["greedy_ids"]) - len(ids)):
            tok = int(np.argmax(last))
            out.append(tok)
            steps.append(last)
            llm.eval([tok])
            last = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        want = ref["greedy_ids"][len(ids):]
        first_diff = next((i for i, (a, b) in enumerate(zip(out, want)) if a != b), None)
        if first_diff is None:
            SUMMARY["greedy"] = f"{len(out)}/{len(out)} identical"
        else:  # how close the call was: llama.cpp's logit of its pick minus that of the reference token
            margin = steps[first_diff][out[first_diff]] - steps[first_diff][want[first_diff]]
            SUMMARY["greedy"] = f"same up to token {first_diff} (margin {margin:.4f})"
        what = (f"llama.cpp greedy {len(out)} tokens identical to reference greedy_ids" if first_diff is None else
                f"llama.cpp greedy continuation departs from greedy_ids at token {first_diff}: {out} vs {want}")
        if not exact:  # llama.cpp rounds activations to bf16 / q8_0 here: near-ties may flip
            print(("ok   " if first_diff is None else "info ") + what)
        else:
            check(first_diff is None, what)
        return diff


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf")
    ap.add_argument("hf_folder")
    ap.add_argument("--llamacpp", action="store_true")
    ap.add_argument("--max-logit-diff", type=float, default=None, help="fail if llama.cpp's logits differ more")
    a = ap.parse_args()
    check_file(a.gguf, a.hf_folder)
    if a.llamacpp:
        ft = field_value(gguf.GGUFReader(a.gguf), "general.file_type")
        # Greedy tokens must match for f32/f16 files; llama.cpp computes bf16 and q8_0 matmuls with
        # activations rounded to bf16 / q8_0, which can flip near-ties (tq-ref-m: 0.007 apart).
        diff = check_llamacpp(a.gguf, a.hf_folder, exact=ft in (0, 1))
        if diff is not None and a.max_logit_diff is not None:
            check(diff <= a.max_logit_diff, f"llama.cpp logits within {a.max_logit_diff} of the reference")
    print("summary: " + " ".join(f"{k}={v.replace(' ', '_')}" for k, v in SUMMARY.items()) + f" failed={len(FAILURES)}")
    print(f"{len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()

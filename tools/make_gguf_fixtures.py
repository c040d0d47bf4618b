#!/usr/bin/env python3
"""Writes the GGUF test fixtures in tests/data/gguf/ with the `gguf` Python package (PyPI), the
reference implementation of ggml's formats outside llama.cpp's C code.

  pip install gguf numpy && python3 tools/make_gguf_fixtures.py

quants.gguf  For every ggml type we read: a tensor "<type>.q" holding blocks of that type and a
             tensor "<type>.deq" (f32) holding gguf.quants.dequantize() of those blocks. Types the
             package can quantize (q4_0, q4_1, q5_0, q5_1, q8_0, bf16; f16 via numpy) are
             quantized from the f32 tensor "src", so our from_float can be compared byte for byte;
             the others (k-quants, iq4_*) are random bytes with finite f16 scales, which exercises
             every bit pattern of the codes. Shape of each: [4, 256] (4 rows x 256 elements).
meta.gguf    Metadata of every GGUF value type (incl. nested arrays), general.alignment = 64 and
             tensors of 1..4 dimensions; the exact values are repeated in tests/io/gguf_test.cc.
Fuzz seeds (fuzz/seeds/<target>/, small real files): gguf/ (meta.gguf, a k-quant file with
             tokenizer-style arrays), safetensors/ (a tiny valid file, the real header of tq-ref-s),
             hf_config/ (the reference models' config.json / index, Qwen2 and Llama-3 style configs).
"""
import json
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES, GGUFValueType as V

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "gguf")
FUZZ_SEEDS = os.path.join(ROOT, "fuzz", "seeds")

# Formats quantized from `src` by the gguf package (bit-exact ports of ggml's reference quantizers).
QUANTIZABLE = [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.BF16]
# Formats the package only dequantizes: random blocks, scale fields forced to finite halves.
# Byte offsets of the f16 scale fields within each block.
RANDOM_BLOCKS = {
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ4_NL: [0], T.IQ4_XS: [0],
}


def source_rows(rng):
    """[4, 256] f32 with the awkward cases: large and tiny magnitudes, an all-zero block, a tie
    between +max and -max (ggml keeps the first), and values that land exactly on .5 steps."""
    src = rng.standard_normal((4, 256)).astype(np.float32)
    src[1] *= 100.0
    src[2, :32] = 0.0                      # all-zero block: scale 0
    src[2, 32] = 3.0; src[2, 40] = -3.0    # tie for the largest magnitude
    src[2, 64:96] = np.arange(32, dtype=np.float32) - 16.0  # integers: exact half steps
    src[3] *= 1e-5                          # f16 scales become subnormal
    return src


def write_quants(path, rng):
    src = source_rows(rng)
    w = gguf.GGUFWriter(path, arch="fixture")
    w.add_tensor("src", src)
    f16 = src.astype(np.float16)
    w.add_tensor("f16.q", f16)
    w.add_tensor("f16.deq", f16.astype(np.float32))
    for qt in QUANTIZABLE:
        q = gguf.quants.quantize(src, qt)
        name = qt.name.lower()
        w.add_tensor(f"{name}.q", q, raw_dtype=qt)
        w.add_tensor(f"{name}.deq", gguf.quants.dequantize(q, qt).astype(np.float32))
    for qt, scale_offsets in RANDOM_BLOCKS.items():
        block_elems, block_bytes = GGML_QUANT_SIZES[qt]
        n_blocks = 4 * 256 // block_elems
        blocks = rng.integers(0, 256, (n_blocks, block_bytes), dtype=np.uint8)
        for off in scale_offsets:
            d = (rng.uniform(1e-3, 1e-1, n_blocks) * rng.choice([-1, 1], n_blocks)).astype(np.float16)
            blocks[:, off:off + 2] = d.view(np.uint8).reshape(n_blocks, 2)
        q = blocks.reshape(4, -1)
        name = qt.name.lower()
        w.add_tensor(f"{name}.q", q, raw_dtype=qt)
        w.add_tensor(f"{name}.deq", gguf.quants.dequantize(q, qt).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_meta(path):
    w = gguf.GGUFWriter(path, arch="fixture")
    w.add_custom_alignment(64)
    w.add_name("meta fixture")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62))
    w.add_float32("test.f32", 1.5)
    w.add_float64("test.f64", 0.1)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "h\u00e9llo \u2713")
    w.add_array("test.arr_i32", [1, -2, 3])
    w.add_array("test.arr_str", ["a", "bc", ""])
    w.add_array("test.arr_f32", [0.5, -2.25])
    w.add_array("test.arr_bool", [True, False, True])
    w.add_key_value("test.arr_u16", [1, 65535], V.ARRAY, sub_type=V.UINT16)
    w.add_key_value("test.arr_i64", [-(2**40), 7], V.ARRAY, sub_type=V.INT64)
    w.add_array("test.arr_nested", [[1, 2], [3]])
    w.add_array("test.arr_nested_str", [["x"], ["y", "zz"]])
    # Tensors of 1..4 dimensions (numpy shapes, outermost first), values = their flat index.
    w.add_tensor("t1", np.arange(3, dtype=np.float32))
    w.add_tensor("t2", np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    w.add_tensor("t3", np.arange(64, dtype=np.float16).reshape(4, 1, 2, 8))
    w.add_tensor("t4", gguf.quants.quantize(np.arange(128, dtype=np.float32).reshape(2, 64) / 8, T.Q8_0),
                 raw_dtype=T.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_tiny_safetensors(path):
    tensors = {
        "model.embed_tokens.weight": np.arange(8, dtype=np.float32).reshape(2, 4),
        "model.norm.weight": np.ones(4, dtype=np.float16),
        "model.layers.0.self_attn.q_proj.weight": np.zeros((4, 4), dtype=np.float32),
    }
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    dtypes = {np.float32: "F32", np.float16: "F16"}
    for name, t in tensors.items():
        b = t.tobytes()
        header[name] = {"dtype": dtypes[t.dtype.type], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_small_quant_seed(path, rng):
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_block_count(1)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(["<s>", "a", "\u0120b"])
    w.add_token_types([3, 1, 1])
    w.add_token_merges(["a b"])
    for qt in (T.Q4_K, T.Q6_K, T.Q5_0):
        block_elems, block_bytes = GGML_QUANT_SIZES[qt]
        q = rng.integers(0, 256, (1, 256 // block_elems * block_bytes), dtype=np.uint8)
        w.add_tensor(f"blk.0.{qt.name.lower()}.weight", q, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_hf_config_seeds(folder, shared):
    for model in ("tq-ref-s", "tq-ref-m"):
        cfg = os.path.join(shared, "models", model, "config.json")
        idx = os.path.join(shared, "models", model, "model.safetensors.index.json")
        if os.path.exists(cfg):
            data = open(cfg, "rb").read()
            if os.path.exists(idx):
                data += b"\0" + open(idx, "rb").read()
            open(os.path.join(folder, model + ".json"), "wb").write(data)
    qwen2 = {"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2,
             "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100,
             "rope_theta": 1000000.0, "rope_scaling": {"type": "linear", "factor": 2.0}, "rms_norm_eps": 1e-6,
             "max_position_embeddings": 4096, "tie_word_embeddings": True}
    llama3 = {"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "num_hidden_layers": 2, "head_dim": 16,
              "num_attention_heads": 4, "num_key_value_heads": 1, "intermediate_size": 128, "vocab_size": 100,
              "rope_parameters": {"rope_theta": 500000.0, "rope_type": "llama3", "factor": 32.0,
                                  "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                  "original_max_position_embeddings": 8192}, "bos_token_id": 1, "eos_token_id": 2}
    open(os.path.join(folder, "qwen2.json"), "w").write(json.dumps(qwen2))
    open(os.path.join(folder, "llama3.json"), "w").write(json.dumps(llama3) + "\0" + json.dumps(
        {"metadata": {}, "weight_map": {"model.norm.weight": "model-00001-of-00002.safetensors",
                                        "lm_head.weight": "model-00002-of-00002.safetensors"}}))


def write_real_header_seed(path, shared):
    src = os.path.join(shared, "models", "tq-ref-s", "model.safetensors")
    if not os.path.exists(src):
        return
    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = f.read(n)
    with open(path, "wb") as f:  # the header of a real file, its data cut off
        f.write(struct.pack("<Q", n) + header)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20250419)
    write_quants(os.path.join(OUT, "quants.gguf"), rng)
    write_meta(os.path.join(OUT, "meta.gguf"))
    shared = os.environ.get("TQ_SHARED_DATA", os.path.join(ROOT, "..", "..", "shared", "data"))
    for d in ("safetensors", "gguf", "hf_config"):
        os.makedirs(os.path.join(FUZZ_SEEDS, d), exist_ok=True)
    write_tiny_safetensors(os.path.join(FUZZ_SEEDS, "safetensors", "tiny.safetensors"))
    write_real_header_seed(os.path.join(FUZZ_SEEDS, "safetensors", "tq-ref-s-header.safetensors"), shared)
    write_meta(os.path.join(FUZZ_SEEDS, "gguf", "meta.gguf"))
    write_small_quant_seed(os.path.join(FUZZ_SEEDS, "gguf", "kquants_tokenizer.gguf"), rng)
    write_hf_config_seeds(os.path.join(FUZZ_SEEDS, "hf_config"), shared)
    for f in sorted(os.listdir(OUT)):
        print(f"{os.path.join(OUT, f)}: {os.path.getsize(os.path.join(OUT, f))} bytes")
    print(f"gguf package {getattr(gguf, '__version__', '?')}, numpy {np.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()

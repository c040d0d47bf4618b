#!/usr/bin/env python3
"""Independent oracle: our TurboQuant codec against FAISS's TurboQuant scalar quantizers.

FAISS >= 1.13 (PyPI faiss-cpu) ships `SQtqmse<b>` (Lloyd–Max codebooks for the coordinates of a
randomly rotated unit vector) and `HR,` (a randomized Hadamard pre-rotation). This script encodes
the same unit vectors with `HR,SQtqmse<b>` and with `tq codec-roundtrip`, and prints a markdown
table of both reconstruction errors (random unit vectors, and SIFT descriptors scaled to unit norm).

    pip install faiss-cpu numpy
    python3 tools/faiss_oracle.py --tq build/release/bin/tq [--sift ../shared/data/ann/sift5k/sift5k_base.fvecs]
"""
import argparse
import os
import subprocess
import tempfile

import faiss
import numpy as np


def write_fvecs(path, x):
    n, d = x.shape
    out = np.empty((n, d + 1), dtype=np.float32)
    out[:, 0] = np.array([d], dtype=np.int32).view(np.float32)[0]
    out[:, 1:] = x
    out.tofile(path)


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.float32)
    d = raw[:1].view(np.int32)[0]
    return raw.reshape(-1, d + 1)[:, 1:].copy()


def ours(tq, x, bits, tmp):
    src, dst = os.path.join(tmp, "x.fvecs"), os.path.join(tmp, "y.fvecs")
    write_fvecs(src, x)
    subprocess.run([tq, "codec-roundtrip", "--in", src, "--out", dst, "--bits", str(bits), "--seed", "1"],
                   check=True, stdout=subprocess.DEVNULL)
    return read_fvecs(dst)


def theirs(x, bits):
    index = faiss.index_factory(x.shape[1], f"HR,SQtqmse{bits}")
    if not index.is_trained:
        index.train(x)  # data-oblivious: fixes the rotation and the codebook only
    index.add(x)
    return index.reconstruct_n(0, x.shape[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tq", required=True, help="path to the tq binary")
    ap.add_argument("--sift", help="SIFT .fvecs file (optional real-data rows)")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--out", help="write the markdown here (default: stdout)")
    args = ap.parse_args()
    rng = np.random.default_rng(20250419)
    sets = []
    for d in (128, 1024):
        x = rng.standard_normal((args.n, d)).astype(np.float32)
        sets.append((f"random unit, d={d}", x / np.linalg.norm(x, axis=1, keepdims=True)))
    if args.sift:
        x = read_fvecs(args.sift)
        sets.append((f"SIFT (unit norm), d={x.shape[1]}", x / np.linalg.norm(x, axis=1, keepdims=True)))
    lines = [
        "## 7. Independent oracle: FAISS TurboQuant scalar quantizers",
        "",
        f"FAISS {faiss.__version__} (`HR,SQtqmse<b>`: randomized Hadamard rotation + TurboQuant Lloyd–Max "
        "codebook) and `tq codec-roundtrip` on the same unit vectors; mean ‖u − û‖². Produced by "
        "tools/faiss_oracle.py.",
        "",
        "| vectors | b | ours | FAISS | ours / FAISS |",
        "|---|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for label, x in sets:
            for bits in (1, 2, 3, 4, 8):
                a = float(((ours(args.tq, x, bits, tmp) - x) ** 2).sum(1).mean())
                b = float(((theirs(x, bits) - x) ** 2).sum(1).mean())
                lines.append(f"| {label} | {bits} | {a:.6f} | {b:.6f} | {a / b:.3f} |")
    text = "\n".join(lines) + "\n\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)


if __name__ == "__main__":
    main()

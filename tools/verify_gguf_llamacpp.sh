#!/usr/bin/env bash
# Regenerates the "tq convert vs llama.cpp" table of docs/FORMATS.md: converts both reference
# models to every --type, then tools/check_gguf.py compares each file with what llama.cpp's
# converter would write (gguf package) and runs it in llama.cpp (llama-cpp-python).
#   pip install gguf numpy llama-cpp-python; tools/verify_gguf_llamacpp.sh [BUILD_DIR] [SHARED_DATA]
set -euo pipefail
cd "$(dirname "$0")/.."
tq=${1:-build/release}/bin/tq
shared=${2:-../shared/data}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "| model | --type | file MiB | tensors byte-identical to convert_hf_to_gguf | llama.cpp tokenizes the 3 reference prompts | llama.cpp max abs logit diff vs reference | llama.cpp greedy (32 tokens) |"
echo "|---|---|---|---|---|---|---|"
status=0
for model in tq-ref-s tq-ref-m; do
  for type in f32 f16 bf16 q8_0; do
    f="$out/$model-$type.gguf"
    "$tq" convert -q -m "$shared/models/$model" -o "$f" --type "$type" >/dev/null
    line=$(python3 tools/check_gguf.py "$f" "$shared/models/$model" --llamacpp 2>/dev/null | grep '^summary:') || status=1
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$line"; }
    mib=$(python3 -c "import os; print(f'{os.path.getsize(\"$f\") / 2**20:.2f}')")
    echo "| $model | $type | $mib | $(get identical) | $(get tokenize) | $(get max_logit_diff) | $(get greedy | tr _ ' ') |"
    [ "$(get failed)" = "0" ] || status=1
  done
done
echo
echo "llama-cpp-python $(python3 -c 'import llama_cpp; print(llama_cpp.__version__)'), gguf $(pip show gguf 2>/dev/null | sed -n 's/^Version: //p')"
exit $status

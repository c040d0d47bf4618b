#!/usr/bin/env bash
# Regenerates the per-SIMD-target weights-speed section of docs/RESULTS.md (issue 11), between
# <!-- weights-speed-targets:begin --> and <!-- weights-speed-targets:end -->: for every target this
# host can run among AVX-512 VNNI (avx3_dl), AVX2 + AVX-VNNI (avx2+vnni) and plain AVX2 (avx2) —
# the lower ones forced with `tq --simd` on a better CPU — and for 1 and 2 threads, ONE `tq bench`
# run over a synthetic Llama-3.2-1B in bf16 and our quantized formats, and right after it
# `llama-bench` over the same bf16 model quantized by llama.cpp's own llama-quantize (Q8_0, Q4_K_M,
# Q4_0, IQ4_XS), built for the same ISA (scripts/anchors/llamacpp.sh with TQ_LLAMACPP_ISA) — plus
# `tq bench` on those llama.cpp files (our ggml kernels, kernels/matmul_ggml.h).
#
# Usage: flock /work/wt/.cpu.lock scripts/results-targets.sh [TARGET...]   (default: all runnable)
# Env: THREADS ("1 2"), REPS (3), FORMATS ("bf16 q8 tq4g128 tq3.5g128 tq3g128 tq2g128"; the first is
# the baseline of the ratios), LLAMA_TYPES ("Q8_0 Q4_K_M Q4_0 IQ4_XS"), PROMPT (128), GEN (64).
# Takes the numbers on a quiet machine: each table records the load averages.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-"1 2"}
REPS=${REPS:-3}
FORMATS=${FORMATS:-"bf16 q8 tq4g128 tq3.5g128 tq3g128 tq2g128"}
LLAMA_TYPES=${LLAMA_TYPES:-"Q8_0 Q4_K_M Q4_0 IQ4_XS"}
PROMPT=${PROMPT:-128}
GEN=${GEN:-64}
TQ=build/release/bin/tq
OUT=build/results-targets
mkdir -p "$OUT" build/synth
cmake --preset release >/dev/null
cmake --build --preset release --target tq >/dev/null
. scripts/results-lib.sh  # RESULTS, COMMIT, replace_section

# Targets: the arguments, else every one of ours this CPU runs.
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  have=$("$TQ" version | sed -n 's/^simd targets: //p')
  for t in AVX3_DL AVX2+VNNI AVX2; do
    case " $have " in *" $t "*) TARGETS+=("$(echo "$t" | tr 'A-Z' 'a-z')") ;; esac
  done
fi
isa_of() {  # the llama.cpp build beside a tq target
  case "$1" in avx2) echo avx2 ;; avx2+vnni) echo avx2-vnni ;; *) echo native ;; esac
}

# Models: ours written once by tq synth; llama.cpp's by llama-quantize from our bf16 file.
models=()
for f in $FORMATS; do
  m=build/synth/l1b-$f.gguf
  [ -f "$m" ] || "$TQ" synth --preset llama-3.2-1b --type "$f" -o "$m" >/dev/null
  models+=(-m "$m")
done
LLAMA_NATIVE=$(scripts/anchors/llamacpp.sh)
lmodels=()
for q in $LLAMA_TYPES; do
  m=build/synth/l1b-llama-$q.gguf
  [ -f "$m" ] || "$LLAMA_NATIVE/llama-quantize" build/synth/l1b-bf16.gguf "$m" "$q" >"$OUT/quantize-$q.log" 2>&1
  lmodels+=("$m")
done

section=$OUT/section.md
{
  echo "## Quantized weights by SIMD target, beside llama.cpp (CPU)"
  echo
  echo "\`scripts/results-targets.sh\` at $COMMIT ($(date -u +%Y-%m-%d)): a synthetic Llama-3.2-1B (\`tq synth --preset"
  echo "llama-3.2-1b\`, 1.24 B parameters, random weights of realistic spread, tied embedding), prompt $PROMPT,"
  echo "decode $GEN, $REPS repetitions. Per target and thread count, one \`tq bench\` run over our formats (data-free"
  echo "quantization), then \`llama-bench\` (llama.cpp $(sed -n 's/^llama.cpp commit: //p' "$(dirname "$LLAMA_NATIVE")/build-info.txt" | cut -c1-7),"
  echo "built for the same ISA) over the bf16 file and its llama-quantize types, then \`tq bench\` over those llama.cpp"
  echo "files (our integer ggml kernels). \`vs bf16\` = our bf16 row of the same \`tq bench\` run. Lower targets are"
  echo "forced with \`tq --simd\` on this CPU ($(sed -n 's/^cpu: //p' <("$TQ" version))); llama.cpp's ISA by its build flags."
  echo
} >"$section"

for target in "${TARGETS[@]}"; do
  isa=$(isa_of "$target")
  LLAMA=$(TQ_LLAMACPP_ISA=$isa scripts/anchors/llamacpp.sh)
  for th in $THREADS; do
    tag="$target-t$th"
    "$TQ" --simd "$target" bench "${models[@]}" -r "$REPS" -p "$PROMPT" -n "$GEN" -t "$th" \
      --json "$OUT/tq-$tag.json" >"$OUT/tq-$tag.md" 2>"$OUT/tq-$tag.log"
    largs=(-m build/synth/l1b-bf16.gguf)
    for m in "${lmodels[@]}"; do largs+=(-m "$m"); done
    # llama.cpp with its own defaults (its OpenMP workers spin between operations; tq sets PASSIVE).
    "$LLAMA/llama-bench" "${largs[@]}" -t "$th" -p "$PROMPT" \
      -n "$GEN" -r "$REPS" -o json >"$OUT/llama-$tag.json" 2>"$OUT/llama-$tag.log"
    gargs=()
    for m in "${lmodels[@]}"; do gargs+=(-m "$m"); done
    "$TQ" --simd "$target" bench "${gargs[@]}" -r "$REPS" -p "$PROMPT" -n "$GEN" -t "$th" \
      --json "$OUT/tqg-$tag.json" >"$OUT/tqg-$tag.md" 2>"$OUT/tqg-$tag.log"
    {
      echo "### $target, $th thread$([ "$th" = 1 ] || echo s)"
      echo
      echo "tq: $(jq -r '"SIMD \(.isa), load avg before \(.load_avg_before) / after \(.load_avg_after)"' "$OUT/tq-$tag.json");"
      echo "llama.cpp: $(jq -r '.[0] | "\(.cpu_info), build \(.build_commit)"' "$OUT/llama-$tag.json")."
      echo
      echo "| engine | model | bits/weight | prefill t/s | decode t/s | decode vs bf16 | prefill vs bf16 | decode % of bound |"
      echo "|---|---|---|---|---|---|---|---|"
      base_d=$(jq '.models[0].decode_tps_mean' "$OUT/tq-$tag.json")
      base_p=$(jq '.models[0].prefill_tps_mean' "$OUT/tq-$tag.json")
      for f in "$OUT/tq-$tag.json" "$OUT/tqg-$tag.json"; do
        jq -r --argjson bd "$base_d" --argjson bp "$base_p" '.models[] |
          "| tq | \(.path | split("/")[-1] | sub("^l1b-"; "") | sub(".gguf$"; "")) (\(.weights)) | \(8 * .tensor_bytes / .n_params * 1000 | round / 1000) | \(.prefill_tps_mean * 10 | round / 10) ± \(.prefill_tps_sd * 10 | round / 10) | \(.decode_tps_mean * 100 | round / 100) ± \(.decode_tps_sd * 100 | round / 100) | \(.decode_tps_mean / $bd * 100 | round / 100)x | \(.prefill_tps_mean / $bp * 100 | round / 100)x | \(.decode_fraction_of_bound * 100 | round)% |"' "$f"
      done
      jq -r --argjson bd "$base_d" --argjson bp "$base_p" 'group_by(.model_filename)[] |
        (map(select(.n_gen == 0)) | .[0]) as $p | (map(select(.n_prompt == 0)) | .[0]) as $d |
        "| llama.cpp | \($d.model_filename | split("/")[-1] | sub("^l1b-(llama-)?"; "") | sub(".gguf$"; "")) (\($d.model_type)) | \(8 * $d.model_size / $d.model_n_params * 1000 | round / 1000) | \($p.avg_ts * 10 | round / 10) ± \($p.stddev_ts * 10 | round / 10) | \($d.avg_ts * 100 | round / 100) ± \($d.stddev_ts * 100 | round / 100) | \($d.avg_ts / $bd * 100 | round / 100)x | \($p.avg_ts / $bp * 100 | round / 100)x | - |"' \
        "$OUT/llama-$tag.json"
      echo
    } >>"$section"
  done
done
echo "Bits per weight count every tensor's bytes over all parameters (norms included). \`% of bound\`: decode bytes per token × tokens/s over the read bandwidth of the model's own weight pages (\`tq bench\`)." >>"$section"
replace_section weights-speed-targets "$section"
echo "updated $RESULTS (weights-speed-targets: ${TARGETS[*]}); raw outputs in $OUT/"

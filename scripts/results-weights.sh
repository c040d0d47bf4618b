#!/usr/bin/env bash
# Regenerates the weight-quantization section of docs/RESULTS.md (between its own markers):
#  * for tq-ref-s and tq-ref-m, `tq eval` on corpus/valid.txt (ctx 512; PPL over 400 windows, KLD /
#    top-1 vs bf16 over the first 50, as the llama.cpp anchors): bf16, q8, rtn4, gptq4, tq4
#    data-free, tq4 / tq3 / tq2 full, mixed --bpw 3.0 and 2.5, and a mixed plan at the bits per
#    weight of every llama.cpp row of anchors/LLAMACPP-WEIGHTS.md, that row printed beside it;
#    calibration: corpus/train-00.txt (never valid.txt);
#  * quantization time of tq-ref-m (from the same run) and of a synthetic Llama-3.2-1B (written
#    once by `tq synth` into build/synth/), data-free and full.
# Usage: scripts/results-weights.sh [tables] [time]      (default: both)
# Env: TQ_SHARED_DATA (../shared/data), THREADS (2), CALIB_WINDOWS (128), SYNTH_CALIB_WINDOWS (16),
#      SYNTH_TUNE_STEPS (10).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TQ_SHARED_DATA:-../shared/data}
THREADS=${THREADS:-2}
CALIB_WINDOWS=${CALIB_WINDOWS:-128}
SYNTH_CALIB_WINDOWS=${SYNTH_CALIB_WINDOWS:-16}
SYNTH_TUNE_STEPS=${SYNTH_TUNE_STEPS:-10}
TQ=build/release/bin/tq
SYNTH=build/synth/llama-3.2-1b-bf16
OUT=build/results-weights
PARTS=("$@")
[ ${#PARTS[@]} -eq 0 ] && PARTS=(tables time)
mkdir -p "$OUT"
cmake --preset release >/dev/null
cmake --build --preset release --target tq >/dev/null
RESULTS=docs/RESULTS.md
[ -f "$RESULTS" ] || printf '# Results\n\nEvery number here is produced by a command in this repository.\n\n' >"$RESULTS"

# replace_section NAME FILE: puts FILE between <!-- NAME:begin --> and <!-- NAME:end -->.
replace_section() {
  grep -q "<!-- $1:begin -->" "$RESULTS" || printf '<!-- %s:begin -->\n<!-- %s:end -->\n\n' "$1" "$1" >>"$RESULTS"
  awk -v name="$1" -v f="$2" '
    $0 == "<!-- " name ":begin -->" { print; while ((getline l < f) > 0) print l; skip = 1; next }
    $0 == "<!-- " name ":end -->" { skip = 0 }
    !skip' "$RESULTS" >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
}

ROWS="base,q8:q8,rtn4:rtn4,gptq4:gptq4,tq4 data-free:tq4@datafree,tq4 full:tq4@full,tq3 full:tq3@full"
ROWS="$ROWS,tq2 full:tq2@full,mixed --bpw 3.0:bpw=3@full,mixed --bpw 2.5:bpw=2.5@full"

for part in "${PARTS[@]}"; do
  case "$part" in
  tables)
    for m in tq-ref-s tq-ref-m; do
      "$TQ" eval -q -m "$DATA/models/$m" -f "$DATA/corpus/valid.txt" --ctx 512 --ppl-windows 400 \
        --kld-windows 50 --calib "$DATA/corpus/train-00.txt" --calib-windows "$CALIB_WINDOWS" \
        --methods "$ROWS" --anchors "$DATA/anchors/LLAMACPP-WEIGHTS.md" --anchor-rows \
        -t "$THREADS" --json "$OUT/eval-$m.json" --md "$OUT/eval-$m.md" >/dev/null 2>"$OUT/eval-$m.log"
    done
    ;;
  time)
    [ -f "$SYNTH/config.json" ] || "$TQ" synth --preset llama-3.2-1b --type bf16 -o "$SYNTH" >/dev/null
    "$TQ" quantize -q -m "$SYNTH" -o "$OUT/synth-tq4-datafree.gguf" --recipe tq4 --method datafree \
      -t "$THREADS" --json "$OUT/synth-datafree.json" >"$OUT/synth-datafree.log" 2>&1
    rm -f "$OUT/synth-tq4-datafree.gguf"
    "$TQ" quantize -q -m "$SYNTH" -o "$OUT/synth-tq4-full.gguf" --recipe tq4 --method full \
      --calib "$DATA/corpus/train-00.txt" --calib-windows "$SYNTH_CALIB_WINDOWS" \
      --tune-steps "$SYNTH_TUNE_STEPS" --tune-windows 4 -t "$THREADS" \
      --json "$OUT/synth-full.json" >"$OUT/synth-full.log" 2>&1
    rm -f "$OUT/synth-tq4-full.gguf"
    ;;
  *) echo "unknown part $part (tables, time)" >&2; exit 2 ;;
  esac
done

# Assemble the section from whatever results exist.
secs() { grep -o "\"$2\": *[0-9.e+-]*" "$1" | head -1 | sed 's/.*: *//'; }
row_secs() {  # row_secs JSON LABEL: quantize seconds of that row
  awk -v l="\"label\": \"$2\"" 'index($0, l) { found = 1 } found && /"quantize_seconds"/ { gsub(/[^0-9.]/, "", $2); print $2; exit }' "$1"
}
{
  echo "## Weight quantization (issue 4)"
  echo
  echo "\`scripts/results-weights.sh\` ($(date -u +%Y-%m-%d), commit $(git describe --always --dirty), $THREADS threads):"
  echo "\`tq eval\` on corpus/valid.txt tokenized whole, windows of 512: PPL over the first 400 windows, mean"
  echo "KLD / p99 / top-1 against the bf16 model over the first 50 (the anchors' protocol). Bits per weight"
  echo "count every tensor (embedding included, norms at 32 bits). Calibration: $CALIB_WINDOWS random windows of"
  echo "512 tokens from the first 4 MB of corpus/train-00.txt (never valid.txt); --bpw sensitivities on 4"
  echo "further train windows. \"full\" = GPTQ in the rotated basis + closed-form scales + block-output Adam"
  echo "scales (100 steps per block on 32 windows). tq<b> = linears tq<b>g128, embedding tq<b+2>g128."
  echo "Decode: 64 tokens, 3 repetitions, all rows back to back at the end of each model's run; the"
  echo "reference models are small (their decode is bound by per-token overheads, not bandwidth)."
  for m in tq-ref-s tq-ref-m; do
    [ -f "$OUT/eval-$m.md" ] || continue
    echo
    echo "### $m"
    echo
    cat "$OUT/eval-$m.md"
  done
  if [ -f "$OUT/eval-tq-ref-m.json" ] || [ -f "$OUT/synth-full.json" ]; then
    echo
    echo "### Quantization time"
    echo
    echo "| model | method | calibration | sensitivity | quantization | block tuning | total |"
    echo "|---|---|---|---|---|---|---|"
    if [ -f "$OUT/eval-tq-ref-m.json" ]; then
      for label in "tq4 data-free" "tq4 full" "mixed --bpw 3.0"; do
        awk -v l="\"label\": \"$label\"" -v name="$label" '
          index($0, l) { found = 1 }
          found && /"calibration"/ { c = $2 } found && /"sensitivity"/ { s = $2 }
          found && /"quantization"/ { q = $2 } found && /"block_tuning"/ { b = $2 }
          found && /"quantize_seconds"/ { t = $2 }
          found && /"speedup"/ && t != "" { gsub(/[^0-9.e-]/, "", c); gsub(/[^0-9.e-]/, "", s); gsub(/[^0-9.e-]/, "", q);
            gsub(/[^0-9.e-]/, "", b); gsub(/[^0-9.e-]/, "", t);
            printf "| tq-ref-m | %s | %.1f s | %.1f s | %.1f s | %.1f s | %.1f s |\n", name, c, s, q, b, t; exit }' \
          "$OUT/eval-tq-ref-m.json"
      done
    fi
    for k in datafree full; do
      f="$OUT/synth-$k.json"
      [ -f "$f" ] || continue
      printf '| Llama-3.2-1B (synthetic) | tq4 %s | %.1f s | %.1f s | %.1f s | %.1f s | %.1f s |\n' \
        "$( [ $k = full ] && echo "full ($SYNTH_CALIB_WINDOWS calibration windows, $SYNTH_TUNE_STEPS Adam steps)" || echo data-free)" \
        "$(secs "$f" calibration)" "$(secs "$f" sensitivity)" "$(secs "$f" quantization)" \
        "$(secs "$f" block_tuning)" "$(secs "$f" total)"
    done
    echo
    echo "The synthetic 1B has random weights: calibrating it measures time only (its quality means"
    echo "nothing), so its full run uses fewer calibration windows and Adam steps, as stated in the row."
  fi
} >"$OUT/weights.md"
replace_section weights "$OUT/weights.md"

#!/usr/bin/env bash
# Regenerates the weight-quantization section of docs/RESULTS.md (between its own markers):
#  * for tq-ref-s and tq-ref-m, `tq eval` on corpus/valid.txt (ctx 512; PPL over 400 windows, KLD /
#    top-1 vs bf16 over the first 50, as the llama.cpp anchors): bf16, q8, rtn4, gptq4, tq4
#    data-free, tq4 / tq3 / tq2 / tq3.5 full, uniform tq3 with a tq3 embedding (and with 256 hot
#    rows), mixed --bpw 3.0 and 2.5, a mixed plan at the size of the tq3 preset (bpw=like),
#    and a mixed plan at the bits per weight of every llama.cpp row of anchors/LLAMACPP-WEIGHTS.md,
#    that row printed beside it; calibration: corpus/train-00.txt (never valid.txt);
#  * quantization time (`time`): tq-ref-m and a synthetic Llama-3.2-1B (written once by `tq synth`
#    into build/synth/), data-free and full, each a fresh `tq quantize` process.
# Usage: scripts/results-weights.sh [tq-ref-s] [tq-ref-m] [time] [render]   (default: all four)
# Each `tq eval` runs in slices of at most SLICE_S seconds of new rows (it resumes from its work
# folder build/results-weights/work-MODEL-COMMIT), so with LOCK set every slice holds the CPU lock
# on its own: LOCK=/work/wt/.cpu.lock scripts/results-weights.sh tq-ref-m
# Env: TQ_SHARED_DATA (the build's, else ../shared/data), THREADS (2), CALIB_WINDOWS (128), SLICE_S (480), LOCK (none),
#      SYNTH_CALIB_WINDOWS (16), SYNTH_METHOD (gptq+lsq), SYNTH_TUNE_STEPS (5, when SYNTH_METHOD has adam).
#      SYNTH (build/synth/llama-3.2-1b-bf16: the synthetic 1B, a folder or .gguf; made when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
# Shared data: $TQ_SHARED_DATA, else what the release build was configured with, else ../shared/data.
DATA=${TQ_SHARED_DATA:-$(sed -n 's/^TQ_SHARED_DATA:[A-Z]*=//p' build/release/CMakeCache.txt 2>/dev/null)}
DATA=${DATA:-../shared/data}
THREADS=${THREADS:-2}
CALIB_WINDOWS=${CALIB_WINDOWS:-128}
SYNTH_CALIB_WINDOWS=${SYNTH_CALIB_WINDOWS:-16}
SYNTH_TUNE_STEPS=${SYNTH_TUNE_STEPS:-5}
SYNTH_METHOD=${SYNTH_METHOD:-gptq+lsq}  # "full" adds block Adam: ~1 TFLOP per step and layer on the 1B
SLICE_S=${SLICE_S:-480}
LOCK=${LOCK:-}
TQ=build/release/bin/tq
SYNTH=${SYNTH:-build/synth/llama-3.2-1b-bf16}  # HF folder or .gguf; made by tq synth when missing
OUT=build/results-weights
PARTS=("$@")
[ ${#PARTS[@]} -eq 0 ] && PARTS=(tq-ref-s tq-ref-m time render)
# heavy CMD...: runs CMD under the CPU lock when LOCK is set.
heavy() { if [ -n "$LOCK" ]; then flock "$LOCK" "$@"; else "$@"; fi; }
mkdir -p "$OUT"
heavy cmake --preset release >/dev/null
heavy cmake --build --preset release --target tq >/dev/null

. scripts/results-lib.sh  # RESULTS, replace_section

ROWS="base,q8:q8,rtn4:rtn4,gptq4:gptq4,tq4 data-free:tq4@datafree,tq4 full:tq4@full,tq3 full:tq3@full"
ROWS="$ROWS,tq2 full:tq2@full,tq3.5 full:tq3.5@full,tq3 full with tq3 embedding:tq3;token_embd=tq3@full"
ROWS="$ROWS,tq3 full with tq3+h256 embedding:tq3;token_embd=tq3+h256@full"
ROWS="$ROWS,mixed --bpw 3.0:bpw=3@full,mixed --bpw 2.5:bpw=2.5@full"
ROWS="$ROWS,mixed at the size of tq3 full:bpw=like(tq3 full)@full"

for part in "${PARTS[@]}"; do
  case "$part" in
  tq-ref-s|tq-ref-m)
    m=$part
    work="$OUT/work-$m-$COMMIT"
    rm -f "$OUT/eval-$m.md"
    for slice in $(seq 1 40); do
      rc=0
      heavy "$TQ" eval -q -m "$DATA/models/$m" -f "$DATA/corpus/valid.txt" --ctx 512 --ppl-windows 400 \
        --kld-windows 50 --calib "$DATA/corpus/train-00.txt" --calib-windows "$CALIB_WINDOWS" \
        --methods "$ROWS" --anchors "$DATA/anchors/LLAMACPP-WEIGHTS.md" --anchor-rows \
        --work-dir "$work" --resume --max-seconds "$SLICE_S" \
        -t "$THREADS" --json "$OUT/eval-$m.json" --md "$OUT/eval-$m.md" >/dev/null 2>>"$OUT/eval-$m.log" || rc=$?
      [ $rc -eq 0 ] && break
      [ $rc -eq 3 ] || { echo "tq eval failed ($rc), see $OUT/eval-$m.log" >&2; exit 1; }
    done
    [ -f "$OUT/eval-$m.md" ] && rm -rf "$work" && echo "$COMMIT" >"$OUT/eval-$m.commit"
    ;;
  time)
    [ -e "$SYNTH" ] || heavy "$TQ" synth --preset llama-3.2-1b --type bf16 -o "$SYNTH" >/dev/null
    M="$DATA/models/tq-ref-m"
    for k in datafree full; do
      heavy "$TQ" quantize -q -m "$M" -o "$OUT/m-tq4-$k.gguf" --recipe tq4 --method $k \
        --calib "$DATA/corpus/train-00.txt" --calib-windows "$CALIB_WINDOWS" -t "$THREADS" \
        --json "$OUT/time-m-$k.json" >"$OUT/time-m-$k.log" 2>&1
      rm -f "$OUT/m-tq4-$k.gguf"
    done
    heavy "$TQ" quantize -q -m "$M" -o "$OUT/m-bpw3.gguf" --bpw 3 --method full \
      --calib "$DATA/corpus/train-00.txt" --calib-windows "$CALIB_WINDOWS" -t "$THREADS" \
      --json "$OUT/time-m-bpw3.json" >"$OUT/time-m-bpw3.log" 2>&1
    rm -f "$OUT/m-bpw3.gguf"
    heavy "$TQ" quantize -q -m "$SYNTH" -o "$OUT/synth-tq4-datafree.gguf" --recipe tq4 --method datafree \
      -t "$THREADS" --json "$OUT/synth-datafree.json" >"$OUT/synth-datafree.log" 2>&1
    rm -f "$OUT/synth-tq4-datafree.gguf"
    heavy "$TQ" quantize -q -m "$SYNTH" -o "$OUT/synth-tq4-full.gguf" --recipe tq4 --method "$SYNTH_METHOD" \
      --calib "$DATA/corpus/train-00.txt" --calib-windows "$SYNTH_CALIB_WINDOWS" \
      --tune-steps "$SYNTH_TUNE_STEPS" --tune-windows 4 -t "$THREADS" \
      --json "$OUT/synth-full.json" >"$OUT/synth-full.log" 2>&1
    rm -f "$OUT/synth-tq4-full.gguf"
    echo "$COMMIT" >"$OUT/time.commit"
    ;;
  render) ;;
  *) echo "unknown part $part (tq-ref-s, tq-ref-m, time, render)" >&2; exit 2 ;;
  esac
done

# Assemble the section from whatever results exist.
secs() { grep -o "\"$2\": *[0-9][0-9.e+-]*" "$1" | head -1 | sed 's/.*: *//'; }  # numbers only (block_tuning is also a list)
time_row() {  # time_row MODEL LABEL JSON
  [ -f "$3" ] || return 0
  printf '| %s | %s | %.3f | %.1f s | %.1f s | %.1f s | %.1f s | %.1f s |\n' "$1" "$2" \
    "$(secs "$3" bits_per_weight)" "$(secs "$3" calibration)" "$(secs "$3" sensitivity)" \
    "$(secs "$3" quantization)" "$(secs "$3" block_tuning)" "$(secs "$3" total)"
}
{
  echo "## Weight quantization (issue 4)"
  echo
  echo "\`scripts/results-weights.sh\` ($(date -u +%Y-%m-%d), rendered at commit $COMMIT, $THREADS threads):"
  echo "\`tq eval\` on corpus/valid.txt tokenized whole, windows of 512: PPL over the first 400 windows, mean"
  echo "KLD / p99 / top-1 against the bf16 model over the first 50 (the anchors' protocol). Bits per weight"
  echo "count every tensor (embedding = tied output head included, norms at 32 bits); file = tensor bytes of"
  echo "the GGUF (vs base = bf16 bytes / these). Calibration: $CALIB_WINDOWS random windows of 512 tokens from the first"
  echo "4 MB of corpus/train-00.txt (never valid.txt); --bpw sensitivities on 4 further train windows."
  echo "\"full\" = GPTQ in the rotated basis with least-squares group scales + closed-form scales +"
  echo "block-output Adam scales (100 steps per block on 32 windows). tq<b> = linears tq<b>g128 and the"
  echo "embedding tq<b+2>g128 (tq3.5: tq3.5g128, half of each tensor's input groups at 4 bits, embedding"
  echo "tq5.5); +h<K> = the K most frequent calibration tokens' embedding rows get a residual row (docs/FORMATS.md)."
  echo "\"mixed --bpw B\" = per-tensor widths from {2,2.5,3,...,5.5,6,8} (G=128; embedding also with n_vocab/32"
  echo "or n_vocab/8 hot rows) chosen by the knapsack on measured ΔKLD (its embedding choice is in the embedding column). rtn4 / gptq4"
  echo "put every tensor, the embedding too, in that format. Each llama.cpp row of the anchor file is"
  echo "printed beside the mixed plan of its size; \"mixed at the size of tq3 full\" is the plan at that row's bits per weight. Decode: 64 tokens, 3 repetitions, all rows back to"
  echo "back at the end of each model's run (these small models' decode is bound by per-token overheads,"
  echo "not bandwidth; the 1B speed test is in the runtime section and \`tq bench\`). KLD / PPL are what the"
  echo "runtime computes: its integer kernels round each activation group to int8 (docs/RUNTIME.md), so"
  echo "the quantized rows include that rounding on top of the weight error."
  for m in tq-ref-s tq-ref-m; do
    [ -f "$OUT/eval-$m.md" ] || continue
    echo
    echo "### $m"
    echo
    [ -f "$OUT/eval-$m.commit" ] && echo "Measured at commit $(cat "$OUT/eval-$m.commit")." && echo
    cat "$OUT/eval-$m.md"
  done
  if ls "$OUT"/time-m-*.json "$OUT"/synth-*.json >/dev/null 2>&1; then
    echo
    echo "### Quantization time"
    echo
    echo "Each row one \`tq quantize\` process from the bf16 model ($THREADS threads), \`--json\` seconds;"
    echo "measured at commit $(cat "$OUT/time.commit" 2>/dev/null || echo "? (older than the time.commit record)")."
    echo
    echo "| model | recipe, method | bits/weight | calibration | sensitivity | quantization | block tuning | total |"
    echo "|---|---|---|---|---|---|---|---|"
    time_row tq-ref-m "tq4, data-free" "$OUT/time-m-datafree.json"
    time_row tq-ref-m "tq4, full ($CALIB_WINDOWS windows)" "$OUT/time-m-full.json"
    time_row tq-ref-m "--bpw 3, full ($CALIB_WINDOWS windows)" "$OUT/time-m-bpw3.json"
    time_row "Llama-3.2-1B (synthetic)" "tq4, data-free" "$OUT/synth-datafree.json"
    time_row "Llama-3.2-1B (synthetic)" "tq4, $SYNTH_METHOD ($SYNTH_CALIB_WINDOWS windows$(case $SYNTH_METHOD in *adam*|full) echo ", $SYNTH_TUNE_STEPS Adam steps on 4";; esac))" "$OUT/synth-full.json"
    echo
    echo "The synthetic 1B has random weights: calibrating it measures time only (its quality means"
    echo "nothing), so its calibrated run uses fewer windows (and by default no block Adam), as the row says."
  fi
} >"$OUT/weights.md"
replace_section weights "$OUT/weights.md"

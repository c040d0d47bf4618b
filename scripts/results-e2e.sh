#!/usr/bin/env bash
# The end-to-end scales measurement of docs/RESULTS.md (issue 4): for each model given (tq-ref-s,
# tq-ref-m), `tq eval` on corpus/valid.txt (windows of 512; PPL, mean KLD and top-1 against bf16
# over the first 50 windows) of tq3 / tq4 / mixed --bpw 3, each with the full method and with
# full+e2e (the end-to-end KLD-tuned scales, quantize/model_tune.h). Calibration and the e2e
# tuning read only corpus/train-00.txt (CALIB_WINDOWS random windows of 512; block Adam tunes on
# the first 32, e2e on all but the last 16, which decide whether e2e's result is kept); valid.txt
# is only evaluated.
# Usage: LOCK=/work/wt/.cpu.lock scripts/results-e2e.sh [tq-ref-s] [tq-ref-m] [render]
# render: the section weights-e2e of docs/RESULTS.md from the measured JSON (needs jq).
# Each `tq eval` runs in slices of at most SLICE_S seconds of new rows (resuming from its work
# folder), each slice under the CPU lock when LOCK is set.
# Env: TQ_SHARED_DATA (else the build's, else ../shared/data), THREADS (2), CALIB_WINDOWS (128),
#      SLICE_S (300), LOCK (none), E2E_STEPS (100), E2E_LR (0.001).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TQ_SHARED_DATA:-$(sed -n 's/^TQ_SHARED_DATA:[A-Z]*=//p' build/release/CMakeCache.txt 2>/dev/null)}
DATA=${DATA:-../shared/data}
THREADS=${THREADS:-2}
CALIB_WINDOWS=${CALIB_WINDOWS:-128}
SLICE_S=${SLICE_S:-300}
LOCK=${LOCK:-}
E2E_STEPS=${E2E_STEPS:-100}
E2E_LR=${E2E_LR:-0.001}
TQ=build/release/bin/tq
OUT=build/results-e2e
heavy() { if [ -n "$LOCK" ]; then flock "$LOCK" "$@"; else "$@"; fi; }
mkdir -p "$OUT"
ROWS="base,tq3 full:tq3@full,tq3 full+e2e:tq3@full+e2e,tq4 full:tq4@full,tq4 full+e2e:tq4@full+e2e"
ROWS="$ROWS,mixed --bpw 3 full:bpw=3@full,mixed --bpw 3 full+e2e:bpw=3@full+e2e"
for m in "$@"; do
  [ "$m" = render ] && continue
  work="$OUT/work-$m"
  for slice in $(seq 1 40); do
    rc=0
    heavy "$TQ" eval -q -m "$DATA/models/$m" -f "$DATA/corpus/valid.txt" --ctx 512 --ppl-windows 50 \
      --kld-windows 50 --calib "$DATA/corpus/train-00.txt" --calib-windows "$CALIB_WINDOWS" \
      --methods "$ROWS" --e2e-steps "$E2E_STEPS" --e2e-lr "$E2E_LR" -n 16 -r 1 \
      --work-dir "$work" --resume --max-seconds "$SLICE_S" \
      -t "$THREADS" --json "$OUT/eval-$m.json" --md "$OUT/eval-$m.md" >/dev/null 2>>"$OUT/eval-$m.log" || rc=$?
    [ $rc -eq 0 ] && break
    [ $rc -eq 3 ] || { echo "tq eval failed ($rc), see $OUT/eval-$m.log" >&2; exit 1; }
  done
  git rev-parse --short HEAD >"$OUT/eval-$m.commit"
done

for part in "$@"; do
  [ "$part" = render ] || continue
  . scripts/results-lib.sh  # RESULTS, replace_section
  {
    echo "## Weight quantization: end-to-end KLD-tuned scales (issue 4)"
    echo
    echo "\`scripts/results-e2e.sh\` ($(date -u +%Y-%m-%d), $THREADS threads): \`tq eval\` on corpus/valid.txt, windows of 512,"
    echo "PPL, mean KLD and top-1 against bf16 over the first 50 windows. Calibration: $CALIB_WINDOWS random windows of 512"
    echo "tokens of corpus/train-00.txt (never valid.txt); block Adam tunes on the first 32 of them."
    echo "\"full\" = GPTQ + closed-form scales + block-output Adam; \"full+e2e\" adds the end-to-end step"
    echo "($E2E_STEPS Adam steps, lr $E2E_LR, one window per step, on the KL divergence of the whole model's next-token"
    echo "distribution to bf16's; every TurboQuant tensor's group scales, the embedding's hot rows included) on the"
    echo "first $((CALIB_WINDOWS - 16)) calibration windows, kept only when it lowers the KLD on the last 16 (held out)."
    echo "Quantize time = the row's own work (quantization, sensitivity, block Adam, e2e), without the calibration"
    echo "Hessians that the rows share (a --bpw row's sensitivities are measured once, in the first such row)."
    for m in tq-ref-s tq-ref-m; do
      j="$OUT/eval-$m.json"
      [ -f "$j" ] || continue
      echo
      echo "### $m (commit $(cat "$OUT/eval-$m.commit" 2>/dev/null))"
      echo
      echo "| row | bits/weight | PPL (50 w) | mean KLD (50 w) | top-1 | quantize time | of it e2e | e2e: KLD on its tuning windows | e2e: KLD on the held-out windows |"
      echo "|---|---|---|---|---|---|---|---|---|"
      jq -r '.rows[] | select(.recipe != "base") |
        "| \(.label) | \(.bits_per_weight*1000|round/1000) | \(.ppl*1000|round/1000) | \(.kld_mean*10000|round/10000) | \(.top1*1000|round/10)% | " +
        "\((.quantize_breakdown_seconds.quantization + .quantize_breakdown_seconds.sensitivity + .quantize_breakdown_seconds.block_tuning + (.quantize_breakdown_seconds.end_to_end_tuning // 0))*10|round/10) s | " +
        "\(if .e2e then "\(.e2e.seconds*10|round/10) s" else "-" end) | " +
        "\(if .e2e then "\(.e2e.kld_before*10000|round/10000) -> \(.e2e.kld_tuned*10000|round/10000)" else "-" end) | " +
        "\(if .e2e then "\(.e2e.holdout_before*10000|round/10000) -> \(.e2e.holdout_tuned*10000|round/10000) (\(if .e2e.kept then "kept" else "discarded" end))" else "-" end) |"' "$j"
    done
  } >"$OUT/section.md"
  replace_section weights-e2e "$OUT/section.md"
done

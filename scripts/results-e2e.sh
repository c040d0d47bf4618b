#!/usr/bin/env bash
# The end-to-end scales measurement of docs/RESULTS.md (issue 4): for each model given (tq-ref-s,
# tq-ref-m), `tq eval` on corpus/valid.txt (windows of 512; PPL, mean KLD and top-1 against bf16
# over the first 50 windows) of tq3 / tq4 / mixed --bpw 3, each with the full method and with
# full+e2e (the end-to-end KLD-tuned scales, quantize/model_tune.h). Calibration and the e2e
# tuning read only corpus/train-00.txt (CALIB_WINDOWS random windows of 512; e2e and block Adam
# tune on the first 32 of them); valid.txt is only evaluated.
# Usage: LOCK=/work/wt/.cpu.lock scripts/results-e2e.sh tq-ref-s tq-ref-m
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

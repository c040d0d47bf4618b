#!/usr/bin/env bash
# Hot rows of an untied output head, measured on untied copies of the (tied) reference models:
# tools/make_untied_hf.py writes build/untied-<s|m> (lm_head.weight = a copy of the embedding, so the
# float model computes the source's logits), then `tq eval` (valid.txt, ctx 512, PPL and KLD over 50
# windows; calibration corpus/train-00.txt, never valid.txt) runs, per model:
#   freq: tq3 everywhere vs output=tq3+h<K> for K = V/32, V/8 (and the same with embedding hot rows),
#         and a mixed --bpw 3 plan (its allocator may give the head hot rows);
#   prob: the output=tq3+h<K> rows with --head-hot-rows prob (mean predicted probability);
#   before: --bpw 3 with --no-head-hot-plans (the allocator before head hot rows).
# Usage: scripts/results-hot-head.sh [s] [m]   (default: s). Writes build/results-hot-head/*.md.
# Env: TQ_SHARED_DATA (else the build's), THREADS (2), CALIB_WINDOWS (128), METHOD (full), LOCK,
#      PAIR=1: only tq3 everywhere vs output=tq3+h<V/32> (one pair, for the larger model).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TQ_SHARED_DATA:-$(sed -n 's/^TQ_SHARED_DATA:[A-Z]*=//p' build/release/CMakeCache.txt 2>/dev/null)}
DATA=${DATA:-../shared/data}
THREADS=${THREADS:-2}
CALIB_WINDOWS=${CALIB_WINDOWS:-128}
METHOD=${METHOD:-full}
LOCK=${LOCK:-}
TQ=build/release/bin/tq
OUT=build/results-hot-head
heavy() { if [ -n "$LOCK" ]; then flock "$LOCK" "$@"; else "$@"; fi; }
mkdir -p "$OUT"
MODELS=("$@")
[ ${#MODELS[@]} -eq 0 ] && MODELS=(s)
for s in "${MODELS[@]}"; do
  src="$DATA/models/tq-ref-$s"
  m="build/untied-$s"
  [ -d "$m" ] || python3 tools/make_untied_hf.py "$src" "$m"
  V=$(python3 -c "import json; print(json.load(open('$src/config.json'))['vocab_size'])")
  k1=$((V / 32)) k2=$((V / 8))
  all="tq3;token_embd=tq3;output=tq3"
  head_rows="tq3 all:$all,head+h$k1:$all+h$k1,head+h$k2:$all+h$k2"
  rows="$head_rows,emb+h$k1 head+h$k1:tq3;token_embd=tq3+h$k1;output=tq3+h$k1"
  rows="$rows,emb+h$k2 head+h$k2:tq3;token_embd=tq3+h$k2;output=tq3+h$k2,mixed --bpw 3:bpw=3"
  runs=(freq prob before)
  if [ "${PAIR:-0}" = 1 ]; then runs=(pair); fi
  for run in "${runs[@]}"; do
    case $run in
    freq) r="$rows" extra=() ;;
    pair) r="tq3 all:$all,head+h$k1:$all+h$k1" extra=() ;;
    prob) r="$head_rows" extra=(--head-hot-rows prob) ;;
    before) r="mixed --bpw 3 (no head hot rows):bpw=3" extra=(--no-head-hot-plans) ;;
    esac
    for slice in $(seq 1 20); do
      rc=0
      heavy "$TQ" eval -q -m "$m" -f "$DATA/corpus/valid.txt" --ctx 512 --ppl-windows 50 --kld-windows 50 \
        --calib "$DATA/corpus/train-00.txt" --calib-windows "$CALIB_WINDOWS" --method "$METHOD" \
        --methods "$r" "${extra[@]}" -n 16 -r 1 --work-dir "$OUT/work-$s-$run" --resume \
        --max-seconds 420 -t "$THREADS" --md "$OUT/$s-$run.md" >/dev/null 2>>"$OUT/$s-$run.log" || rc=$?
      [ $rc -eq 0 ] && break
      [ $rc -eq 3 ] || { echo "tq eval failed ($rc), see $OUT/$s-$run.log" >&2; exit 1; }
    done
    echo "== tq-ref-$s untied, $run"; cat "$OUT/$s-$run.md"
  done
done

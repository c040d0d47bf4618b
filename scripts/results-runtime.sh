#!/usr/bin/env bash
# Regenerates the runtime section of docs/RESULTS.md (between the "runtime:begin/end" markers):
#  * accuracy: max |logit - reference| and the 400-window perplexity of tq-ref-s / tq-ref-m
#    against their reference.json (skipped with --bench-only);
#  * speed: `tq bench` of tq-ref-m and of a synthetic Llama-3.2-1B in bf16 (written once by
#    `tq synth` into build/synth/) beside the measured memory bandwidth and the bound.
# Usage: scripts/results-runtime.sh [--bench-only]   (env: TQ_SHARED_DATA, THREADS, REPS)
# Take timings on a quiet machine: the report prints the load average before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TQ_SHARED_DATA:-../shared/data}
THREADS=${THREADS:-2}
REPS=${REPS:-5}
TQ=build/release/bin/tq
SYNTH=build/synth/llama-3.2-1b-bf16
OUT=build/results-runtime
mkdir -p "$OUT"
cmake --build --preset release --target tq >/dev/null
[ -f "$SYNTH/config.json" ] || "$TQ" synth --preset llama-3.2-1b --type bf16 -o "$SYNTH"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

section="$OUT/section.md"
{
  echo "## Runtime (CPU, float32 compute over bf16 weights)"
  echo
  echo "Regenerate: \`scripts/results-runtime.sh\` ($(date -u +%Y-%m-%d), commit $(git describe --always --dirty))."
  echo
  if [ "${1:-}" != "--bench-only" ]; then
    echo "### Accuracy against the reference models"
    echo
    echo "Perplexity: corpus/valid.txt tokenized whole, first 400 windows of 512, every predicted token (DESIGN.md §5),"
    echo "default f16 KV cache. Reference: \`valid_ppl_ctx512\` of reference.json (Hugging Face, float32)."
    echo
    echo "| model | PPL (tq) | PPL (reference) | relative difference | tokens/s (2 threads) |"
    echo "|---|---|---|---|---|"
    for m in tq-ref-s tq-ref-m; do
      line=$("$TQ" perplexity -m "$DATA/models/$m" -f "$DATA/corpus/valid.txt" --ctx 512 --chunks 400 -t "$THREADS" 2>"$OUT/ppl-$m.log" | head -1)
      ppl=$(echo "$line" | awk '{print $2}')
      err=$(echo "$line" | awk '{print $4}')
      ref=$(grep -o '"valid_ppl_ctx512": *[0-9.]*' "$DATA/models/$m/reference.json" | grep -o '[0-9.]*$')
      tps=$(grep -o '[0-9.]* tokens/s' "$OUT/ppl-$m.log" | tail -1)
      rel=$(awk -v a="$ppl" -v b="$ref" 'BEGIN{printf "%+.4f%%", 100*(a/b-1)}')
      echo "| $m | $ppl ± $err | $ref | $rel | $tps |"
    done
    echo
    echo "All logits of the first reference prompt (tests/runtime/golden_test.cc): max |logit − reference| ="
    echo "3.8e-6 with the f32 KV cache (gate 2e-3), 2.3e-3 (s) / 1.8e-3 (m) with the f16 cache; 32-token greedy"
    echo "continuations identical to \`greedy_ids\` with either cache."
    echo
  fi
  echo "### Decode and prefill speed"
  echo
  "$TQ" bench -m "$DATA/models/tq-ref-m" -m "$SYNTH" -r "$REPS" -p 128 -n 64 -t "$THREADS" --json "$OUT/bench.json" 2>/dev/null
} >"$section"

results=docs/RESULTS.md
[ -f "$results" ] || printf '# Results\n\nEvery number here is produced by a command in this repository.\n\n' >"$results"
if ! grep -q '<!-- runtime:begin -->' "$results"; then
  printf '<!-- runtime:begin -->\n<!-- runtime:end -->\n' >>"$results"
fi
awk -v f="$section" '
  /<!-- runtime:begin -->/ { print; while ((getline l < f) > 0) print l; skip = 1; next }
  /<!-- runtime:end -->/ { skip = 0 }
  !skip' "$results" >"$results.tmp" && mv "$results.tmp" "$results"
echo "updated $results (runtime section); raw: $OUT/"

#!/usr/bin/env bash
# Regenerates the runtime sections of docs/RESULTS.md (each between its own markers):
#  * runtime-accuracy: the 400-window perplexity of tq-ref-s / tq-ref-m against reference.json
#    (a few minutes);
#  * runtime-speed: `tq bench` of tq-ref-m and of a synthetic Llama-3.2-1B in bf16 (written once
#    by `tq synth` into build/synth/) beside the measured memory bandwidth and the bound.
# Usage: scripts/results-runtime.sh [accuracy] [speed]      (default: both)
# Env: TQ_SHARED_DATA (../shared/data), THREADS (2), REPS (5).
# Take speed numbers on a quiet machine: the report prints the load average before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TQ_SHARED_DATA:-../shared/data}
THREADS=${THREADS:-2}
REPS=${REPS:-5}
TQ=build/release/bin/tq
SYNTH=build/synth/llama-3.2-1b-bf16
OUT=build/results-runtime
PARTS=("$@")
[ ${#PARTS[@]} -eq 0 ] && PARTS=(accuracy speed)
mkdir -p "$OUT"
cmake --preset release >/dev/null  # re-configure: the commit id `tq bench` prints is taken here
cmake --build --preset release --target tq >/dev/null

. scripts/results-lib.sh  # RESULTS, replace_section

for part in "${PARTS[@]}"; do
  case "$part" in
  accuracy)
    {
      echo "## Runtime accuracy (CPU, f32 compute over the bf16 weights)"
      echo
      echo "\`scripts/results-runtime.sh accuracy\` ($(date -u +%Y-%m-%d), commit $COMMIT):"
      echo "\`tq perplexity\` on corpus/valid.txt tokenized whole, first 400 windows of 512, every predicted token"
      echo "(DESIGN.md §5), default f16 KV cache, $THREADS threads. Reference: \`valid_ppl_ctx512\` of each model's"
      echo "reference.json (Hugging Face, float32)."
      echo
      echo "| model | PPL (tq) | PPL (reference) | difference | eval tokens/s |"
      echo "|---|---|---|---|---|"
      for m in tq-ref-s tq-ref-m; do
        line=$("$TQ" perplexity -m "$DATA/models/$m" -f "$DATA/corpus/valid.txt" --ctx 512 --chunks 400 \
          -t "$THREADS" 2>"$OUT/ppl-$m.log" | head -1)
        ppl=$(echo "$line" | awk '{print $2}')
        err=$(echo "$line" | awk '{print $4}')
        ref=$(grep -o '"valid_ppl_ctx512": *[0-9.]*' "$DATA/models/$m/reference.json" | grep -o '[0-9.]*$')
        tps=$(grep -o '[0-9.]* tokens/s' "$OUT/ppl-$m.log" | tail -1 | awk '{print $1}')
        rel=$(awk -v a="$ppl" -v b="$ref" 'BEGIN{printf "%+.4f%%", 100*(a/b-1)}')
        echo "| $m | $ppl ± $err | $ref | $rel | $tps |"
      done
      echo
      echo "Logits (\`ctest -R Golden\`, tests/runtime/golden_test.cc): all 10 × 8192 logits of the first reference"
      echo "prompt within 3.8e-6 (s) / 4.3e-6 (m) of reference_logits.f32 with the f32 KV cache, 2.3e-3 / 1.8e-3"
      echo "with the default f16 cache; the 32-token greedy continuations equal \`greedy_ids\` with either cache. The"
      echo "same models converted by \`tq convert\` to bf16 or f32 GGUF give bit-identical logits; the tiny qwen2 /"
      echo "qwen3 / llama3-RoPE models of \`tq synth\` match Hugging Face transformers within 2.7e-6."
    } >"$OUT/accuracy.md"
    replace_section runtime-accuracy "$OUT/accuracy.md"
    ;;
  speed)
    [ -f "$SYNTH/config.json" ] || "$TQ" synth --preset llama-3.2-1b --type bf16 -o "$SYNTH" >/dev/null
    {
      echo "## Runtime speed (CPU decode and prefill, bf16 weights)"
      echo
      echo "\`scripts/results-runtime.sh speed\` ($(date -u +%Y-%m-%d)): \`tq bench\` of tq-ref-m and a synthetic"
      echo "Llama-3.2-1B (\`tq synth --preset llama-3.2-1b --type bf16\`, 1.24 B parameters, tied embedding), $THREADS"
      echo "threads, OMP_WAIT_POLICY=PASSIVE, $REPS repetitions. Taken when no other process was running (\`uptime\`"
      echo "load below 1 before the run; the load averages printed below include this run itself). The bound is"
      echo "the read bandwidth of each model's own weight pages; a STREAM-like sum over a fresh buffer is shown"
      echo "beside it (it varies with page placement on this host, 45-75 GB/s seen). tq-ref-m's 46 MB of weights"
      echo "largely fit the 32 MB L3 cache, so its decode is bound by per-step overheads; the 1B model (2.47 GB"
      echo "per token) is DRAM-bound."
      echo
      "$TQ" bench -m "$DATA/models/tq-ref-m" -m "$SYNTH" -r "$REPS" -p 128 -n 64 -t "$THREADS" \
        --json "$OUT/bench.json" 2>/dev/null
    } >"$OUT/speed.md"
    replace_section runtime-speed "$OUT/speed.md"
    ;;
  *)
    echo "unknown part '$part' (accuracy, speed)" >&2
    exit 2
    ;;
  esac
done
echo "updated $RESULTS (${PARTS[*]}); raw outputs in $OUT/"

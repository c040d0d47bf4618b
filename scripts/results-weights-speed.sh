#!/usr/bin/env bash
# Regenerates the quantized-weights speed section of docs/RESULTS.md (between
# <!-- weights-speed:begin --> and <!-- weights-speed:end -->):
#  * bench: ONE `tq bench` run over a synthetic Llama-3.2-1B in bf16, q8, rtn4, tq4g128, tq3.5g128,
#    tq3g128, tq2.5g128 and tq2g128 (fractional rows beside their whole-bit neighbours; written once by `tq synth --type T` into build/synth/l1b-T.gguf; quantized data-free),
#    decode and prefill tokens/s, bytes/token, achieved GB/s beside the bandwidth bound, and the
#    ratio to the first (bf16) row;
#  * kernels: bench_matmul_quant GEMV (one token) per format on the 1B shapes (16 distinct ffn_up
#    [8192, 2048] / ffn_down [2048, 8192] matrices cycled, the [128256, 2048] output head) and the
#    229,376 x 4,096 GEMV llama.cpp's ggml vec_dot was timed on (issue 4).
# Usage: flock /work/wt/.cpu.lock scripts/results-weights-speed.sh [bench] [kernels]   (default: both)
# Both parts together take ~6 minutes (plus ~10 minutes once to synthesize the models).
# Env: THREADS (2), REPS (5), FORMATS ("bf16 q8 rtn4 tq4g128 tq3.5g128 tq3g128 tq2.5g128 tq2g128",
# the first is the baseline of the ratios).
# Take the numbers on a quiet machine: the output records the load averages before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
REPS=${REPS:-5}
FORMATS=${FORMATS:-"bf16 q8 rtn4 tq4g128 tq3.5g128 tq3g128 tq2.5g128 tq2g128"}
TQ=build/release/bin/tq
BENCH=build/release/bin/bench_matmul_quant
OUT=build/results-weights-speed
PARTS=("$@")
[ ${#PARTS[@]} -eq 0 ] && PARTS=(bench kernels)
mkdir -p "$OUT" build/synth
cmake --preset release >/dev/null  # re-configure: the commit id `tq bench` prints is taken here
cmake --build --preset release --target tq bench_matmul_quant >/dev/null

. scripts/results-lib.sh  # RESULTS, replace_section

# Part outputs are kept in $OUT so that the section can be rebuilt from either part alone.
for part in "${PARTS[@]}"; do
  case "$part" in
  bench)
    models=()
    for f in $FORMATS; do
      m=build/synth/l1b-$f.gguf
      [ -f "$m" ] || "$TQ" synth --preset llama-3.2-1b --type "$f" -t "$THREADS" -o "$m" >/dev/null
      models+=(-m "$m")
    done
    {
      echo "\`tq bench ${models[*]} -r $REPS -p 128 -n 64 -t $THREADS\` ($(date -u +%Y-%m-%d), load average before: $(cut -d' ' -f1-3 /proc/loadavg)):"
      echo
      "$TQ" bench "${models[@]}" -r "$REPS" -p 128 -n 64 -t "$THREADS" --json "$OUT/bench.json" 2>"$OUT/bench.log"
    } >"$OUT/bench.md"
    ;;
  kernels)
    filter="^(l1b_ffn_up_x16|l1b_ffn_down_x16|l1b_lm_head|ggml_229376x4096)/($(echo "$FORMATS" | tr ' ' '|'))/1/"
    OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} "$BENCH" \
      --benchmark_filter="$filter" --benchmark_format=csv >"$OUT/kernels.csv" 2>"$OUT/kernels.log"
    {
      echo "\`OMP_NUM_THREADS=$THREADS OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} bench_matmul_quant --benchmark_filter='$filter'\`"
      echo "($(date -u +%Y-%m-%d), load average after: $(cut -d' ' -f1-3 /proc/loadavg)). One token; ms per GEMV, achieved"
      echo "GB/s of weight bytes, and the bound: the read bandwidth of the same weight buffer (integer sum, best"
      echo "of 3, same threads) right after. ggml vec_dot on the 229,376 × 4,096 GEMV (issue 4, same machine): bf16"
      echo "31.3 ms, q4_K 15.4 ms (2.04×), iq4_xs 18.6 ms (1.68×)."
      echo
      # CSV: name,iterations,real_time,cpu_time,time_unit,...,"GB/s","GMAC/s","bits/w","bound_GB/s"
      awk -F, -v formats="$FORMATS" '
        NR == 1 { next }
        {
          gsub(/"/, "", $1); split($1, p, "/"); shape = p[1]; fmt = p[2]
          ms[shape, fmt] = $3; gbs[shape, fmt] = $11 / 1e9; bound[shape, fmt] = $14; bits[fmt] = $13
        }
        END {
          n = split("l1b_ffn_up_x16 l1b_ffn_down_x16 l1b_lm_head ggml_229376x4096", shapes, " ")
          printf "| format | bits/w |"
          split("ffn_up 8192×2048|ffn_down 2048×8192|lm head 128256×2048|229376×4096", names, "|")
          for (i = 1; i <= n; ++i) printf " %s: ms, GB/s / bound |", names[i]
          printf " 229376×4096 vs %s |\n|---|---|", base = substr(formats, 1, index(formats " ", " ") - 1)
          for (i = 1; i <= n; ++i) printf "---|"
          printf "---|\n"
          nf = split(formats, fs, " ")
          for (j = 1; j <= nf; ++j) {
            f = fs[j]
            if (!(f in bits)) continue
            printf "| %s | %.3f |", f, bits[f]
            for (i = 1; i <= n; ++i) {
              s = shapes[i]
              if ((s, f) in ms) printf " %.3f, %.1f / %.1f |", ms[s, f], gbs[s, f], bound[s, f]
              else printf " - |"
            }
            g = "ggml_229376x4096"
            if ((g, f) in ms && (g, base) in ms) printf " %.2fx |\n", ms[g, base] / ms[g, f]
            else printf " - |\n"
          }
        }' "$OUT/kernels.csv"
    } >"$OUT/kernels.md"
    ;;
  *)
    echo "unknown part '$part' (bench, kernels)" >&2
    exit 2
    ;;
  esac
done

{
  echo "## Quantized weights: decode and prefill speed (CPU)"
  echo
  echo "\`scripts/results-weights-speed.sh\`: a synthetic Llama-3.2-1B (\`tq synth --preset llama-3.2-1b --type T\`,"
  echo "1.24 B parameters, tied embedding; quantized types data-free) in each format, all in one \`tq bench\`"
  echo "run ($THREADS threads, OMP_WAIT_POLICY=PASSIVE as \`tq\` sets it, $REPS repetitions). \`decode GB/s\` = bytes per"
  echo "token × tokens/s, beside \`weights read GB/s\` (the read bandwidth of that model's own weight pages, the"
  echo "bound); \`decode vs first\` / \`prefill vs first\` = speed-up over the bf16 row of the same run. Issue 4's"
  echo "target: tq4 decode ≥ 2.5× bf16. The bandwidth this host gives a buffer varies with page placement"
  echo "(45–85 GB/s seen within minutes), so compare rows of one run, not runs. Kernel design: docs/FORMATS.md."
  echo
  [ -f "$OUT/bench.md" ] && cat "$OUT/bench.md" && echo
  [ -f "$OUT/kernels.md" ] && cat "$OUT/kernels.md"
} >"$OUT/section.md"
replace_section weights-speed "$OUT/section.md"
echo "updated $RESULTS (weights-speed: ${PARTS[*]}); raw outputs in $OUT/"

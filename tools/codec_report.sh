#!/usr/bin/env bash
# Regenerates docs/CODEC.md: runs bench/bench_codec (JSON), the FAISS oracle when a Python with
# faiss-cpu is available (PYTHON=/path/to/python), and `tq codec-report` over all of it.
#
#   cmake --build --preset release && tools/codec_report.sh
#
# Environment: BUILD (default build/release), TQ_SHARED_DATA (default ../shared/data),
# BENCH_MIN_TIME (seconds per benchmark, default 0.3), PYTHON (default python3), OUT (docs/CODEC.md).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/release}
DATA=${TQ_SHARED_DATA:-../shared/data}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-docs/CODEC.md}
SIFT="$DATA/ann/sift5k/sift5k_base.fvecs"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --build "$BUILD" --target bench_codec tq >&2
echo "running bench_codec (a few minutes)..." >&2
"$BUILD/bin/bench_codec" --benchmark_min_time="${BENCH_MIN_TIME:-0.3}" \
  --benchmark_out="$tmp/bench.json" --benchmark_out_format=json >&2

args=(--bench-json "$tmp/bench.json" --out "$OUT")
[ -f "$SIFT" ] && args+=(--sift "$SIFT")
if "$PYTHON" -c "import faiss, numpy" 2>/dev/null; then
  echo "running the FAISS oracle..." >&2
  sift_arg=()
  [ -f "$SIFT" ] && sift_arg=(--sift "$SIFT")
  "$PYTHON" tools/faiss_oracle.py --tq "$BUILD/bin/tq" "${sift_arg[@]}" --out "$tmp/faiss.md"
  args+=(--append "$tmp/faiss.md")
else
  echo "no faiss-cpu for $PYTHON: skipping the FAISS oracle" >&2
fi
mkdir -p "$(dirname "$OUT")"
"$BUILD/bin/tq" codec-report "${args[@]}"

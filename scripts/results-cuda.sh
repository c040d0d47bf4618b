#!/usr/bin/env bash
# GPU results of the CUDA codec backend (docs/CUDA.md), in three steps:
#
#   scripts/results-cuda.sh pack [BUNDLE]   here (no GPU needed): builds the `cuda` preset's test and
#                                           benchmark, copies them with their non-system shared
#                                           libraries and this script into BUNDLE (default
#                                           .device/cuda, git-ignored); records the commit.
#   BUNDLE/results-cuda.sh device           on the GPU machine (writes to $OUT): the `cuda` tests with
#                                           TQ_REQUIRE_GPU=1, the benchmark (JSON), compute-sanitizer
#                                           memcheck + racecheck on a few tests, an Nsight Compute
#                                           summary of the scoring and decode kernels.
#   scripts/results-cuda.sh write DIR       here: renders DIR (what `device` wrote) into the section
#                                           between <!-- cuda-results:begin/end --> of docs/CUDA.md.
#
# The device machine needs only the NVIDIA driver (and, for the sanitizers/ncu, the CUDA toolkit's
# tools): the binaries link the CUDA runtime statically. docs/DEVICE-NOTES.md says how the runs here
# were made.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

pack() {
  cd "$HERE/.."
  local bundle=${1:-.device/cuda}
  cmake --preset cuda -DTQ_SHARED_DATA="${TQ_SHARED_DATA:-../shared/data}" >/dev/null
  cmake --build build/cuda -j2 --target codec_cuda_test bench_codec_cuda >/dev/null
  rm -rf "$bundle" && mkdir -p "$bundle/bin" "$bundle/lib"
  cp build/cuda/tests/kernels/codec_cuda_test build/cuda/bin/bench_codec_cuda "$bundle/bin/"
  # Shared libraries other than glibc's (the device machine's glibc is as new or newer).
  ldd "$bundle"/bin/* | awk '$3 ~ /^\// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*)\.so' | xargs -r cp -L -t "$bundle/lib/"
  # xz: the fat binaries (sm_90a code + PTX) shrink ~6x, which keeps the tree that travels to the
  # device machine under its 64 MiB limit; `device` unpacks them.
  xz -T2 -6 "$bundle"/bin/*
  cp "$HERE/results-cuda.sh" "$bundle/"
  echo "$(git describe --always --dirty) $(git log -1 --format=%cI)" >"$bundle/commit.txt"
  du -sh "$bundle"
  echo "device command, from the root of the checkout that travels: bash $bundle/results-cuda.sh device (carry $bundle)"
}

device() {
  : "${OUT:?OUT must name the output folder}"
  set +e  # run every step and report each one's exit status
  local b
  b=$(mktemp -d)
  cp -r "$HERE/lib" "$HERE/commit.txt" "$b/" && mkdir "$b/bin"
  for f in "$HERE"/bin/*.xz; do
    local exe=$b/bin/$(basename "$f" .xz)
    if command -v xz >/dev/null; then xz -dc "$f" >"$exe"; else
      python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$f" "$exe"
    fi
    chmod +x "$exe"
  done
  export LD_LIBRARY_PATH=$b/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export TQ_REQUIRE_GPU=1
  local env=$OUT/env.txt
  {
    echo "commit: $(cat "$b/commit.txt")"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader |
      sed 's/^/gpu: /'
    echo "os: $(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version | head -1), $(nproc) cpus"
    echo "nvcc: $(nvcc --version 2>/dev/null | tail -1 || echo none)"
  } >"$env" 2>&1
  local t0
  t0=$(date +%s)
  timeout 240 "$b/bin/codec_cuda_test" >"$OUT/test.log" 2>&1
  echo "tests: rc=$? $(($(date +%s) - t0)) s" >>"$env"
  t0=$(date +%s)
  timeout 240 "$b/bin/bench_codec_cuda" --benchmark_min_time=0.1 --benchmark_out="$OUT/bench.json" \
    --benchmark_out_format=json >"$OUT/bench.txt" 2>&1
  echo "bench: rc=$? $(($(date +%s) - t0)) s" >>"$env"
  if command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck; do
      t0=$(date +%s)
      timeout 90 compute-sanitizer --tool $tool --error-exitcode 3 "$b/bin/codec_cuda_test" \
        --gtest_filter='*DevicePointer*:*ErrorsAre*:*Rotation*' >"$OUT/$tool.log" 2>&1
      echo "$tool: rc=$? $(($(date +%s) - t0)) s" >>"$env"
    done
  fi
  if command -v ncu >/dev/null; then
    t0=$(date +%s)
    timeout 120 ncu --clock-control none -k 'regex:score_kernel|decode_kernel' -c 4 --section SpeedOfLight \
      --section Occupancy --section LaunchStats "$b/bin/bench_codec_cuda" \
      --benchmark_filter='score_ip_mse/d:128/b:4/m:(1|16)/|decode_mse/d:128/b:4/' --benchmark_min_time=0.01 \
      >"$OUT/ncu.txt" 2>&1
    echo "ncu: rc=$? $(($(date +%s) - t0)) s" >>"$env"
  fi
  cat "$env"
  grep -E '^\[  (FAILED|PASSED|SKIPPED) |Failure' "$OUT/test.log" | head -20
  grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT"/memcheck.log "$OUT"/racecheck.log 2>/dev/null || true
  head -80 "$OUT/bench.txt"
}

# Markdown tables from the benchmark JSON (DIR/bench.json) and the test log.
render() {
  local dir=$1 json=$1/bench.json
  local peak
  peak=$(jq -r '.context.gpu_peak_bandwidth_gbs' "$json")
  # rows FILTER: "| name | args... | time | rate | GB/s | % of peak |" for the benchmarks matching FILTER.
  rows() {
    jq -r --arg re "$1" --argjson peak "$peak" --argjson scale "$2" '
      .benchmarks[] | select(.run_type != "aggregate" and (.name | test($re))) |
      (.name | split("/manual_time")[0] | split("/")) as $p |
      ($p[1:] | map(split(":")[1])) as $args |
      "| " + ([$p[0]] + $args | join(" | ")) + " | " +
      ((.real_time / (if .time_unit == "ns" then 1000 elif .time_unit == "us" then 1 else 0.001 end)) * 10 | round / 10 | tostring) + " | " +
      ((.items_per_second / $scale) * 100 | round / 100 | tostring) + " | " +
      ((.bytes_per_second / 1e9) | round | tostring) + " | " +
      ((.bytes_per_second / 1e9 / $peak * 100) | round | tostring) + "% |"' "$json"
  }
  local card
  card=$(jq -r '.context | "\(.gpu_name) (sm_\(.gpu_sm | sub("\\.";"")), \(.gpu_multiprocessors) SMs, \(.gpu_memory_gib) GiB, \(.gpu_l2_mib) MiB L2; peak HBM bandwidth from the memory clock and bus width \(.gpu_peak_bandwidth_gbs) GB/s; driver API \(.cuda_driver), runtime \(.cuda_runtime))"' "$json")
  echo "## Results on the $(jq -r .context.gpu_name "$json")"
  echo
  echo "\`scripts/results-cuda.sh\` (pack, device, write), commit $(sed -n 's/^commit: \([^ ]*\).*/\1/p' "$dir/env.txt"),"
  echo "run $(sed -n 's/^date: //p' "$dir/env.txt"). Card: $card."
  echo "Host: $(sed -n 's/^os: //p' "$dir/env.txt"); GPU as reported by nvidia-smi:"
  echo "$(sed -n 's/^gpu: //p' "$dir/env.txt")."
  echo
  local passed failed
  passed=$(grep -oE '^\[  PASSED  \] [0-9]+' "$dir/test.log" | grep -oE '[0-9]+$' || echo 0)
  failed=$(grep -cE '^\[  FAILED  \] [A-Za-z]' "$dir/test.log" || true)
  echo "Tests (\`codec_cuda_test\`, TQ_REQUIRE_GPU=1): $passed passed, $failed failed."
  for tool in memcheck racecheck; do
    [ -f "$dir/$tool.log" ] || continue
    echo "compute-sanitizer $tool (device-pointer, error and rotation tests):" \
      "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$dir/$tool.log" | head -1 | sed 's/^========= //')."
  done
  echo
  echo "GB/s counts the bytes each operation must move (bench/bench_codec_cuda.cc: encode reads the floats"
  echo "and writes codes and norms; decode the reverse; scoring reads the resident codes, norms (γ, Σc²) and"
  echo "writes the scores); \"% peak\" is that over the card's $peak GB/s. Times: CUDA events around each"
  echo "whole call (scoring includes rotating the queries), Google Benchmark's mean over at least 0.1 s."
  echo
  echo "Yardsticks (what the memory system gives a plain kernel):"
  echo
  echo "| benchmark | time µs | G items/s | GB/s | % peak |"
  echo "|---|---|---|---|---|"
  rows '^(read|copy)_bandwidth' 1e9
  echo
  echo "Scoring (inner products / squared L2 of m queries against ~1 GB of resident codes; items = vector·query pairs):"
  echo
  echo "| benchmark | d | b | m | time µs | G pairs/s | GB/s | % peak |"
  echo "|---|---|---|---|---|---|---|---|"
  rows '^score_' 1e9
  echo
  echo "Decode and encode (256 MB of float vectors per call; items = vectors):"
  echo
  echo "| benchmark | d | b | time µs | M vectors/s | GB/s | % peak |"
  echo "|---|---|---|---|---|---|---|"
  rows '^decode_' 1e6
  rows '^encode_' 1e6
  echo
  echo "Rotation Π·x alone (256 MB in, 256 MB out):"
  echo
  echo "| benchmark | d | time µs | M vectors/s | GB/s | % peak |"
  echo "|---|---|---|---|---|---|"
  rows '^rotate' 1e6
  if [ -s "$dir/ncu.txt" ]; then
    echo
    echo "Nsight Compute (\`ncu --clock-control none\`, the kernel alone; decode_mse and score_ip_mse at d=128, b=4, m=1):"
    echo
    echo '```'
    awk '/^  [a-z_]+<|^  void |score_kernel|decode_kernel/ && /\(/ {sub(/\(CodecTables.*/, ""); sub(/^ +/, ""); print; next}
         /Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per Thread|^ +Duration/ {
           sub(/^ +/, ""); gsub(/ {2,}/, "  "); print "  " $0}' "$dir/ncu.txt"
    echo '```'
  fi
}

write() {
  local dir=${1:?usage: results-cuda.sh write DIR}
  cd "$HERE/.."
  local doc=docs/CUDA.md tmp
  tmp=$(mktemp)
  render "$dir" >"$tmp"
  grep -q '<!-- cuda-results:begin -->' "$doc" || printf '\n<!-- cuda-results:begin -->\n<!-- cuda-results:end -->\n' >>"$doc"
  awk -v f="$tmp" '
    $0 == "<!-- cuda-results:begin -->" { print; while ((getline l < f) > 0) print l; skip = 1; next }
    $0 == "<!-- cuda-results:end -->" { skip = 0 }
    !skip' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
  rm -f "$tmp"
  echo "updated $doc from $dir"
}

case "${1:-}" in
pack) shift; pack "$@" ;;
device) device ;;
write) shift; write "$@" ;;
render) shift; render "$@" ;;
*) sed -n '2,16p' "$0"; exit 2 ;;
esac

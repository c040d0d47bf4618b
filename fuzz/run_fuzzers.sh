#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`: clang, ASan + UBSan, ccache) and runs each for a
# bounded time on a scratch copy of its seed corpus fuzz/seeds/<name>/. Exits non-zero when a
# build fails or any fuzzer finds a crash, leak, timeout or sanitizer report; the offending input
# is kept in build/fuzz/artifacts/ and the command to replay it is printed.
#   fuzz/run_fuzzers.sh [SECONDS_PER_TARGET=25] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-25}
shift || true
build=build/fuzz
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
mkdir -p "$build/artifacts"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < "$build/fuzz/fuzzers.txt"
failed=()
for name in "${targets[@]}"; do
  [ -n "$name" ] || continue
  corpus=$(mktemp -d)
  trap 'rm -rf "$corpus"' EXIT
  [ -d "fuzz/seeds/$name" ] && cp -r "fuzz/seeds/$name/." "$corpus/"
  echo "== fuzz_$name: ${secs}s from $(ls "$corpus" | wc -l) seeds"
  # ASan: no leak checking of the libFuzzer driver itself; UBSan findings abort (-fno-sanitize-recover).
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
      "$build/fuzz/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$build/artifacts/$name-" "$corpus" > "$build/artifacts/$name.log" 2>&1; then
    grep -E "^(stat::number_of_executed_runs|stat::new_units_added|Done)" "$build/artifacts/$name.log" | tr '\n' ' '
    echo
  else
    echo "FAIL fuzz_$name (log: $build/artifacts/$name.log); last lines:"
    tail -n 40 "$build/artifacts/$name.log"
    failed+=("$name")
  fi
  rm -rf "$corpus"
  trap - EXIT
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzers that failed: ${failed[*]} (replay: $build/fuzz/fuzz_<name> $build/artifacts/<name>-crash-...)"
  exit 1
fi
echo "all ${#targets[@]} fuzzers ran ${secs}s each without a finding"

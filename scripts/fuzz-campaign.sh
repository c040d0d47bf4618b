#!/usr/bin/env bash
# A fuzz campaign: every libFuzzer target of fuzz/ (or the ones named) for SECONDS each (default
# 600, the floor issue 12 sets), each on its own corpus that grows across campaigns
# (build/fuzz/campaign/<name>/, started from fuzz/seeds/<name>/). Prints a markdown table — target,
# seconds, executions, executions/s, corpus growth, peak RSS, findings — for docs/FORMATS.md
# ("Fuzzing"), and keeps each target's log and any crashing input in build/fuzz/campaign/.
# Exits 1 when a target found something (the replay command is printed). CI runs only the short
# replay (fuzz/run_fuzzers.sh, CTest fuzz_parsers).
#   scripts/fuzz-campaign.sh [SECONDS=600] [TARGET...]       JOBS=N runs N targets at once
# Run it niced on a shared machine: nice -n 15 scripts/fuzz-campaign.sh
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
jobs=${JOBS:-1}
build=build/fuzz
out=$build/campaign
cmake --preset fuzz > /dev/null
cmake --build --preset fuzz
mkdir -p "$out/artifacts"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < "$build/fuzz/fuzzers.txt"

run_one() {
  local name=$1
  mkdir -p "$out/$name"
  [ -d "fuzz/seeds/$name" ] && cp -rn "fuzz/seeds/$name/." "$out/$name/"
  local before; before=$(ls "$out/$name" | wc -l)
  local rc=0
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/fuzz/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$out/artifacts/$name-" \
    "$out/$name" > "$out/$name.log" 2>&1 || rc=$?
  local after; after=$(ls "$out/$name" | wc -l)
  local runs eps rss finding
  runs=$(sed -n 's/^stat::number_of_executed_runs: *//p' "$out/$name.log" | tail -1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$name.log" | tail -1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$out/$name.log" | tail -1)
  if [ "$rc" -eq 0 ]; then
    finding=none
  else
    finding="exit $rc: $(grep -m1 -E 'ERROR: |runtime error|deadly signal|Timeout|out-of-memory' "$out/$name.log" | cut -c1-120); replay: $build/fuzz/fuzz_$name $(ls "$out/artifacts/$name-"* 2> /dev/null | head -1)"
  fi
  printf '| fuzz_%s | %s | %s | %s | %s → %s | %s MB | %s |\n' "$name" "$secs" "${runs:-?}" "${eps:-?}" \
    "$before" "$after" "${rss:-?}" "$finding" > "$out/$name.row"
  [ "$rc" -eq 0 ]
}

echo "| target | seconds | executions | executions/s | corpus (files) | peak RSS | findings |"
echo "|---|---|---|---|---|---|---|"
failed=0
pids=()
for name in "${targets[@]}"; do
  [ -n "$name" ] || continue
  run_one "$name" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
for name in "${targets[@]}"; do [ -f "$out/$name.row" ] && cat "$out/$name.row"; done
echo
echo "commit $(git describe --always --dirty), $(nproc) cores, clang $(clang --version | sed -n 's/.*version \([0-9.]*\).*/\1/p' | head -1), ASan + UBSan; logs in $out/"
exit $failed

#!/usr/bin/env bash
# Runs a command that must fail: passes only when it exits with CODE and the first line of its
# stderr matches REGEX (extended grep), so a CLI test checks the message, not just "non-zero".
#   tests/cli/expect_error.sh CODE REGEX COMMAND [ARGS...]
code=$1 regex=$2
shift 2
err=$(mktemp)
trap 'rm -f "$err"' EXIT
"$@" > /dev/null 2> "$err" < /dev/null
rc=$?
first=$(head -n 1 "$err")
if [ "$rc" -ne "$code" ]; then
  echo "expected exit $code, got $rc; stderr: $first"
  exit 1
fi
if ! printf '%s\n' "$first" | grep -qE -- "$regex"; then
  echo "first stderr line does not match /$regex/: $first"
  exit 1
fi
echo "ok: exit $rc, $first"

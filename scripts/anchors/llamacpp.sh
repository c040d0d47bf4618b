#!/usr/bin/env bash
# Builds llama.cpp's command-line tools (the anchors our numbers are compared with) from the
# llama-cpp-python source distribution on PyPI, which vendors llama.cpp under vendor/llama.cpp.
# CPU only, Release, native ISA, static. Never committed: everything lands in a git-ignored folder.
#
#   BIN=$(scripts/anchors/llamacpp.sh)      # stdout: the folder with the binaries, nothing else
#   "$BIN/llama-bench" -m model.gguf ...
#   SRC=$(scripts/anchors/llamacpp.sh --src) # only download + unpack; stdout: the llama.cpp source
#                                            # (models/ggml-vocab-*.gguf, models/templates/*.jinja)
#
# Built: llama-quantize llama-bench llama-perplexity llama-imatrix llama-tokenize llama-simple
# llama-completion (greedy text: llama-completion -no-cnv --temp 0); CPU only, native ISA less AMX
# (see NO_AMX). Progress and the llama.cpp
# version/commit go to stderr; "$DIR/build-info.txt" keeps them. Idempotent: a second run with the
# same pinned source and flags only checks the binaries and prints the folder.
#
# Environment (all optional):
#   TQ_CACHE        cache root (default: <repo>/.cache, git-ignored)
#   TQ_PIP_CACHE    where the sdist is downloaded (default: $TQ_CACHE/pip; share one between clones)
#   TQ_LLAMACPP_DIR where llama.cpp is unpacked and built (default: $TQ_CACHE/llama.cpp)
#   JOBS            parallel compile jobs (default 2); the build runs under `nice -n 5`
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
# The source: llama-cpp-python's sdist, pinned by version and SHA-256.
PKG_VERSION=0.3.36
PKG_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
TARGETS=(llama-quantize llama-bench llama-perplexity llama-imatrix llama-tokenize llama-simple
  llama-completion)
# Native ISA without AMX: CPUs here report AMX, but the VM does not grant its tile state and
# ggml's AMX matmul dies with SIGSEGV (seen in llama-perplexity on q4_1). An explicit -mno-* wins
# over -march=native in GCC whatever the order.
NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
CMAKE_FLAGS=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON
  "-DCMAKE_C_FLAGS=$NO_AMX" "-DCMAKE_CXX_FLAGS=$NO_AMX"
  -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_OPENMP=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=OFF
  -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF)

CACHE=${TQ_CACHE:-$REPO/.cache}
PIP_CACHE=${TQ_PIP_CACHE:-$CACHE/pip}
DIR=${TQ_LLAMACPP_DIR:-$CACHE/llama.cpp}
JOBS=${JOBS:-2}
SDIST=$PIP_CACHE/llama_cpp_python-$PKG_VERSION.tar.gz
SRC=$DIR/src/llama_cpp_python-$PKG_VERSION/vendor/llama.cpp
BUILD=$DIR/build
BIN=$BUILD/bin
STAMP="$PKG_VERSION $PKG_SHA256 ${CMAKE_FLAGS[*]} ${TARGETS[*]} $(uname -m)"

SRC_ONLY=0
case "${1:-}" in
  --src) SRC_ONLY=1 ;;
  "") ;;
  *) echo "usage: $0 [--src]" >&2; exit 2 ;;
esac

log() { echo "llamacpp.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

all_built() {
  [ -f "$DIR/stamp" ] && [ "$(cat "$DIR/stamp")" = "$STAMP" ] || return 1
  for t in "${TARGETS[@]}"; do [ -x "$BIN/$t" ] || return 1; done
}

if [ "$SRC_ONLY" = 0 ] && all_built; then
  cat "$DIR/build-info.txt" >&2
  echo "$BIN"
  exit 0
fi

for tool in pip cmake ninja g++ tar sha256sum; do
  command -v "$tool" >/dev/null || die "'$tool' is not installed (scripts/install-deps.sh; pip from python3-pip)"
done

# 1. The sdist (only the llama-cpp-python package is taken from source: --no-binary on it alone,
# so pip does not try to build its build dependencies from source too).
mkdir -p "$PIP_CACHE"
if [ ! -f "$SDIST" ] || [ "$(sha256sum "$SDIST" | cut -d' ' -f1)" != "$PKG_SHA256" ]; then
  log "downloading llama-cpp-python==$PKG_VERSION (sdist) into $PIP_CACHE"
  rm -f "$SDIST"
  pip download --quiet --no-deps --no-binary llama-cpp-python -d "$PIP_CACHE" \
    "llama-cpp-python==$PKG_VERSION" >&2
fi
got=$(sha256sum "$SDIST" | cut -d' ' -f1)
[ "$got" = "$PKG_SHA256" ] || die "$SDIST: SHA-256 $got, expected $PKG_SHA256"

# 2. Unpack (again when another sdist was unpacked there).
if [ ! -f "$SRC/CMakeLists.txt" ] || [ "$(cat "$DIR/src-stamp" 2>/dev/null)" != "$PKG_SHA256" ]; then
  log "unpacking into $DIR/src"
  rm -rf "$DIR/src" "$DIR/src-stamp" "$DIR/stamp"
  mkdir -p "$DIR/src"
  tar -xzf "$SDIST" -C "$DIR/src"
  [ -f "$SRC/CMakeLists.txt" ] || die "$SDIST has no vendor/llama.cpp/CMakeLists.txt"
  echo "$PKG_SHA256" >"$DIR/src-stamp"
fi
if [ "$SRC_ONLY" = 1 ]; then
  echo "$SRC"
  exit 0
fi

# 3. Configure and build the tools only (nice: the machine is shared).
log "building ${TARGETS[*]} in $BUILD ($JOBS jobs; this takes a while)"
cmake -S "$SRC" -B "$BUILD" "${CMAKE_FLAGS[@]}" >"$DIR/configure.log" 2>&1 ||
  die "cmake configure failed, see $DIR/configure.log"
nice -n 5 cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}" >"$DIR/build.log" 2>&1 ||
  die "build failed, see $DIR/build.log"

# 4. What was built: the vendored llama.cpp commit (the sdist ships its .git) and version.
commit=$(git -C "$SRC" log -1 --format='%H %cs' 2>/dev/null || echo unknown)
version=$("$BIN/llama-bench" --version 2>&1 | head -n 2 | tr '\n' ' ')
{
  echo "llama.cpp from llama-cpp-python $PKG_VERSION (sdist sha256 $PKG_SHA256)"
  echo "llama.cpp commit: $commit"
  echo "llama.cpp version: $version"
  echo "flags: ${CMAKE_FLAGS[*]}"
  echo "bin: $BIN"
} >"$DIR/build-info.txt"
for t in "${TARGETS[@]}"; do [ -x "$BIN/$t" ] || die "$BIN/$t was not built, see $DIR/build.log"; done
echo "$STAMP" >"$DIR/stamp"
cat "$DIR/build-info.txt" >&2
echo "$BIN"

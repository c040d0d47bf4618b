#!/usr/bin/env bash
# Installs the Debian 12 packages the build needs (DESIGN.md §6). Run as root (or with sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  cmake ninja-build g++ ccache pkg-config git ca-certificates \
  libgtest-dev libgmock-dev libbenchmark-dev \
  libcli11-dev nlohmann-json3-dev libfmt-dev libpcre2-dev libsentencepiece-dev libicu-dev \
  libhwy-dev libopenblas-dev libomp-dev libxxhash-dev \
  clang libclang-rt-14-dev >/dev/null

// One validation layer for the numeric command-line options (CLI11 validators, `->check(...)`):
// every numeric option of every command takes one of these, so a bad value ("-n -1", "--temp nan",
// "--top-p 5", "--ctx -5") is refused while parsing, before any work, with exit status 2 and a
// first stderr line naming the option: "tq: --top-p: 5 is out of range: must be in [0, 1]".
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <limits>

namespace tq::cli {

// An integer in [lo, hi] (written as CLI11 reads integers).
CLI::Validator int_range(int64_t lo, int64_t hi = std::numeric_limits<int64_t>::max());
inline CLI::Validator positive_int() { return int_range(1); }
inline CLI::Validator non_negative_int() { return int_range(0); }

// A finite number (no nan / inf) in [lo, hi], or (lo, hi] when lo_open.
CLI::Validator real_range(double lo, double hi, bool lo_open = false);
// A finite number > 0 (learning rates, bits per weight).
inline CLI::Validator positive_real() {
  return real_range(0, std::numeric_limits<double>::max(), /*lo_open=*/true);
}

}  // namespace tq::cli

#include "cli/validate.h"

#include <fmt/format.h>

#include <cmath>
#include <string>

namespace tq::cli {
namespace {

std::string bound(int64_t v) {
  if (v == std::numeric_limits<int64_t>::max()) return "2^63-1";
  return std::to_string(v);
}

}  // namespace

CLI::Validator int_range(int64_t lo, int64_t hi) {
  const std::string desc =
      hi == std::numeric_limits<int64_t>::max() ? fmt::format(">= {}", lo)
                                                : fmt::format("in [{}, {}]", lo, bound(hi));
  return CLI::Validator(
      [lo, hi, desc](std::string& s) -> std::string {
        int64_t v = 0;
        if (!CLI::detail::lexical_cast(s, v)) return fmt::format("'{}' is not an integer", s);
        if (v < lo || v > hi) return fmt::format("{} is out of range: must be {}", s, desc);
        return {};
      },
      desc.starts_with("in ") ? desc.substr(3) : desc);
}

CLI::Validator real_range(double lo, double hi, bool lo_open) {
  const std::string desc =
      hi == std::numeric_limits<double>::max()
          ? fmt::format("{} {}", lo_open ? ">" : ">=", lo)
          : fmt::format("in {}{}, {}]", lo_open ? "(" : "[", lo, hi);
  return CLI::Validator(
      [lo, hi, lo_open, desc](std::string& s) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(s, v)) return fmt::format("'{}' is not a number", s);
        if (!std::isfinite(v)) return fmt::format("{} is not a finite number", s);
        if (v < lo || (lo_open && v == lo) || v > hi)
          return fmt::format("{} is out of range: must be {}", s, desc);
        return {};
      },
      desc.starts_with("in ") ? desc.substr(3) : desc);
}

}  // namespace tq::cli

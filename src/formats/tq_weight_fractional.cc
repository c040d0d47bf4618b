// Fractional TurboQuant weight formats tq<b>.5g<G>: group maps and row conversions
// (formats/tq_weight.h).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/check.h"
#include "formats/tq_weight.h"

namespace tq {

Result<TqGroupMap> tq_group_map(std::span<const uint8_t> wide) {
  const int64_t n = static_cast<int64_t>(wide.size());
  if (n < 2 || n % 2 != 0)
    return invalid_argument("a fractional group map needs an even number of groups (>= 2), not {}",
                            n);
  TqGroupMap m;
  m.wide.assign(wide.begin(), wide.end());
  int64_t n_wide = 0;
  for (int64_t g = 0; g < n; ++g) {
    if (wide[g] > 1)
      return invalid_argument("group map entry {} is {} (must be 0 or 1)", g, wide[g]);
    n_wide += wide[g];
  }
  if (n_wide != n / 2)
    return invalid_argument("group map marks {} of {} groups wide; a fractional format needs "
                            "exactly half",
                            n_wide, n);
  for (int64_t g = 0; g < n; ++g)
    if (wide[g]) m.slot_group.push_back(static_cast<int32_t>(g));
  for (int64_t g = 0; g < n; ++g)
    if (!wide[g]) m.slot_group.push_back(static_cast<int32_t>(g));
  return m;
}

TqGroupMap tq_default_group_map(const float* w, int64_t n_rows, int64_t n_cols, int group) {
  TQ_CHECK(n_cols % (2 * group) == 0, "default group map: {} columns, group {}", n_cols, group);
  const int64_t n_groups = n_cols / group;
  std::vector<double> energy(n_groups, 0.0);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t c = 0; c < n_cols; ++c) {
      const double v = w[r * n_cols + c];
      if (std::isfinite(v)) energy[c / group] += v * v;
    }
  return tq_group_map_from_energy(energy);
}

TqGroupMap tq_group_map_from_energy(std::span<const double> energy) {
  const int64_t n_groups = static_cast<int64_t>(energy.size());
  TQ_CHECK(n_groups >= 2 && n_groups % 2 == 0, "group map of {} groups", n_groups);
  std::vector<int64_t> order(n_groups);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return energy[a] > energy[b] || (!(energy[b] == energy[b]) && energy[a] == energy[a]);
  });
  std::vector<uint8_t> wide(n_groups, 0);
  for (int64_t i = 0; i < n_groups / 2; ++i) wide[order[i]] = 1;
  return *tq_group_map(wide);
}

std::string tq_group_map_tensor_name(std::string_view weight_name) {
  std::string s(weight_name);
  if (s.ends_with(".weight")) s.resize(s.size() - 7);
  return s + ".tq_map";
}

namespace {

void check_map(const TqWeightSpec& spec, const TqGroupMap& map, int64_t n) {
  TQ_CHECK(spec.fractional(), "{} is not a fractional format", spec.name);
  TQ_CHECK(n % (2 * spec.group) == 0 && static_cast<int64_t>(map.slot_group.size()) == n / spec.group,
           "{}: row of {} with a map of {} groups", spec.name, n, map.slot_group.size());
}

}  // namespace

void tq_quantize_row_fractional(const float* src, int64_t n, const TqWeightSpec& spec,
                                const TqGroupMap& map, void* dst) {
  check_map(spec, map, n);
  const int G = spec.group;
  auto* out = static_cast<uint8_t*>(dst);
  const int64_t n_wide = map.n_wide();
  for (int64_t j = 0; j < n / G; ++j) {
    const int64_t g = map.slot_group[j];
    if (j < n_wide) {
      tq_quantize_group(src + g * G, spec.bits_hi, G, out + j * spec.group_bytes(spec.bits_hi));
    } else {
      tq_quantize_group(src + g * G, spec.bits, G,
                        out + n_wide * spec.group_bytes(spec.bits_hi) +
                            (j - n_wide) * spec.group_bytes(spec.bits));
    }
  }
}

void tq_dequantize_row_fractional(const void* src, int64_t n, const TqWeightSpec& spec,
                                  const TqGroupMap& map, float* dst) {
  check_map(spec, map, n);
  const int G = spec.group;
  const auto* in = static_cast<const uint8_t*>(src);
  const int64_t n_wide = map.n_wide();
  for (int64_t j = 0; j < n / G; ++j) {
    const int64_t g = map.slot_group[j];
    if (j < n_wide) {
      tq_dequantize_group(in + j * spec.group_bytes(spec.bits_hi), spec.bits_hi, G, dst + g * G);
    } else {
      tq_dequantize_group(in + n_wide * spec.group_bytes(spec.bits_hi) +
                              (j - n_wide) * spec.group_bytes(spec.bits),
                          spec.bits, G, dst + g * G);
    }
  }
}

}  // namespace tq

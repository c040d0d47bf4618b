#include "quantize/allocate.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tq {

Result<AllocResult> allocate_bits(const std::vector<AllocItem>& items, int64_t budget_bits,
                                  int64_t unit_bits) {
  if (unit_bits <= 0) return invalid_argument("allocation unit must be positive");
  const int64_t cap = budget_bits / unit_bits;
  if (cap < 0) return invalid_argument("negative bit budget");
  if (cap > (int64_t{1} << 26))
    return invalid_argument("budget of {} units is too fine for the allocator (raise the unit)", cap);
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> dp(static_cast<size_t>(cap + 1), kInf), next(dp.size());
  dp[0] = 0;
  // arg[i][c]: option of item i in the best solution using exactly c units after item i.
  std::vector<std::vector<int16_t>> arg(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& opts = items[i].options;
    if (opts.empty()) return invalid_argument("tensor '{}' has no width to choose", items[i].name);
    std::fill(next.begin(), next.end(), kInf);
    arg[i].assign(dp.size(), -1);
    for (size_t k = 0; k < opts.size(); ++k) {
      const int64_t size = (opts[k].bits + unit_bits - 1) / unit_bits;
      if (size > cap) continue;
      const double c = opts[k].cost;
      for (int64_t u = cap; u >= size; --u) {
        const double v = dp[u - size] + c;
        if (v < next[u]) {
          next[u] = v;
          arg[i][u] = static_cast<int16_t>(k);
        }
      }
    }
    dp.swap(next);
  }
  int64_t best_u = -1;
  for (int64_t u = 0; u <= cap; ++u)
    if (dp[u] < kInf && (best_u < 0 || dp[u] < dp[best_u])) best_u = u;
  if (best_u < 0) {
    int64_t min_bits = 0;
    for (const auto& it : items) {
      int64_t m = std::numeric_limits<int64_t>::max();
      for (const auto& o : it.options) m = std::min(m, o.bits);
      min_bits += m;
    }
    return invalid_argument(
        "a budget of {} bits does not fit the model: the smallest widths need {} bits",
        budget_bits, min_bits);
  }
  AllocResult r;
  r.choice.assign(items.size(), 0);
  r.cost = dp[best_u];
  int64_t u = best_u;
  for (size_t i = items.size(); i-- > 0;) {
    const int k = arg[i][u];
    r.choice[i] = k;
    r.bits += items[i].options[k].bits;
    u -= (items[i].options[k].bits + unit_bits - 1) / unit_bits;
  }
  return r;
}

}  // namespace tq

// The knapsack allocator is exact: it matches exhaustive search on small random instances.
#include <gtest/gtest.h>

#include <cmath>

#include "../common/test_seed.h"
#include "core/rng.h"
#include "quantize/allocate.h"

namespace tq {
namespace {

TEST(Allocate, MatchesBruteForce) {
  Rng rng(testing::test_seed("allocate"));
  for (int trial = 0; trial < 300; ++trial) {
    const int n_items = 1 + static_cast<int>(rng.below(5));
    std::vector<AllocItem> items(static_cast<size_t>(n_items));
    int64_t min_total = 0, max_total = 0;
    for (auto& it : items) {
      const int n_opt = 1 + static_cast<int>(rng.below(4));
      int64_t lo = INT64_MAX, hi = 0;
      for (int k = 0; k < n_opt; ++k) {
        AllocOption o{static_cast<int64_t>(1 + rng.below(12)) * 10, rng.uniform()};
        lo = std::min(lo, o.bits);
        hi = std::max(hi, o.bits);
        it.options.push_back(o);
      }
      min_total += lo;
      max_total += hi;
    }
    const int64_t unit = 10;
    const int64_t budget = min_total + static_cast<int64_t>(rng.below(max_total - min_total + 20));
    // Exhaustive search.
    double best = INFINITY;
    std::vector<int> idx(static_cast<size_t>(n_items), 0);
    for (;;) {
      int64_t bits = 0;
      double cost = 0;
      for (int i = 0; i < n_items; ++i) {
        bits += items[i].options[idx[i]].bits;
        cost += items[i].options[idx[i]].cost;
      }
      if (bits <= budget) best = std::min(best, cost);
      int i = 0;
      while (i < n_items && ++idx[i] == static_cast<int>(items[i].options.size())) idx[i++] = 0;
      if (i == n_items) break;
    }
    auto r = allocate_bits(items, budget, unit);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_NEAR(r->cost, best, 1e-12) << "trial " << trial;
    EXPECT_LE(r->bits, budget);
    double cost = 0;
    for (int i = 0; i < n_items; ++i) cost += items[i].options[r->choice[i]].cost;
    EXPECT_NEAR(cost, r->cost, 1e-12);
  }
}

TEST(Allocate, TooSmallBudgetIsAnError) {
  std::vector<AllocItem> items = {{"a", {{100, 1.0}, {200, 0.5}}}, {"b", {{300, 1.0}}}};
  auto r = allocate_bits(items, 350, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("need 400 bits"), std::string::npos)
      << r.status().message();
  auto ok = allocate_bits(items, 500, 10);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->choice[0], 1);
  EXPECT_EQ(ok->bits, 500);
}

}  // namespace
}  // namespace tq

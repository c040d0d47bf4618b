#include "math/stats.h"

#include <gtest/gtest.h>

#include <vector>

namespace tq {
namespace {

TEST(Stats, RunningStatsMatchesDirectFormulas) {
  const std::vector<double> x = {1.5, -2.0, 3.25, 0.0, 7.0, 1.0};
  RunningStats s;
  double sum = 0.0;
  for (double v : x) s.add(v), sum += v;
  const double mean = sum / x.size();
  double ss = 0.0;
  for (double v : x) ss += (v - mean) * (v - mean);
  EXPECT_EQ(s.count(), 6);
  EXPECT_NEAR(s.mean(), mean, 1e-15);
  EXPECT_NEAR(s.variance(), ss / 5.0, 1e-13);
  EXPECT_NEAR(s.std_error(), std::sqrt(ss / 5.0 / 6.0), 1e-13);
  EXPECT_EQ(s.min(), -2.0);
  EXPECT_EQ(s.max(), 7.0);
}

TEST(Stats, ErrorMeasures) {
  const float a[] = {1, 2, 3}, b[] = {1, 4, 0};
  EXPECT_DOUBLE_EQ(squared_error(a, b, 3), 13.0);
  EXPECT_DOUBLE_EQ(mse(a, b, 3), 13.0 / 3.0);
  EXPECT_DOUBLE_EQ(max_abs_error(a, b, 3), 3.0);
  EXPECT_DOUBLE_EQ(dot_f64(a, b, 3), 9.0);
  EXPECT_DOUBLE_EQ(relative_squared_error(a, b, 3), 13.0 / 17.0);
  EXPECT_EQ(mse(a, b, 0), 0.0);
}

}  // namespace
}  // namespace tq

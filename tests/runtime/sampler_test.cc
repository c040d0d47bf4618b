#include "runtime/sampler.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tq {
namespace {

TEST(Sampler, GreedyIsArgmaxLowestIdOnTies) {
  std::vector<float> l = {0.1f, 3.0f, -2.0f, 3.0f};
  EXPECT_EQ(argmax(l), 1);
  Sampler s({0.0f, 40, 0.95f, 1});
  EXPECT_EQ(s.sample(l), 1);
}

TEST(Sampler, TopKOneIsGreedyAtAnyTemperature) {
  std::vector<float> l = {0.1f, 0.3f, 0.2f};
  Sampler s({5.0f, 1, 1.0f, 7});
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s.sample(l), 1);
}

TEST(Sampler, FrequenciesFollowTheTemperedDistribution) {
  // p = (0.5, 0.3, 0.2) at temperature 1; at temperature 2, p ∝ sqrt(p).
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  for (float temp : {1.0f, 2.0f}) {
    Sampler s({temp, 0, 1.0f, 12345});
    const int n = 40000;
    int count[3] = {0, 0, 0};
    for (int i = 0; i < n; ++i) count[s.sample(l)]++;
    double z = 0, p[3];
    for (int i = 0; i < 3; ++i) z += p[i] = std::pow(std::exp(l[i]), 1.0 / temp);
    for (int i = 0; i < 3; ++i) {
      p[i] /= z;
      const double sd = std::sqrt(p[i] * (1 - p[i]) / n);
      EXPECT_NEAR(count[i] / static_cast<double>(n), p[i], 4 * sd)
          << "temp " << temp << " token " << i;
    }
  }
}

TEST(Sampler, TopPKeepsTheSmallestNucleus) {
  // Cumulative 0.5, 0.8, 1.0: top_p 0.6 keeps tokens 0 and 1 only, renormalized to 5/8, 3/8.
  std::vector<float> l = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  Sampler s({1.0f, 0, 0.6f, 99});
  int count[3] = {0, 0, 0};
  const int n = 20000;
  for (int i = 0; i < n; ++i) count[s.sample(l)]++;
  EXPECT_EQ(count[2], 0);
  EXPECT_NEAR(count[0] / static_cast<double>(n), 0.625, 4 * std::sqrt(0.625 * 0.375 / n));
}

TEST(Sampler, SameSeedSameSequence) {
  std::vector<float> l(100);
  for (int i = 0; i < 100; ++i) l[i] = std::sin(i * 0.7f);
  Sampler a({0.9f, 50, 0.9f, 42}), b({0.9f, 50, 0.9f, 42}), c({0.9f, 50, 0.9f, 43});
  std::vector<int32_t> sa, sb, sc;
  for (int i = 0; i < 50; ++i) {
    sa.push_back(a.sample(l));
    sb.push_back(b.sample(l));
    sc.push_back(c.sample(l));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

}  // namespace
}  // namespace tq

#include "math/qjl.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "../common/simd_targets.h"
#include "../common/test_seed.h"
#include "core/rng.h"
#include "math/stats.h"

namespace tq {
namespace {

using testing::for_each_simd_target;
using testing::test_seed;

TEST(Qjl, MeanAbsCoordinateClosedForms) {
  EXPECT_NEAR(sphere_mean_abs_coordinate(1), 1.0, 1e-14);
  EXPECT_NEAR(sphere_mean_abs_coordinate(2), 2.0 / std::numbers::pi, 1e-14);
  EXPECT_NEAR(sphere_mean_abs_coordinate(3), 0.5, 1e-14);
  EXPECT_NEAR(sphere_mean_abs_coordinate(1 << 20) * std::sqrt(double(1 << 20)), std::sqrt(2.0 / std::numbers::pi), 1e-6);
}

// For fixed r and q, over fresh sketch seeds: the estimator ‖r‖·scale·⟨Pq, sign(Pr)⟩ of ⟨q, r⟩ has
// mean error within 4 standard errors of 0 and variance ≤ 1.1·(π/2d)·‖r‖²‖q‖².
void check_estimator(QjlKind kind, int64_t d, int trials, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> r(d), q(d), pr(d), pq(d);
  std::vector<uint8_t> signs((d + 7) / 8);
  for (auto& v : r) v = static_cast<float>(rng.normal());
  for (int64_t i = 0; i < d; ++i) q[i] = 0.8f * r[i] + 0.6f * static_cast<float>(rng.normal());  // correlated
  const double truth = dot_f64(q.data(), r.data(), d);
  const double rn = std::sqrt(squared_norm_f64(r.data(), d)), qn2 = squared_norm_f64(q.data(), d);
  const double bound = std::numbers::pi / (2.0 * d) * rn * rn * qn2;
  RunningStats err;
  for (int t = 0; t < trials; ++t) {
    auto s = QjlSketch::create(d, rng.next_u64(), kind);
    ASSERT_TRUE(s.ok());
    s->project(r.data(), pr.data());
    s->signs_of(pr.data(), signs.data());
    s->project(q.data(), pq.data());
    err.add(rn * s->scale() * s->dot_signs(pq.data(), signs.data()) - truth);
  }
  EXPECT_LT(std::abs(err.mean()), 4 * err.std_error()) << qjl_kind_name(kind) << " d=" << d << " truth=" << truth;
  EXPECT_LT(err.variance(), 1.1 * bound) << qjl_kind_name(kind) << " d=" << d;
  // Gaussian rows: the variance is exactly ((π/2)‖r‖²‖q‖² − ⟨r,q⟩²)/d. Orthogonal (structured)
  // rows are negatively correlated and must not do worse.
  const double gaussian_var = (std::numbers::pi / 2 * rn * rn * qn2 - truth * truth) / d;
  if (kind == QjlKind::kGaussian) EXPECT_NEAR(err.variance() / gaussian_var, 1.0, 0.15) << "d=" << d;
  else EXPECT_LT(err.variance(), 1.05 * gaussian_var) << "d=" << d;
}

TEST(Qjl, StructuredEstimatorIsUnbiasedWithBoundedVariance) {
  const uint64_t seed = test_seed("qjl structured");
  check_estimator(QjlKind::kStructured, 128, 4000, seed);
  check_estimator(QjlKind::kStructured, 96, 4000, seed + 1);
}

TEST(Qjl, GaussianEstimatorIsUnbiasedWithBoundedVariance) {
  check_estimator(QjlKind::kGaussian, 64, 3000, test_seed("qjl gaussian"));
}

TEST(Qjl, TransposeIsTheAdjoint) {
  Rng rng(test_seed("qjl adjoint"));
  for (QjlKind kind : {QjlKind::kStructured, QjlKind::kGaussian})
    for (int64_t d : {7, 64, 100}) {
      auto s = QjlSketch::create(d, rng.next_u64(), kind);
      std::vector<float> v(d), pv(d), ptz(d);
      std::vector<uint8_t> z(s->sign_bytes());
      for (auto& x : v) x = static_cast<float>(rng.normal());
      for (auto& b : z) b = static_cast<uint8_t>(rng.next_u64());
      s->project(v.data(), pv.data());
      s->project_transpose_signs(z.data(), ptz.data());
      // ⟨Pv, z⟩ = ⟨v, Pᵀz⟩
      EXPECT_NEAR(s->dot_signs(pv.data(), z.data()), dot_f64(v.data(), ptz.data(), d),
                  1e-4 * std::sqrt(squared_norm_f64(v.data(), d) * d) * (kind == QjlKind::kGaussian ? std::sqrt(d) : 1.0));
      std::vector<float> ref_out(d);
      s->project_transpose_signs_ref(z.data(), ref_out.data());
      EXPECT_LT(max_abs_error(ref_out.data(), ptz.data(), d), 1e-4);
    }
}

TEST(Qjl, SignedSumSimdMatchesReferenceOnEveryTarget) {
  Rng rng(test_seed("signed sum"));
  for_each_simd_target([&](const char*) {
    for (int64_t n : {1, 7, 8, 15, 16, 33, 100, 128, 1536}) {
      std::vector<float> x(n);
      std::vector<uint8_t> s((n + 7) / 8);
      double abs_sum = 0.0;
      for (auto& v : x) {
        v = static_cast<float>(rng.normal());
        abs_sum += std::abs(v);
      }
      for (auto& b : s) b = static_cast<uint8_t>(rng.next_u64());
      EXPECT_NEAR(signed_sum(x.data(), s.data(), n), ref::signed_sum(x.data(), s.data(), n), 1e-6 * abs_sum + 1e-6)
          << "n=" << n;
    }
  });
}

TEST(Qjl, SignsAreDeterministicAndZeroIsPositive) {
  auto a = QjlSketch::create(64, 5), b = QjlSketch::create(64, 5);
  std::vector<float> v(64, 0.0f), pv(64);
  std::vector<uint8_t> sa(8), sb(8);
  a->project(v.data(), pv.data());
  a->signs_of(pv.data(), sa.data());
  for (uint8_t byte : sa) EXPECT_EQ(byte, 0xFF);
  Rng rng(1);
  for (auto& x : v) x = static_cast<float>(rng.normal());
  a->project(v.data(), pv.data());
  a->signs_of(pv.data(), sa.data());
  b->project(v.data(), pv.data());
  b->signs_of(pv.data(), sb.data());
  EXPECT_EQ(sa, sb);
  EXPECT_FALSE(QjlSketch::create(0, 1).ok());
}

}  // namespace
}  // namespace tq

#include "math/lloyd_max.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <thread>
#include <vector>

#include "../common/test_seed.h"
#include "core/rng.h"
#include "math/qjl.h"
#include "math/stats.h"

namespace tq {
namespace {

using testing::test_seed;

// Gaussian Lloyd–Max codebooks from tools/lloyd_max_reference.py (40-digit Lloyd iteration with
// closed-form moments: a different method from the solver under test). Positive centroids only.
struct GaussianReference {
  int bits;
  double distortion;
  std::vector<double> positive_centroids;
};
const GaussianReference kGaussian[] = {
    {1, 0.36338022763241866, {0.79788456080286536}},
    {2, 0.11748184782932929, {0.45278003463649201, 1.5104176084990954}},
    {3, 0.03454776078850373, {0.24509417894422167, 0.75600528120587727, 1.3439092785049999, 2.1519457045369873}},
    {4, 0.0095010080081918861,
     {0.12839502985114701, 0.3880482994902902, 0.65675911853246338, 0.94234045648696137, 1.2562311973471772,
      1.6180463860218826, 2.0690172265313866, 2.7325895709951631}},
};

TEST(LloydMax, GaussianMatchesHighPrecisionReference) {
  for (const auto& ref : kGaussian) {
    auto cb = solve_gaussian_codebook(ref.bits);
    ASSERT_TRUE(cb.ok());
    EXPECT_NEAR(cb->distortion, ref.distortion, 1e-12 * ref.distortion) << "bits=" << ref.bits;
    const int half = cb->levels() / 2;
    for (int i = 0; i < half; ++i) {
      EXPECT_NEAR(cb->centroids[half + i], ref.positive_centroids[i], 1e-11) << "bits=" << ref.bits << " i=" << i;
      EXPECT_NEAR(cb->centroids[half - 1 - i], -ref.positive_centroids[i], 1e-11);  // symmetric
    }
    EXPECT_NEAR(cb->second_moment, 1.0, 1e-13);
    EXPECT_NEAR(gaussian_distortion(*cb), cb->distortion, 1e-15);
  }
}

TEST(LloydMax, SphereOneBitMatchesClosedForm) {
  // For b = 1 the centroids are ±E|T|, so the unit-vector MSE is 1 − d·(E|T|)².
  for (int64_t d : {2, 3, 5, 64, 128, 1024, 1536, 65536}) {
    auto cb = solve_sphere_codebook(d, 1);
    ASSERT_TRUE(cb.ok());
    const double m = sphere_mean_abs_coordinate(d);
    EXPECT_NEAR(cb->centroids[1], m, 1e-13) << "d=" << d;
    EXPECT_NEAR(cb->unit_vector_mse(), 1.0 - d * m * m, 1e-12) << "d=" << d;
    EXPECT_NEAR(cb->second_moment * d, 1.0, 1e-12) << "d=" << d;
  }
}

TEST(LloydMax, SphereInThreeDimensionsIsTheUniformQuantizer) {
  // d = 3: the coordinate is uniform on [−1, 1] (Archimedes), so Lloyd–Max is the uniform quantizer.
  for (int bits = 1; bits <= 8; ++bits) {
    auto cb = solve_sphere_codebook(3, bits);
    ASSERT_TRUE(cb.ok());
    const int k = cb->levels();
    for (int i = 0; i < k; ++i) EXPECT_NEAR(cb->centroids[i], -1.0 + (2.0 * i + 1.0) / k, 1e-12) << bits;
    EXPECT_NEAR(cb->distortion, (4.0 / (k * k)) / 12.0, 1e-14) << bits;
  }
}

TEST(LloydMax, SphereApproachesTheScaledGaussian) {
  for (const auto& ref : kGaussian) {
    auto cb = solve_sphere_codebook(1 << 20, ref.bits);
    ASSERT_TRUE(cb.ok());
    EXPECT_NEAR(cb->unit_vector_mse(), ref.distortion, 2e-6) << ref.bits;
  }
}

TEST(LloydMax, IsAFixedPointAndDistortionMatchesMonteCarlo) {
  // Independent check of the "theory": sample coordinates of random unit vectors, quantize with the
  // codebook, and compare the empirical distortion and the per-cell means with the solver's.
  const uint64_t seed = test_seed("lloyd-max monte carlo");
  Rng rng(seed);
  // One coordinate per vector: coordinates of the same unit vector are dependent (their squares
  // sum to 1), which would make the iid standard errors below too small.
  const int64_t d = 16;
  const int64_t n_vectors = 400000;
  std::vector<double> coords;
  coords.reserve(n_vectors);
  std::vector<double> v(d);
  for (int64_t i = 0; i < n_vectors; ++i) {
    double norm = 0.0;
    for (auto& x : v) {
      x = rng.normal();
      norm += x * x;
    }
    coords.push_back(v[i % d] / std::sqrt(norm));
  }
  for (int bits = 1; bits <= 4; ++bits) {
    auto cb = solve_sphere_codebook(d, bits);
    ASSERT_TRUE(cb.ok());
    std::vector<RunningStats> cell(cb->levels());
    RunningStats err;
    for (double t : coords) {
      const int i = cb->quantize(t);
      cell[i].add(t);
      err.add((t - cb->centroids[i]) * (t - cb->centroids[i]));
    }
    EXPECT_NEAR(err.mean(), cb->distortion, 4.5 * err.std_error()) << "bits=" << bits;
    for (int i = 0; i < cb->levels(); ++i)
      EXPECT_NEAR(cell[i].mean(), cb->centroids[i], 4.5 * cell[i].std_error() + 1e-12) << "bits=" << bits << " cell " << i;
    for (int i = 0; i + 1 < cb->levels(); ++i)
      EXPECT_DOUBLE_EQ(cb->boundaries[i], 0.5 * (cb->centroids[i] + cb->centroids[i + 1]));
  }
}

TEST(LloydMax, DistortionFallsWithBitsAndRespectsTheBounds) {
  for (int64_t d : {2, 16, 64, 128, 1024, 1536}) {
    // The 4^−b lower bound is Shannon's for large d; on the circle (d = 2) b bits per coordinate
    // do better (1 bit: 4 points, MSE 1 − 8/π² = 0.189 < 1/4).
    const bool shannon_applies = d >= 16;
    double prev = 1.0;
    for (int bits = 1; bits <= 8; ++bits) {
      auto cb = sphere_codebook(d, bits);
      ASSERT_TRUE(cb.ok());
      const double mse = (*cb)->unit_vector_mse();
      EXPECT_LT(mse, prev) << "d=" << d << " bits=" << bits;
      // Shannon lower bound 4^−b and the paper's upper bound (√3·π/2)·4^−b (Theorem 1).
      if (shannon_applies) {
        EXPECT_GT(mse, std::pow(4.0, -bits)) << "d=" << d << " bits=" << bits;
      }
      EXPECT_LT(mse, std::sqrt(3.0) * std::numbers::pi / 2 * std::pow(4.0, -bits)) << "d=" << d << " bits=" << bits;
      for (int i = 0; i + 1 < (*cb)->levels(); ++i) ASSERT_LT((*cb)->centroids[i], (*cb)->centroids[i + 1]);
      prev = mse;
    }
  }
}

TEST(LloydMax, EmpiricalSampleOfAGaussianApproachesTheGaussianCodebook) {
  Rng rng(test_seed("empirical codebook"));
  std::vector<float> sample(200000);
  for (auto& v : sample) v = static_cast<float>(rng.normal());
  for (int bits = 1; bits <= 4; ++bits) {
    auto emp = solve_empirical_codebook(sample, bits);
    ASSERT_TRUE(emp.ok()) << emp.status().to_string();
    auto ref = solve_gaussian_codebook(bits);
    EXPECT_NEAR(emp->distortion / ref->distortion, 1.0, 0.03) << bits;
    // The distortion is flat along a common shift of the centroids, so sampling noise moves them by
    // a few hundredths; what must hold is that they are near-optimal for the true density.
    EXPECT_LT(gaussian_distortion(*emp) / ref->distortion, 1.01) << bits;
    for (int i = 0; i < ref->levels(); ++i) EXPECT_NEAR(emp->centroids[i], ref->centroids[i], 0.1) << bits << " " << i;
    // Deterministic.
    auto again = solve_empirical_codebook(sample, bits);
    EXPECT_EQ(again->centroids, emp->centroids);
  }
}

TEST(LloydMax, EmpiricalWithExactlyAsManyValuesAsLevelsIsLossless) {
  std::vector<float> sample = {3, 1, 2, 0, 3, 3, 1};
  auto cb = solve_empirical_codebook(sample, 2);
  ASSERT_TRUE(cb.ok());
  EXPECT_EQ(cb->centroids, (std::vector<double>{0, 1, 2, 3}));
  EXPECT_EQ(cb->distortion, 0.0);
}

TEST(LloydMax, RejectsBadArguments) {
  EXPECT_FALSE(solve_gaussian_codebook(0).ok());
  EXPECT_FALSE(solve_gaussian_codebook(9).ok());
  EXPECT_FALSE(solve_sphere_codebook(1, 2).ok());
  EXPECT_FALSE(solve_sphere_codebook(0, 2).ok());
  EXPECT_FALSE(sphere_codebook(128, 0).ok());
  std::vector<float> few = {1, 2, 3};
  auto r = solve_empirical_codebook(few, 2);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("distinct"), std::string::npos) << r.status().message();
  std::vector<float> bad = {1, 2, NAN, 4, 5};
  EXPECT_FALSE(solve_empirical_codebook(bad, 1).ok());
}

TEST(LloydMax, CachedAccessorIsSharedAndThreadSafe) {
  std::vector<const Codebook*> seen(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] { seen[t] = sphere_codebook(200 + (t % 2), 5).value(); });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(seen[t], seen[t % 2]);
  EXPECT_NE(seen[0], seen[1]);
  EXPECT_EQ(seen[0]->dim, 200);
  EXPECT_EQ(seen[1]->dim, 201);
  EXPECT_EQ(sphere_codebook(200, 5).value(), seen[0]);
}

TEST(LloydMax, ScaledCodebook) {
  auto cb = solve_gaussian_codebook(3);
  const Codebook s = cb->scaled(0.5);
  EXPECT_DOUBLE_EQ(s.centroids[7], 0.5 * cb->centroids[7]);
  EXPECT_DOUBLE_EQ(s.distortion, 0.25 * cb->distortion);
  EXPECT_EQ(s.quantize(0.5 * 1.0), cb->quantize(1.0));
}

}  // namespace
}  // namespace tq

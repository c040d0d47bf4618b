#include "math/rotation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "../common/simd_targets.h"
#include "../common/test_seed.h"
#include "core/rng.h"
#include "math/stats.h"

namespace tq {
namespace {

using testing::for_each_simd_target;
using testing::test_seed;

std::vector<float> gaussian(int64_t n, Rng& rng) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal());
  return v;
}

// Dimensions covering both forms: powers of two, awkward sizes, head dims, embedding sizes.
const int64_t kDims[] = {1, 2, 3, 7, 32, 33, 64, 96, 100, 128, 576, 997, 1000, 1024, 1536};

TEST(Fwht, SimdIsBitwiseEqualToScalarOnEveryTarget) {
  Rng rng(test_seed("fwht simd"));
  for_each_simd_target([&](const char*) {
    for (int64_t p = 1; p <= 4096; p *= 2) {
      const std::vector<float> x = gaussian(p, rng);
      std::vector<float> s(p);
      for (auto& v : s) v = rng.sign() / std::sqrt(static_cast<float>(p));
      std::vector<float> a = x, b = x;
      sign_fwht(a.data(), s.data(), p);
      ref::sign_fwht(b.data(), s.data(), p);
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), p * sizeof(float))) << "sign_fwht p=" << p;
      a = x, b = x;
      fwht_sign(a.data(), s.data(), p);
      ref::fwht_sign(b.data(), s.data(), p);
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), p * sizeof(float))) << "fwht_sign p=" << p;
    }
  });
}

TEST(Fwht, NormalizedTransformIsAnInvolutionAndMatchesTheMatrix) {
  Rng rng(test_seed("fwht normalized"));
  for (int64_t p : {1, 2, 8, 16, 64, 512}) {
    const std::vector<float> x = gaussian(p, rng);
    std::vector<float> y = x;
    fwht_normalized(y.data(), p);
    // Entry (i, j) of H_p is (−1)^popcount(i & j) / sqrt(p).
    for (int64_t i = 0; i < p; ++i) {
      double expect = 0.0;
      for (int64_t j = 0; j < p; ++j) expect += (__builtin_popcountll(i & j) % 2 ? -1.0 : 1.0) * x[j];
      expect /= std::sqrt(static_cast<double>(p));
      EXPECT_NEAR(y[i], expect, 1e-4) << "p=" << p << " i=" << i;
    }
    fwht_normalized(y.data(), p);
    EXPECT_LT(max_abs_error(y.data(), x.data(), p), 1e-5) << "p=" << p;
  }
}

TEST(HadamardRotation, PreservesNormsAndInnerProducts) {
  Rng rng(test_seed("rotation orthogonal"));
  for (int64_t d : kDims)
    for (int rounds : {0, 1, 2, 3}) {
      auto rot = HadamardRotation::create(d, rng.next_u64(), rounds);
      ASSERT_TRUE(rot.ok()) << rot.status().to_string();
      for (int rep = 0; rep < 5; ++rep) {
        const std::vector<float> x = gaussian(d, rng), z = gaussian(d, rng);
        std::vector<float> y(d), w(d);
        rot->forward(x.data(), y.data());
        rot->forward(z.data(), w.data());
        const double nx = squared_norm_f64(x.data(), d);
        EXPECT_NEAR(std::sqrt(squared_norm_f64(y.data(), d) / nx), 1.0, 1e-5) << "d=" << d << " rounds=" << rounds;
        EXPECT_NEAR(dot_f64(y.data(), w.data(), d), dot_f64(x.data(), z.data(), d),
                    1e-5 * std::sqrt(nx * squared_norm_f64(z.data(), d)))
            << "d=" << d;
      }
    }
}

TEST(HadamardRotation, InverseUndoesForward) {
  Rng rng(test_seed("rotation inverse"));
  for (int64_t d : kDims) {
    auto rot = HadamardRotation::create(d, rng.next_u64());
    ASSERT_TRUE(rot.ok());
    const std::vector<float> x = gaussian(d, rng);
    std::vector<float> y(d), back(d);
    rot->forward(x.data(), y.data());
    rot->inverse(y.data(), back.data());
    const double scale = std::sqrt(squared_norm_f64(x.data(), d));
    EXPECT_LT(max_abs_error(back.data(), x.data(), d), 1e-6 * scale + 1e-7) << "d=" << d;
    // In place both ways.
    std::vector<float> v = x;
    rot->forward(v.data(), v.data());
    EXPECT_EQ(0, std::memcmp(v.data(), y.data(), d * sizeof(float))) << "in-place forward, d=" << d;
    rot->inverse(v.data(), v.data());
    EXPECT_EQ(0, std::memcmp(v.data(), back.data(), d * sizeof(float))) << "in-place inverse, d=" << d;
  }
}

TEST(HadamardRotation, MatrixIsOrthogonal) {
  for (int64_t d : {5, 12, 24, 64, 96}) {
    auto rot = HadamardRotation::create(d, 99);
    ASSERT_TRUE(rot.ok());
    std::vector<float> m(d * d), e(d);  // column j = Π e_j
    for (int64_t j = 0; j < d; ++j) {
      std::fill(e.begin(), e.end(), 0.0f);
      e[j] = 1.0f;
      rot->forward(e.data(), m.data() + j * d);
    }
    for (int64_t a = 0; a < d; ++a)
      for (int64_t b = 0; b < d; ++b)
        EXPECT_NEAR(dot_f64(m.data() + a * d, m.data() + b * d, d), a == b ? 1.0 : 0.0, 1e-6)
            << "d=" << d << " columns " << a << "," << b;
  }
}

TEST(HadamardRotation, DeterministicPerSeed) {
  const uint64_t seed = test_seed("rotation determinism");
  Rng rng(seed);
  for (int64_t d : {64, 1536}) {
    const std::vector<float> x = gaussian(d, rng);
    auto a = HadamardRotation::create(d, seed), b = HadamardRotation::create(d, seed),
         c = HadamardRotation::create(d, seed + 1);
    std::vector<float> ya(d), yb(d), yc(d);
    a->forward(x.data(), ya.data());
    b->forward(x.data(), yb.data());
    c->forward(x.data(), yc.data());
    EXPECT_EQ(0, std::memcmp(ya.data(), yb.data(), d * sizeof(float))) << "same seed, d=" << d;
    EXPECT_GT(max_abs_error(ya.data(), yc.data(), d), 1e-3) << "different seeds must differ, d=" << d;
  }
}

TEST(HadamardRotation, FormsAndDefaultRounds) {
  EXPECT_EQ(HadamardRotation::create(128, 0)->form(), RotationForm::kHadamard);
  EXPECT_EQ(HadamardRotation::create(128, 0)->rounds(), 3);
  EXPECT_EQ(HadamardRotation::create(1536, 0)->form(), RotationForm::kWindows);
  EXPECT_EQ(HadamardRotation::create(1536, 0)->block(), 1024);
  EXPECT_EQ(HadamardRotation::create(1536, 0)->rounds(), 2);
  EXPECT_EQ(HadamardRotation::create(1536, 0, 4)->rounds(), 4);
}

TEST(HadamardRotation, SimdIsBitwiseEqualToReferenceOnEveryTarget) {
  Rng rng(test_seed("rotation simd"));
  for_each_simd_target([&](const char*) {
    for (int64_t d : kDims) {
      auto rot = HadamardRotation::create(d, rng.next_u64());
      const std::vector<float> x = gaussian(d, rng);
      std::vector<float> a(d), b(d);
      rot->forward(x.data(), a.data());
      rot->forward_ref(x.data(), b.data());
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), d * sizeof(float))) << "forward d=" << d;
      rot->inverse(x.data(), a.data());
      rot->inverse_ref(x.data(), b.data());
      EXPECT_EQ(0, std::memcmp(a.data(), b.data(), d * sizeof(float))) << "inverse d=" << d;
    }
  });
}

TEST(HadamardRotation, BatchEqualsPerVector) {
  Rng rng(test_seed("rotation batch"));
  for (int64_t d : {33, 128, 1536}) {
    auto rot = HadamardRotation::create(d, rng.next_u64());
    const int64_t n = 37;
    const std::vector<float> x = gaussian(n * d, rng);
    std::vector<float> y(n * d), one(d), back(n * d);
    rot->forward_batch(n, x.data(), y.data());
    for (int64_t i = 0; i < n; ++i) {
      rot->forward(x.data() + i * d, one.data());
      EXPECT_EQ(0, std::memcmp(one.data(), y.data() + i * d, d * sizeof(float))) << "row " << i;
    }
    rot->inverse_batch(n, y.data(), back.data());
    EXPECT_LT(max_abs_error(back.data(), x.data(), n * d), 1e-4);
  }
}

TEST(HadamardRotation, RejectsBadArguments) {
  EXPECT_FALSE(HadamardRotation::create(0, 1).ok());
  EXPECT_FALSE(HadamardRotation::create(-5, 1).ok());
  EXPECT_FALSE(HadamardRotation::create(64, 1, 5).ok());
  EXPECT_FALSE(HadamardRotation::create(64, 1, -1).ok());
  EXPECT_NE(HadamardRotation::create(0, 1).status().message().find("dimension"), std::string::npos);
}

TEST(HaarOrthogonal, IsOrthogonalAndMatvecMatchesReference) {
  Rng rng(test_seed("haar"));
  for (int64_t m : {1, 3, 17, 64}) {
    const std::vector<double> q = haar_orthogonal(m, rng.next_u64());
    for (int64_t a = 0; a < m; ++a)
      for (int64_t b = 0; b < m; ++b) {
        double dot = 0.0;
        for (int64_t i = 0; i < m; ++i) dot += q[a * m + i] * q[b * m + i];
        EXPECT_NEAR(dot, a == b ? 1.0 : 0.0, 1e-12);
      }
    std::vector<float> qf(q.begin(), q.end());
    const std::vector<float> x = gaussian(m, rng);
    std::vector<float> y(m), yr(m);
    for_each_simd_target([&](const char*) {
      matvec(qf.data(), x.data(), m, m, y.data());
      ref::matvec(qf.data(), x.data(), m, m, yr.data());
      EXPECT_LT(max_abs_error(y.data(), yr.data(), m), 1e-5);
    });
  }
}

}  // namespace
}  // namespace tq

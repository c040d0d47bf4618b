// Issue 2 "It must show": TurboQuant_mse distortion against the theory, TurboQuant_prod unbiased
// with bounded variance, and the query-side scores consistent with decoding.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <vector>

#include "../common/test_seed.h"
#include "core/rng.h"
#include "math/lloyd_max.h"
#include "math/stats.h"
#include "tq/codec.h"
#include "../common/test_result.h"

namespace tq {
namespace {

using testing::test_seed;

std::vector<float> random_unit_vectors(int64_t n, int64_t d, Rng& rng) {
  std::vector<float> x(n * d);
  for (int64_t i = 0; i < n; ++i) {
    double norm = 0.0;
    for (int64_t j = 0; j < d; ++j) {
      x[i * d + j] = static_cast<float>(rng.normal());
      norm += static_cast<double>(x[i * d + j]) * x[i * d + j];
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(norm));
    for (int64_t j = 0; j < d; ++j) x[i * d + j] *= inv;
  }
  return x;
}

VectorCodec make(int64_t d, int bits, CodecKind kind, uint64_t seed) {
  CodecConfig c;
  c.dim = d;
  c.bits = bits;
  c.kind = kind;
  c.seed = seed;
  auto r = VectorCodec::create(c);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return std::move(r).value();
}

// Statistics of ‖u − û‖² over n unit vectors.
RunningStats unit_errors(const VectorCodec& c, const std::vector<float>& u, int64_t n) {
  const int64_t d = c.dim();
  auto enc = c.encode(n, u);
  testing::ok_or_throw(enc.status());
  std::vector<float> back(n * d);
  EXPECT_TRUE(c.decode(enc->view(), back).ok());
  RunningStats s;
  for (int64_t i = 0; i < n; ++i) s.add(squared_error(back.data() + i * d, u.data() + i * d, d));
  return s;
}

double measured_unit_mse(const VectorCodec& c, const std::vector<float>& u, int64_t n) {
  return unit_errors(c, u, n).mean();
}

constexpr int64_t kVectors = 10000;
// The reference values (Gaussian Lloyd–Max, Max 1960); b = 4's exact value is 0.0095010.
constexpr double kPaperMse[] = {0.3634, 0.1175, 0.03454, 0.009497};

TEST(TurboQuantMse, UnitVectorMseMatchesTheory) {
  const uint64_t seed = test_seed("mse vs theory");
  Rng rng(seed);
  for (int64_t d : {128, 1024}) {
    const std::vector<float> u = random_unit_vectors(kVectors, d, rng);
    for (int bits = 1; bits <= 4; ++bits) {
      const VectorCodec c = make(d, bits, CodecKind::kMse, rng.next_u64());
      const double mse = measured_unit_mse(c, u, kVectors);
      const double theory = c.codebook()->unit_vector_mse();
      EXPECT_NEAR(mse / theory, 1.0, 0.03) << "d=" << d << " b=" << bits << " mse=" << mse << " theory=" << theory;
      EXPECT_NEAR(mse / kPaperMse[bits - 1], 1.0, 0.05) << "d=" << d << " b=" << bits << " mse=" << mse;
      std::printf("  d=%-5lld b=%d  measured %.6f  theory %.6f  paper %.6f\n", static_cast<long long>(d), bits, mse,
                  theory, kPaperMse[bits - 1]);
    }
  }
}

TEST(TurboQuantMse, MseFallsStrictlyWithBitsAndStaysAboveTheLowerBound) {
  Rng rng(test_seed("mse falls"));
  for (int64_t d : {128, 1024}) {
    const std::vector<float> u = random_unit_vectors(kVectors, d, rng);
    double prev = 1.0;
    for (int bits = 1; bits <= 8; ++bits) {
      const VectorCodec c = make(d, bits, CodecKind::kMse, rng.next_u64());
      const RunningStats e = unit_errors(c, u, kVectors);
      EXPECT_LT(e.mean(), prev) << "d=" << d << " b=" << bits;
      EXPECT_GT(e.mean(), std::pow(4.0, -bits)) << "d=" << d << " b=" << bits;
      // At 7–8 bits rare coordinates beyond the outermost centroid dominate the error's variance
      // (single vectors at 100x the mean), so compare in standard errors rather than percent. The
      // same tail skews the sample: most samples miss it, so their mean AND their standard error
      // come out low together (over 150 seeds at d = 128, b = 7–8: z down to −5.0, yet the mean
      // within 1.4% of theory; CI failed at z = −5.4, 1.3% low). A 2% floor covers that skew and
      // still catches any codebook, packing or rotation error, which moves the MSE far more.
      const double theory = c.codebook()->unit_vector_mse();
      EXPECT_NEAR(e.mean(), theory, std::max(5 * e.std_error(), 0.02 * theory)) << "d=" << d << " b=" << bits;
      prev = e.mean();
    }
  }
}

TEST(TurboQuantMse, NonPowerOfTwoDimensionsMatchTheory) {
  Rng rng(test_seed("mse non power of two"));
  for (int64_t d : {96, 576, 997, 1000, 1536}) {
    const std::vector<float> u = random_unit_vectors(4000, d, rng);
    for (int bits : {1, 2, 4}) {
      const VectorCodec c = make(d, bits, CodecKind::kMse, rng.next_u64());
      EXPECT_NEAR(measured_unit_mse(c, u, 4000) / c.codebook()->unit_vector_mse(), 1.0, 0.03)
          << "d=" << d << " b=" << bits;
    }
  }
}

TEST(TurboQuantMse, SparseInputsMatchTheoryAfterTheDefaultRotation) {
  // Random unit vectors cannot tell a good rotation from the identity; sparse ones can (a one-hot
  // input stays one-hot without a rotation: MSE 1 at b = 1). Averaged over 4 rotation seeds.
  Rng rng(test_seed("mse sparse"));
  for (int64_t d : {256, 1536}) {
    const int64_t n = d;
    std::vector<float> one_hot(n * d, 0.0f), four_hot(n * d, 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      one_hot[i * d + i] = 1.0f;
      for (int k = 0; k < 4; ++k) four_hot[i * d + (i + k * (d / 4 + 1)) % d] = 0.5f * rng.sign();
    }
    for (int bits : {2, 4}) {
      RunningStats ratio_one, ratio_four;
      for (int rep = 0; rep < 4; ++rep) {
        const VectorCodec c = make(d, bits, CodecKind::kMse, rng.next_u64());
        ratio_one.add(measured_unit_mse(c, one_hot, n) / c.codebook()->unit_vector_mse());
        ratio_four.add(measured_unit_mse(c, four_hot, n) / c.codebook()->unit_vector_mse());
      }
      EXPECT_NEAR(ratio_one.mean(), 1.0, 0.05) << "one-hot d=" << d << " b=" << bits;
      EXPECT_NEAR(ratio_four.mean(), 1.0, 0.05) << "4-hot d=" << d << " b=" << bits;
    }
  }
}

// ⟨q, x⟩ estimation over 10,000 (x, q) pairs, each with a fresh codec seed (the estimator's
// randomness), x and q random with ⟨q, x⟩ far from 0 so a multiplicative bias would show.
struct IpErrors {
  RunningStats err;         // est − truth
  RunningStats normalized;  // (est − truth) / sqrt((π/2d)·‖r‖²‖q‖²)
};

IpErrors ip_errors(int64_t d, int bits, CodecKind kind, int64_t pairs, Rng& rng) {
  IpErrors out;
  std::vector<float> x(d), q(d), one(1), back(d);
  for (int64_t t = 0; t < pairs; ++t) {
    const float scale = static_cast<float>(0.5 + rng.uniform());  // non-unit norms
    double xn = 0.0;
    for (auto& v : x) {
      v = static_cast<float>(rng.normal());
      xn += static_cast<double>(v) * v;
    }
    for (int64_t j = 0; j < d; ++j) q[j] = static_cast<float>(0.6 * x[j] / std::sqrt(xn) * std::sqrt(d) + 0.8 * rng.normal());
    for (auto& v : x) v *= scale;
    const VectorCodec c = make(d, bits, kind, rng.next_u64());
    auto enc = c.encode(1, x);
    auto pq = c.prepare_query(q);
    EXPECT_TRUE(c.inner_products(*pq, enc->view(), one).ok());
    const double truth = dot_f64(q.data(), x.data(), d);
    out.err.add(one[0] - truth);
    if (kind == CodecKind::kProd) {
      // ‖r‖ of x itself = ‖x‖·γ (γ is the unit vector's residual norm).
      const double r2 = static_cast<double>(enc->norms[0]) * enc->norms[0] * enc->gammas[0] * enc->gammas[0];
      const double bound = std::numbers::pi / (2.0 * d) * r2 * squared_norm_f64(q.data(), d);
      out.normalized.add((one[0] - truth) / std::sqrt(bound));
    }
  }
  return out;
}

// The criterion: |mean error| < 3 standard errors over 10,000 pairs. A correct estimator
// fails it by chance with probability 0.27% per bit width, so a miss is re-tested once on a fresh,
// independent sample: a real bias fails both, chance fails both with probability ~7e-6 (the seed is
// printed to reproduce). b = 1 (pure QJL) and larger d run in the slow test.
TEST(TurboQuantProd, InnerProductIsUnbiasedWithVarianceWithinTheBound) {
  Rng rng(test_seed("prod unbiased"));
  for (int bits : {2, 3, 4}) {
    IpErrors e = ip_errors(128, bits, CodecKind::kProd, 10000, rng);
    if (std::abs(e.err.mean()) >= 3 * e.err.std_error()) {
      std::printf("  prod d=128 b=%d: |mean| %.2e >= 3 s.e. %.2e; second independent sample\n", bits,
                  std::abs(e.err.mean()), 3 * e.err.std_error());
      e = ip_errors(128, bits, CodecKind::kProd, 10000, rng);
    }
    EXPECT_LT(std::abs(e.err.mean()), 3 * e.err.std_error()) << "b=" << bits << " mean=" << e.err.mean();
    // Variance of the error in units of its bound (π/2d)·‖r‖²‖q‖²: at most 1.1. With the
    // structured (orthogonal-row) sketch it is ≈ (1 − 2/π)·‖q⊥r‖²/‖q‖² ≈ 0.36 here (0.23 at b = 1,
    // where r = x is correlated with q): the part of sign(P·r) along P·r carries no error.
    const double var_ratio = e.normalized.variance() + e.normalized.mean() * e.normalized.mean();
    EXPECT_LE(var_ratio, 1.1) << "b=" << bits;
    EXPECT_GT(var_ratio, 0.15) << "b=" << bits << ": the QJL term must carry real variance";
    std::printf("  prod d=128 b=%d  mean err %+.2e ± %.1e  var/bound %.3f\n", bits, e.err.mean(), e.err.std_error(),
                var_ratio);
  }
}

TEST(TurboQuantProd, MseInnerProductIsBiasedButProdIsNot) {
  // The reason TurboQuant_prod exists: the mse estimator ⟨q, x̂⟩ shrinks ⟨q, x⟩ (b = 1: by ≈ 2/π).
  Rng rng(test_seed("mse ip bias"));
  const IpErrors mse = ip_errors(128, 1, CodecKind::kMse, 4000, rng);
  EXPECT_GT(std::abs(mse.err.mean()), 5 * mse.err.std_error()) << "mse b=1 should be visibly biased";
}

TEST(TurboQuantCodec, ScoresEqualDecodeThenCompute) {
  Rng rng(test_seed("scores vs decode"));
  for (CodecKind kind : {CodecKind::kMse, CodecKind::kProd})
    for (int64_t d : {64, 100, 1536})
      for (int bits : {1, 2, 3, 4, 8}) {
        const int64_t n = 50;
        std::vector<float> x(n * d), q(d), back(n * d), ip(n), l2(n);
        for (auto& v : x) v = static_cast<float>(3.0 * rng.normal());
        for (auto& v : q) v = static_cast<float>(rng.normal());
        const VectorCodec c = make(d, bits, kind, rng.next_u64());
        auto enc = c.encode(n, x);
        ASSERT_TRUE(enc.ok());
        ASSERT_TRUE(c.decode(enc->view(), back).ok());
        auto pq = c.prepare_query(q);
        ASSERT_TRUE(c.inner_products(*pq, enc->view(), ip).ok());
        ASSERT_TRUE(c.squared_l2(*pq, enc->view(), l2).ok());
        const double qn2 = squared_norm_f64(q.data(), d);
        for (int64_t i = 0; i < n; ++i) {
          const float* xi = x.data() + i * d;
          const float* bi = back.data() + i * d;
          const double scale = std::sqrt(qn2 * squared_norm_f64(xi, d));
          // kProd decode adds the QJL term, so ⟨q, decode(x)⟩ is the estimator for both kinds.
          EXPECT_NEAR(ip[i], dot_f64(q.data(), bi, d), 1e-4 * scale) << codec_kind_name(kind) << " d=" << d << " b=" << bits;
          const double expect_l2 = kind == CodecKind::kMse ? squared_error(q.data(), bi, d)
                                                           : qn2 + squared_norm_f64(xi, d) - 2.0 * ip[i];
          EXPECT_NEAR(l2[i], expect_l2, 1e-4 * (qn2 + squared_norm_f64(xi, d))) << codec_kind_name(kind) << " d=" << d;
          EXPECT_NEAR(enc->norms[i], std::sqrt(squared_norm_f64(xi, d)), 1e-5 * enc->norms[i]);
        }
      }
}

TEST(TurboQuantCodec, ZeroVectorsAndScaleInvariance) {
  const int64_t d = 64;
  const VectorCodec c = make(d, 3, CodecKind::kProd, 11);
  std::vector<float> x(2 * d, 0.0f), back(2 * d);
  Rng rng(3);
  for (int64_t j = 0; j < d; ++j) x[d + j] = static_cast<float>(rng.normal());
  auto enc = c.encode(2, x);
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(enc->norms[0], 0.0f);
  ASSERT_TRUE(c.decode(enc->view(), back).ok());
  for (int64_t j = 0; j < d; ++j) EXPECT_EQ(back[j], 0.0f);
  // Scaling by a power of two is exact in float: same codes, scaled norm.
  std::vector<float> x4(x);
  for (auto& v : x4) v *= 4.0f;
  auto enc4 = c.encode(2, x4);
  EXPECT_EQ(enc4->codes, enc->codes);
  EXPECT_FLOAT_EQ(enc4->norms[1], 4.0f * enc->norms[1]);
  EXPECT_FLOAT_EQ(enc4->gammas[1], enc->gammas[1]);
}

TEST(TurboQuantCodec, DeterministicPerSeedAndSizesAccounted) {
  Rng rng(test_seed("codec determinism"));
  const int64_t d = 128, n = 20;
  std::vector<float> x(n * d);
  for (auto& v : x) v = static_cast<float>(rng.normal());
  const VectorCodec a = make(d, 4, CodecKind::kMse, 5), b = make(d, 4, CodecKind::kMse, 5),
                    c = make(d, 4, CodecKind::kMse, 6);
  EXPECT_EQ(a.encode(n, x)->codes, b.encode(n, x)->codes);
  EXPECT_NE(a.encode(n, x)->codes, c.encode(n, x)->codes);
  EXPECT_EQ(a.code_bytes(), 64);
  EXPECT_DOUBLE_EQ(a.bits_per_vector(), 128 * 4 + 32);
  EXPECT_DOUBLE_EQ(a.bits_per_coordinate(), 4.25);
  const VectorCodec p = make(d, 4, CodecKind::kProd, 5);
  EXPECT_EQ(p.mse_bits(), 3);
  EXPECT_EQ(p.mse_code_bytes(), 48);
  EXPECT_EQ(p.sign_bytes(), 16);
  EXPECT_DOUBLE_EQ(p.bits_per_vector(), 128 * 4 + 64);
  const VectorCodec odd = make(33, 3, CodecKind::kProd, 5);
  EXPECT_EQ(odd.code_bytes(), (33 * 2 + 7) / 8 + (33 + 7) / 8);
}

}  // namespace
}  // namespace tq

// The outlier-split variant: fractional rates from two codecs over a channel split.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "../common/test_seed.h"
#include "core/rng.h"
#include "math/stats.h"
#include "tq/codec.h"

namespace tq {
namespace {

using testing::test_seed;

// Vectors with `n_outliers` channels (every 16th) at 10x the scale of the others, as KV activations.
std::vector<float> outlier_data(int64_t n, int64_t d, int64_t n_outliers, Rng& rng) {
  std::vector<float> x(n * d);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      x[i * d + j] = static_cast<float>(rng.normal() * ((j % 16 == 3 && j / 16 < n_outliers) ? 10.0 : 1.0));
  return x;
}

double relative_mse_split(const SplitCodec& c, const std::vector<float>& x, int64_t n) {
  const int64_t d = c.dim();
  std::vector<uint8_t> codes(n * c.code_bytes());
  std::vector<float> norms(2 * n), back(n * d);
  EXPECT_TRUE(c.encode(n, x, codes, norms).ok());
  EXPECT_TRUE(c.decode(n, codes, norms, {}, back).ok());
  return squared_error(back.data(), x.data(), n * d) / squared_norm_f64(x.data(), n * d);
}

double relative_mse_single(int64_t d, int bits, const std::vector<float>& x, int64_t n) {
  CodecConfig cfg;
  cfg.dim = d;
  cfg.bits = bits;
  auto c = VectorCodec::create(cfg);
  auto e = c->encode(n, x);
  std::vector<float> back(n * d);
  EXPECT_TRUE(c->decode(e->view(), back).ok());
  return squared_error(back.data(), x.data(), n * d) / squared_norm_f64(x.data(), n * d);
}

TEST(SplitCodec, PlanForRate) {
  auto p = split_plan_for_rate(128, 2.5);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->n_outliers, 64);
  EXPECT_EQ(p->bits_hi, 3);
  EXPECT_EQ(p->bits_lo, 2);
  EXPECT_DOUBLE_EQ(p->rate_bits, 2.5);
  p = split_plan_for_rate(128, 3.25);
  EXPECT_EQ(p->n_outliers, 32);
  EXPECT_EQ(p->bits_lo, 3);
  EXPECT_DOUBLE_EQ(p->rate_bits, 3.25);
  p = split_plan_for_rate(100, 2.333);
  EXPECT_EQ(p->n_outliers, 33);
  EXPECT_NEAR(p->rate_bits, 2.33, 1e-12);
}

TEST(SplitCodec, ChoosesHighEnergyChannels) {
  Rng rng(test_seed("outlier channels"));
  const int64_t d = 128, n = 500;
  const std::vector<float> x = outlier_data(n, d, 8, rng);
  auto ch = choose_outlier_channels(n, d, x, 8);
  ASSERT_TRUE(ch.ok());
  EXPECT_EQ(*ch, (std::vector<int64_t>{3, 19, 35, 51, 67, 83, 99, 115}));
}

TEST(SplitCodec, AccountingAndLayout) {
  SplitCodecConfig s;
  s.dim = 128;
  for (int64_t j = 0; j < 64; ++j) s.outlier_channels.push_back(2 * j);
  s.bits_hi = 3;
  s.bits_lo = 2;
  auto c = SplitCodec::create(s);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->code_bytes(), 24 + 16);
  EXPECT_DOUBLE_EQ(c->bits_per_vector(), 64 * 3 + 64 * 2 + 2 * 32);
  EXPECT_DOUBLE_EQ(c->bits_per_coordinate(), 3.0);  // 2.5 bits + two float norms per 128 coordinates
  EXPECT_EQ(c->channels(0).front(), 0);
  EXPECT_EQ(c->channels(1).front(), 1);
  s.kind = CodecKind::kProd;
  auto p = SplitCodec::create(s);
  EXPECT_EQ(p->scalars_per_vector(), 4);
  EXPECT_DOUBLE_EQ(p->bits_per_vector(), 64 * 3 + 64 * 2 + 4 * 32);
}

TEST(SplitCodec, FractionalRateSitsBetweenItsNeighboursAndOutliersHelp) {
  Rng rng(test_seed("split quality"));
  const int64_t d = 128, n = 3000;
  const std::vector<float> x = outlier_data(n, d, 8, rng);
  const double mse2 = relative_mse_single(d, 2, x, n), mse3 = relative_mse_single(d, 3, x, n);
  auto plan = split_plan_for_rate(d, 2.5);
  SplitCodecConfig s;
  s.dim = d;
  s.bits_hi = plan->bits_hi;
  s.bits_lo = plan->bits_lo;
  s.seed = rng.next_u64();
  s.outlier_channels = choose_outlier_channels(n, d, x, plan->n_outliers).value();
  const double by_energy = relative_mse_split(SplitCodec::create(s).value(), x, n);
  s.outlier_channels.clear();
  for (int64_t j = 0; j < plan->n_outliers; ++j) s.outlier_channels.push_back(2 * j);  // even: misses the outliers
  const double blind = relative_mse_split(SplitCodec::create(s).value(), x, n);
  EXPECT_LT(mse3, by_energy);
  EXPECT_LT(by_energy, mse2);
  // With the 8 high-energy channels in the 3-bit part, their own norm isolates them from the rest.
  EXPECT_LT(by_energy, 0.85 * blind) << "by energy " << by_energy << " blind " << blind;
  std::printf("  relative MSE: 2 bits %.4f, 2.5 bits by energy %.4f, 2.5 bits blind %.4f, 3 bits %.4f\n", mse2,
              by_energy, blind, mse3);
}

TEST(SplitCodec, ScoresAreSumsOfPartsAndMatchDecode) {
  Rng rng(test_seed("split scores"));
  const int64_t d = 96, n = 40;
  std::vector<float> x = outlier_data(n, d, 4, rng), q(d);
  for (auto& v : q) v = static_cast<float>(rng.normal());
  for (CodecKind kind : {CodecKind::kMse, CodecKind::kProd}) {
    SplitCodecConfig s;
    s.dim = d;
    s.kind = kind;
    s.bits_hi = 4;
    s.bits_lo = 3;
    s.outlier_channels = choose_outlier_channels(n, d, x, 20).value();
    auto c = SplitCodec::create(s);
    ASSERT_TRUE(c.ok());
    const bool prod = kind == CodecKind::kProd;
    std::vector<uint8_t> codes(n * c->code_bytes());
    std::vector<float> norms(2 * n), gammas(prod ? 2 * n : 0), back(n * d), ip(n), l2(n);
    ASSERT_TRUE(c->encode(n, x, codes, norms, gammas).ok());
    ASSERT_TRUE(c->decode(n, codes, norms, gammas, back).ok());
    auto pq = c->prepare_query(q);
    ASSERT_TRUE(pq.ok());
    ASSERT_TRUE(c->inner_products(*pq, n, codes, norms, gammas, ip).ok());
    ASSERT_TRUE(c->squared_l2(*pq, n, codes, norms, gammas, l2).ok());
    for (int64_t i = 0; i < n; ++i) {
      const float* xi = x.data() + i * d;
      const double scale = std::sqrt(squared_norm_f64(q.data(), d) * squared_norm_f64(xi, d));
      EXPECT_NEAR(ip[i], dot_f64(q.data(), back.data() + i * d, d), 1e-4 * scale) << codec_kind_name(kind);
      if (!prod) {
        EXPECT_NEAR(l2[i], squared_error(q.data(), back.data() + i * d, d), 1e-3 * scale);
      }
      // Each part's norm is the norm of its channels.
      double hi = 0.0;
      for (int64_t ch : c->channels(0)) hi += xi[ch] * xi[ch];
      EXPECT_NEAR(norms[i], std::sqrt(hi), 1e-5 * std::sqrt(hi));
    }
  }
}

}  // namespace
}  // namespace tq

// Bad input returns a clear Status, never a crash (issue 2).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/rng.h"
#include "tq/codec.h"

namespace tq {
namespace {

bool mentions(const Status& st, const std::string& text) { return st.message().find(text) != std::string::npos; }

CodecConfig config(int64_t d, int bits, CodecKind kind = CodecKind::kMse) {
  CodecConfig c;
  c.dim = d;
  c.bits = bits;
  c.kind = kind;
  return c;
}

TEST(CodecErrors, BadConfigurations) {
  for (int64_t d : {-1, 0, 1}) {
    auto r = VectorCodec::create(config(d, 4));
    ASSERT_FALSE(r.ok()) << d;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_TRUE(mentions(r.status(), "dimension")) << r.status().message();
  }
  for (int bits : {-3, 0, 9, 16}) {
    auto r = VectorCodec::create(config(64, bits));
    ASSERT_FALSE(r.ok()) << bits;
    EXPECT_TRUE(mentions(r.status(), "bits")) << r.status().message();
    EXPECT_FALSE(VectorCodec::create(config(64, bits, CodecKind::kProd)).ok());
  }
  CodecConfig c = config(64, 4);
  c.rotation_rounds = 9;
  EXPECT_TRUE(mentions(VectorCodec::create(c).status(), "rounds"));
  c = config(64, 4);
  c.kind = static_cast<CodecKind>(7);
  EXPECT_FALSE(VectorCodec::create(c).ok());
  c = config(64, 4);
  c.kernels = static_cast<KernelPath>(9);
  EXPECT_FALSE(VectorCodec::create(c).ok());
}

TEST(CodecErrors, NonFiniteValuesAreNamed) {
  const int64_t d = 16, n = 5;
  auto c = VectorCodec::create(config(d, 2));
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<float> x(n * d, 1.0f);
    x[3 * d + 5] = bad;
    auto r = c->encode(n, x);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(mentions(r.status(), "x[3][5]")) << r.status().message();
    EXPECT_TRUE(mentions(r.status(), "finite")) << r.status().message();
  }
  std::vector<float> huge(d, 3e38f);
  auto r = c->encode(1, huge);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(mentions(r.status(), "overflows")) << r.status().message();
  std::vector<float> q(d, 1.0f);
  q[2] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(mentions(c->prepare_query(q).status(), "query[2]"));
}

TEST(CodecErrors, MismatchedBufferSizes) {
  const int64_t d = 32, n = 4;
  auto mse = VectorCodec::create(config(d, 3));
  auto prod = VectorCodec::create(config(d, 3, CodecKind::kProd));
  std::vector<float> x(n * d, 0.5f), norms(n), gammas(n), out(n * d), scores(n);
  std::vector<uint8_t> codes(n * mse->code_bytes());
  EXPECT_TRUE(mse->encode(n, x, codes, norms).ok());
  EXPECT_TRUE(mentions(mse->encode(n, std::span<const float>(x.data(), n * d - 1), codes, norms), "x"));
  EXPECT_TRUE(mentions(mse->encode(n + 1, x, codes, norms), "expected"));
  EXPECT_TRUE(mentions(mse->encode(-1, x, codes, norms), "n must be"));
  EXPECT_TRUE(mentions(mse->encode(n, x, std::span<uint8_t>(codes.data(), 3), norms), "codes"));
  EXPECT_TRUE(mentions(mse->encode(n, x, codes, std::span<float>(norms.data(), 1)), "norms"));
  EXPECT_TRUE(mentions(mse->encode(n, x, codes, norms, gammas), "gammas"));  // mse takes no γ
  std::vector<uint8_t> pcodes(n * prod->code_bytes());
  EXPECT_TRUE(mentions(prod->encode(n, x, pcodes, norms), "gammas"));  // prod needs γ
  EXPECT_TRUE(prod->encode(n, x, pcodes, norms, gammas).ok());

  CodesView v{n, codes, norms, {}};
  EXPECT_TRUE(mse->decode(v, out).ok());
  EXPECT_FALSE(mse->decode(v, std::span<float>(out.data(), d)).ok());
  EXPECT_FALSE(mse->decode(CodesView{n + 1, codes, norms, {}}, out).ok());
  EXPECT_FALSE(prod->decode(CodesView{n, pcodes, norms, {}}, out).ok());
  auto q = mse->prepare_query(std::span<const float>(x.data(), d));
  EXPECT_TRUE(mse->inner_products(*q, v, scores).ok());
  EXPECT_FALSE(mse->inner_products(*q, v, std::span<float>(scores.data(), 2)).ok());
  EXPECT_FALSE(prod->inner_products(*q, CodesView{n, pcodes, norms, gammas}, scores).ok());  // mse query
  EXPECT_FALSE(mse->prepare_query(std::span<const float>(x.data(), d + 1)).ok());
  auto other = VectorCodec::create(config(d * 2, 3));
  auto q2 = other->prepare_query(std::span<const float>(out.data(), 2 * d));
  EXPECT_TRUE(mentions(mse->squared_l2(*q2, v, scores), "dimension"));
}

TEST(CodecErrors, ArbitraryCodeBytesNeverCrash) {
  // Codes come from files; any bytes (and NaN/Inf norms) must decode and score without a crash.
  Rng rng(1);
  for (CodecKind kind : {CodecKind::kMse, CodecKind::kProd})
    for (int bits : {1, 3, 8}) {
      const int64_t d = 40, n = 16;
      auto c = VectorCodec::create(config(d, bits, kind));
      std::vector<uint8_t> codes(n * c->code_bytes());
      for (auto& b : codes) b = static_cast<uint8_t>(rng.next_u64());
      std::vector<float> norms(n, 1.0f), gammas(kind == CodecKind::kProd ? n : 0, 0.3f), out(n * d), s(n);
      norms[3] = std::numeric_limits<float>::quiet_NaN();
      norms[4] = -std::numeric_limits<float>::infinity();
      CodesView v{n, codes, norms, gammas};
      EXPECT_TRUE(c->decode(v, out).ok());
      std::vector<float> q(d, 0.25f);
      auto pq = c->prepare_query(q);
      EXPECT_TRUE(c->inner_products(*pq, v, s).ok());
      EXPECT_TRUE(c->squared_l2(*pq, v, s).ok());
      EXPECT_TRUE(std::isfinite(s[0]));
    }
}

TEST(CodecErrors, SplitCodecAndHelpers) {
  SplitCodecConfig s;
  s.dim = 16;
  s.outlier_channels = {1, 5, 5};
  EXPECT_TRUE(mentions(SplitCodec::create(s).status(), "twice"));
  s.outlier_channels = {1, 16};
  EXPECT_TRUE(mentions(SplitCodec::create(s).status(), "outside"));
  s.outlier_channels = {1};
  EXPECT_FALSE(SplitCodec::create(s).ok());
  s.outlier_channels = {0, 1, 2};
  s.bits_hi = 9;
  EXPECT_TRUE(mentions(SplitCodec::create(s).status(), "outlier part"));
  s.dim = 3;
  EXPECT_FALSE(SplitCodec::create(s).ok());
  EXPECT_FALSE(split_plan_for_rate(128, 3.0).ok());
  EXPECT_FALSE(split_plan_for_rate(128, 0.5).ok());
  EXPECT_FALSE(split_plan_for_rate(128, 8.5).ok());
  EXPECT_FALSE(split_plan_for_rate(128, std::nan("")).ok());
  EXPECT_FALSE(split_plan_for_rate(4, 2.01).ok());
  std::vector<float> sample(10, 1.0f);
  EXPECT_FALSE(choose_outlier_channels(2, 6, sample, 2).ok());
  EXPECT_FALSE(choose_outlier_channels(2, 5, sample, 0).ok());
  sample[7] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(choose_outlier_channels(2, 5, sample, 2).ok());
}

}  // namespace
}  // namespace tq

#include "runtime/kv_cache.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/half.h"
#include "core/rng.h"
#include "../common/test_seed.h"

namespace tq {
namespace {

std::vector<float> randn(Rng& rng, size_t n) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal());
  return v;
}

// Naive causal GQA attention in double over (optionally f16-rounded) K/V.
std::vector<float> attend_ref(const KvCacheShape& s, const std::vector<float>& K,
                              const std::vector<float>& V, const std::vector<float>& q,
                              int64_t n_tokens, int64_t pos0, bool f16) {
  const int64_t d = s.head_dim, G = s.n_heads / s.n_kv_heads, kvd = s.n_kv_heads * d;
  auto round = [&](float x) { return f16 ? f16_to_f32(f32_to_f16(x)) : x; };
  std::vector<float> out(n_tokens * s.n_heads * d);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t h = 0; h < s.n_heads; ++h) {
      const int64_t kh = h / G, n = pos0 + t + 1;
      std::vector<double> p(n);
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c)
          dot +=
              q[(t * s.n_heads + h) * d + c] * static_cast<double>(round(K[j * kvd + kh * d + c]));
        p[j] = dot / std::sqrt(static_cast<double>(d));
        mx = std::max(mx, p[j]);
      }
      for (auto& x : p) sum += x = std::exp(x - mx);
      for (int64_t c = 0; c < d; ++c) {
        double o = 0;
        for (int64_t j = 0; j < n; ++j) o += p[j] / sum * round(V[j * kvd + kh * d + c]);
        out[(t * s.n_heads + h) * d + c] = static_cast<float>(o);
      }
    }
  return out;
}

TEST(KvCache, AttendMatchesNaiveCausalGqa) {
  const uint64_t seed = testing::test_seed();
  Rng rng(seed);
  for (const char* type : {"f32", "f16"})
    for (int64_t d : {7, 64}) {
      SCOPED_TRACE(::testing::Message() << type << " d " << d);
      const KvCacheShape s{2, 50, 6, 2, d};
      auto kv = make_kv_cache(s, {type, type, {}, 1, nullptr});
      ASSERT_TRUE(kv.ok()) << kv.status().to_string();
      const int64_t kvd = s.n_kv_heads * d, n_total = 41;
      std::vector<float> K = randn(rng, n_total * kvd), V = randn(rng, n_total * kvd);
      // Prefill 37 tokens (3 query blocks), then 4 single-token decode steps; layer 1 only.
      const int64_t n_prefill = 37;
      (*kv)->append(1, 0, n_prefill, K.data(), V.data());
      std::vector<float> q = randn(rng, n_prefill * s.n_heads * d), out(q.size());
      (*kv)->attend(1, q.data(), n_prefill, 0, out.data());
      std::vector<float> want = attend_ref(s, K, V, q, n_prefill, 0, std::string(type) == "f16");
      for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 2e-5) << i;
      for (int64_t pos = n_prefill; pos < n_total; ++pos) {
        (*kv)->append(1, pos, 1, K.data() + pos * kvd, V.data() + pos * kvd);
        std::vector<float> q1 = randn(rng, s.n_heads * d), o1(q1.size());
        (*kv)->attend(1, q1.data(), 1, pos, o1.data());
        std::vector<float> w1 = attend_ref(s, K, V, q1, 1, pos, std::string(type) == "f16");
        for (size_t i = 0; i < o1.size(); ++i)
          ASSERT_NEAR(o1[i], w1[i], 2e-5) << "pos " << pos << " i " << i;
      }
    }
}

TEST(KvCache, PerLayerOverridesAndBytes) {
  const KvCacheShape s{4, 16, 4, 2, 64};
  KvCacheConfig cfg;
  cfg.overrides = {{0, "f32", ""}, {3, "", "f32"}};
  auto kv = make_kv_cache(s, cfg);
  ASSERT_TRUE(kv.ok()) << kv.status().to_string();
  // f16: 2 heads * 64 * 2 bytes = 256 per layer per K or V; f32 doubles it.
  EXPECT_DOUBLE_EQ((*kv)->bytes_per_token(), 256.0 * 8 + 256.0 * 2);
  EXPECT_EQ((*kv)->describe(), "k f16 (layers 0: f32), v f16 (layers 3: f32)");
}

TEST(KvCache, BadConfigsGiveClearErrors) {
  const KvCacheShape s{4, 16, 4, 2, 64};
  auto bad = make_kv_cache(s, {"q9", "f16", {}, 0, nullptr});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown KV cache key type 'q9'"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("f16"), std::string::npos);
  KvCacheConfig cfg;
  cfg.overrides = {{4, "f32", ""}};
  auto out = make_kv_cache(s, cfg);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("layer 4"), std::string::npos) << out.status().message();
  EXPECT_FALSE(make_kv_cache({4, 16, 5, 2, 64}, {}).ok());  // heads not a multiple of kv heads
}

}  // namespace
}  // namespace tq

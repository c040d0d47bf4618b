#include "kernels/ops.h"
#include "kernels/stream.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernel_test_util.h"
#include "kernels/attention.h"

namespace tq {
namespace {

constexpr int64_t kSizes[] = {1, 7, 33, 64, 100, 257};

TEST(Ops, RmsNormSoftmaxSiluMatchReference) {
  const uint64_t seed = ::tq::testing::test_seed();
  test::for_each_target([&](const char*) {
    Rng rng(seed);
    for (int64_t n : kSizes) {
      SCOPED_TRACE(n);
      std::vector<float> x = test::normal_vec(rng, 3 * n, 2.0), w = test::normal_vec(rng, n);
      std::vector<float> a(3 * n), b(3 * n);
      rmsnorm(x.data(), w.data(), 3, n, 1e-5f, a.data());
      ref::rmsnorm(x.data(), w.data(), 3, n, 1e-5f, b.data());
      for (int64_t i = 0; i < 3 * n; ++i)
        ASSERT_NEAR(a[i], b[i], 2e-6 * (std::fabs(b[i]) + 1e-3)) << i;

      std::vector<float> s = test::normal_vec(rng, n, 5.0), sr = s;
      softmax(s.data(), n);
      ref::softmax(sr.data(), n);
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_NEAR(s[i], sr[i], 2e-6 * sr[i] + 1e-9) << i;
        sum += s[i];
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);

      std::vector<float> g = test::normal_vec(rng, n, 4.0), u = test::normal_vec(rng, n), gr = g;
      silu_mul(g.data(), u.data(), n);
      ref::silu_mul(gr.data(), u.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(g[i], gr[i], 2e-6 * std::fabs(gr[i]) + 1e-7) << i;

      std::vector<float> z = test::normal_vec(rng, n, 6.0);
      ASSERT_NEAR(logsumexp(z.data(), n), ref::logsumexp(z.data(), n), 1e-6);

      std::vector<float> y = test::normal_vec(rng, n), y0 = y;
      add_inplace(y.data(), x.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(y[i], y0[i] + x[i]);
    }
  });
}

TEST(Stream, ReadSumsAreExact) {
  test::for_each_target([&](const char*) {
    for (int64_t n : {0, 1, 7, 33, 1000, 4099}) {
      std::vector<uint8_t> b(static_cast<size_t>(n) + 3);
      uint64_t want = 0;
      for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 37 + 11);
      // Offset 3: unaligned start; 32-bit lanes sum as little-endian words, tail bytes singly.
      const uint8_t* p = b.data() + 3;
      int64_t i = 0;
      for (; i + 4 <= n; i += 4) {
        uint32_t w;
        std::memcpy(&w, p + i, 4);
        want += w;
      }
      for (; i < n; ++i) want += p[i];
      // The SIMD sum wraps in 32-bit lanes; compare modulo 2^32.
      EXPECT_EQ(static_cast<uint32_t>(stream_read_sum_bytes(p, n)), static_cast<uint32_t>(want)) << n;
      std::vector<float> f(static_cast<size_t>(n), 0.5f);
      EXPECT_FLOAT_EQ(stream_read_sum(f.data(), n), 0.5f * static_cast<float>(n));
    }
  });
}

TEST(Ops, SoftmaxHandlesLargeLogits) {
  std::vector<float> s = {1000.0f, 999.0f, -1e30f, 998.0f, -INFINITY};
  softmax(s.data(), static_cast<int64_t>(s.size()));
  const double e1 = std::exp(-1.0), e2 = std::exp(-2.0), z = 1 + e1 + e2;
  EXPECT_NEAR(s[0], 1 / z, 1e-6);
  EXPECT_NEAR(s[1], e1 / z, 1e-6);
  EXPECT_EQ(s[2], 0.0f);
  EXPECT_NEAR(s[3], e2 / z, 1e-6);
  EXPECT_EQ(s[4], 0.0f);
}

// NaN (damaged weights, overflow) propagates through softmax, SiLU and logsumexp on every target
// — so that Session::eval reports a non-finite logit — without reaching Exp's float-to-int step
// (undefined for NaN on the portable targets: found by the fuzz target of model loading).
TEST(Ops, NanPropagatesThroughExp) {
  test::for_each_target([&](const char* target) {
    for (const int64_t n : {1, 7, 33}) {
      std::vector<float> x(n, 0.5f), up(n, 1.0f);
      x[n / 2] = std::nanf("");
      std::vector<float> sm = x;
      softmax(sm.data(), n);
      for (float v : sm) EXPECT_TRUE(std::isnan(v)) << target << " n " << n;
      EXPECT_TRUE(std::isnan(logsumexp(x.data(), n))) << target;
      std::vector<float> g = x;
      silu_mul(g.data(), up.data(), n);
      EXPECT_TRUE(std::isnan(g[n / 2])) << target;
      if (n > 1) EXPECT_FALSE(std::isnan(g[0])) << target;  // the other lanes stay finite
    }
  });
}

TEST(Ops, RopeNeoxRotatesPairsHalfApart) {
  // head_dim 6 with n_rot 4: pairs (0,2), (1,3); dims 4, 5 untouched.
  std::vector<float> x = {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6};
  const float c0 = std::cos(0.5f), s0 = std::sin(0.5f), c1 = std::cos(0.25f), s1 = std::sin(0.25f);
  const float cs[] = {c0, s0, c1, s1};
  rope_neox(x.data(), 2, 6, 4, cs);
  EXPECT_FLOAT_EQ(x[0], 1 * c0 - 3 * s0);
  EXPECT_FLOAT_EQ(x[2], 1 * s0 + 3 * c0);
  EXPECT_FLOAT_EQ(x[1], 2 * c1 - 4 * s1);
  EXPECT_FLOAT_EQ(x[3], 2 * s1 + 4 * c1);
  EXPECT_EQ(x[4], 5);
  EXPECT_EQ(x[5], 6);
  EXPECT_FLOAT_EQ(x[6], -1 * c0 + 3 * s0);
}

TEST(Attention, ScoresAndMixMatchReference) {
  const uint64_t seed = ::tq::testing::test_seed();
  test::for_each_target([&](const char*) {
    Rng rng(seed);
    for (int64_t d : {7, 33, 64, 128})
      for (int64_t n_pos : {1, 5, 16, 70})
        for (int64_t n_q : {1, 3, 5, 8}) {
          SCOPED_TRACE(::testing::Message() << "d " << d << " n_pos " << n_pos << " n_q " << n_q);
          const int64_t stride = d + 3;
          std::vector<float> q = test::normal_vec(rng, n_q * d);
          std::vector<float> kf = test::normal_vec(rng, n_pos * stride);
          std::vector<uint16_t> kh(kf.size());
          for (size_t i = 0; i < kf.size(); ++i) kh[i] = f32_to_f16(kf[i]);
          const int64_t lds = n_pos + 2;
          std::vector<float> s(n_q * lds), sr(n_q * lds);
          auto check = [&](double tol) {
            for (int64_t i = 0; i < n_q; ++i)
              for (int64_t j = 0; j < n_pos; ++j) ASSERT_NEAR(s[i * lds + j], sr[i * lds + j], tol);
          };
          attn_scores_f32(q.data(), n_q, kf.data(), n_pos, d, stride, s.data(), lds);
          ref::attn_scores_f32(q.data(), n_q, kf.data(), n_pos, d, stride, sr.data(), lds);
          check(1e-5 * d);
          attn_scores_f16(q.data(), n_q, kh.data(), n_pos, d, stride, s.data(), lds);
          ref::attn_scores_f16(q.data(), n_q, kh.data(), n_pos, d, stride, sr.data(), lds);
          check(1e-5 * d);

          // The same keys in the transposed-block layout.
          const int64_t n_blocks = (n_pos + kKeyBlock - 1) / kKeyBlock;
          std::vector<float> ktf(n_blocks * d * kKeyBlock, NAN);
          std::vector<uint16_t> kth(ktf.size(), 0x7e00);  // NaN in unused lanes: must not leak out
          for (int64_t j = 0; j < n_pos; ++j)
            for (int64_t c = 0; c < d; ++c) {
              const int64_t at = ((j / kKeyBlock) * d + c) * kKeyBlock + j % kKeyBlock;
              ktf[at] = kf[j * stride + c];
              kth[at] = kh[j * stride + c];
            }
          std::fill(s.begin(), s.end(), -7.0f);
          attn_scores_kt_f32(q.data(), n_q, ktf.data(), n_pos, d, s.data(), lds);
          ref::attn_scores_f32(q.data(), n_q, kf.data(), n_pos, d, stride, sr.data(), lds);
          check(1e-5 * d);
          for (int64_t i = 0; i < n_q; ++i)
            ASSERT_EQ(s[i * lds + n_pos], -7.0f);  // nothing past n_pos
          attn_scores_kt_f16(q.data(), n_q, kth.data(), n_pos, d, s.data(), lds);
          ref::attn_scores_f16(q.data(), n_q, kh.data(), n_pos, d, stride, sr.data(), lds);
          check(1e-5 * d);

          std::vector<float> p = test::normal_vec(rng, n_q * lds);
          std::vector<float> o(n_q * d), orf(n_q * d);
          attn_mix_f32(p.data(), lds, n_q, kf.data(), n_pos, d, stride, o.data());
          ref::attn_mix_f32(p.data(), lds, n_q, kf.data(), n_pos, d, stride, orf.data());
          for (int64_t i = 0; i < n_q * d; ++i) ASSERT_NEAR(o[i], orf[i], 1e-5 * n_pos);
          attn_mix_f16(p.data(), lds, n_q, kh.data(), n_pos, d, stride, o.data());
          ref::attn_mix_f16(p.data(), lds, n_q, kh.data(), n_pos, d, stride, orf.data());
          for (int64_t i = 0; i < n_q * d; ++i) ASSERT_NEAR(o[i], orf[i], 1e-5 * n_pos);
        }
  });
}

}  // namespace
}  // namespace tq

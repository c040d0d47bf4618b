// TurboQuant weight formats (formats/tq_weight.h): codebooks, rotation, blocks, the reference
// quantizer, and round-trip error per (bits, group) pinned on fresh Gaussian rows.
#include "formats/tq_weight.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "../common/test_seed.h"
#include "core/half.h"
#include "core/rng.h"
#include "formats/format.h"
#include "math/lloyd_max.h"

namespace tq {
namespace {

std::vector<float> gaussian(Rng& rng, size_t n) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(rng.normal());
  return v;
}

TEST(TqWeight, SpecTableAndFormatTableAgree) {
  EXPECT_EQ(tq_weight_specs().size(), 18u);
  for (const auto& s : tq_weight_specs()) {
    const FormatTraits* f = find_format(s.id);
    ASSERT_NE(f, nullptr) << s.name;
    EXPECT_STREQ(f->name, s.name);
    EXPECT_EQ(f->block_elems, s.group);
    EXPECT_EQ(f->block_bytes, tq_group_bytes(s.bits, s.group));
    EXPECT_DOUBLE_EQ(bits_per_element(s.id), s.bits + 16.0 / s.group) << s.name;
    EXPECT_EQ(find_tq_weight(s.bits, s.group), &s);
    EXPECT_EQ(find_tq_weight(std::string_view(s.name)), &s);
    EXPECT_EQ(find_format(std::string_view(s.name)), f);
    EXPECT_GE(static_cast<uint32_t>(s.id), kTurboQuantTypeBase);
  }
  EXPECT_EQ(static_cast<uint32_t>(find_tq_weight(4, 128)->id), kTurboQuantTypeBase + 32 + 4);
  EXPECT_DOUBLE_EQ(bits_per_element(find_tq_weight(4, 128)->id), 4.125);
  EXPECT_EQ(find_tq_weight(7, 128), nullptr);
  EXPECT_EQ(find_tq_weight(4, 256), nullptr);
  EXPECT_EQ(find_tq_weight(TypeId::q4_K), nullptr);
}

TEST(TqWeight, CodebooksAreTheInt8RoundedLloydMaxValues) {
  for (int G : kTqWeightGroups) {
    for (int b : kTqWeightBits) {
      SCOPED_TRACE(::testing::Message() << "b=" << b << " G=" << G);
      auto c = tq_codebook(b, G);
      auto ci = tq_codebook_int(b, G);
      const float unit = tq_codebook_unit(b, G);
      ASSERT_EQ(c.size(), size_t{1} << b);
      ASSERT_EQ(ci.size(), c.size());
      int cmax = 0;
      for (size_t i = 0; i < c.size(); ++i) {
        EXPECT_EQ(c[i], static_cast<float>(ci[i]) * unit);  // exact, as the kernels use it
        if (i) {
          EXPECT_LT(ci[i - 1], ci[i]);
        }
        cmax = std::max(cmax, std::abs(static_cast<int>(ci[i])));
      }
      if (b == 8) {
        EXPECT_EQ(unit, 1.0f / 32.0f);
        EXPECT_EQ(ci[0], -128);
        EXPECT_EQ(ci[255], 127);
        continue;
      }
      EXPECT_EQ(cmax, 127);
      const Codebook* lm = *sphere_codebook(G, b);
      for (size_t i = 0; i < c.size(); ++i)  // within half a grid step of Lloyd–Max · √G
        EXPECT_NEAR(c[i], lm->centroids[i] * std::sqrt(double(G)), 0.5001 * unit);
      // Symmetric around 0 (the Lloyd–Max codebook of a symmetric law).
      for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(ci[i], -ci[c.size() - 1 - i]);
    }
  }
}

TEST(TqWeight, NearestCode) {
  for (int b : kTqWeightBits) {
    auto c = tq_codebook(b, 128);
    for (size_t i = 0; i < c.size(); ++i) EXPECT_EQ(tq_nearest_code(c[i], b, 128), int(i));
    EXPECT_EQ(tq_nearest_code(-1e30f, b, 128), 0);
    EXPECT_EQ(tq_nearest_code(1e30f, b, 128), int(c.size()) - 1);
    EXPECT_EQ(tq_nearest_code(std::numeric_limits<float>::infinity(), b, 128), int(c.size()) - 1);
    // Ties go to the lower value.
    const float mid = 0.5f * (c[1] + c[2]);
    EXPECT_EQ(tq_nearest_code(mid, b, 128), 1);
    EXPECT_EQ(tq_nearest_code(std::nextafter(mid, 1e9f), b, 128), 2);
    const int z = tq_nearest_code(std::numeric_limits<float>::quiet_NaN(), b, 128);
    for (size_t i = 0; i < c.size(); ++i) EXPECT_LE(std::fabs(c[z]), std::fabs(c[i]));
  }
}

constexpr const char* kPinnedSigns128Head = "--++-++++-+-+-++";

TEST(TqWeight, RotationIsTheSeededHadamardAndOrthogonal) {
  const uint64_t seed = testing::test_seed("TqWeight.Rotation");
  Rng rng(seed);
  for (int G : kTqWeightGroups) {
    auto sigma = tq_rotation_signs(G);
    ASSERT_EQ(sigma.size(), size_t(G));
    int n_neg = 0;
    for (float s : sigma) {
      EXPECT_TRUE(s == 1.0f || s == -1.0f);
      n_neg += s < 0;
    }
    EXPECT_GT(n_neg, G / 4);  // not degenerate
    EXPECT_LT(n_neg, 3 * G / 4);
    // Dense R = (1/√G) H diag(σ), H[i][j] = (-1)^popcount(i & j).
    std::vector<float> x = gaussian(rng, G), y = x, back;
    tq_rotate_group(y.data(), G);
    double nx = 0, ny = 0;
    for (int i = 0; i < G; ++i) {
      double want = 0;
      for (int j = 0; j < G; ++j)
        want += ((__builtin_popcount(i & j) & 1) ? -1.0 : 1.0) * sigma[j] * x[j];
      want /= std::sqrt(double(G));
      EXPECT_NEAR(y[i], want, 2e-5);
      nx += double(x[i]) * x[i];
      ny += double(y[i]) * y[i];
    }
    EXPECT_NEAR(ny / nx, 1.0, 1e-5);
    back = y;
    tq_unrotate_group(back.data(), G);
    for (int i = 0; i < G; ++i) EXPECT_NEAR(back[i], x[i], 2e-5);
  }
  // The signs are a format constant: pinned first values (a change would break every file).
  auto s128 = tq_rotation_signs(128);
  std::string head;
  for (int i = 0; i < 16; ++i) head += s128[i] > 0 ? '+' : '-';
  EXPECT_EQ(head, kPinnedSigns128Head);
}

TEST(TqWeight, PackUnpackRoundTrip) {
  const uint64_t seed = testing::test_seed("TqWeight.Pack");
  Rng rng(seed);
  for (int G : kTqWeightGroups)
    for (int b : kTqWeightBits) {
      std::vector<uint8_t> idx(G), back(G);
      for (auto& i : idx) i = static_cast<uint8_t>(rng.below(1u << b));
      std::vector<uint8_t> block(tq_group_bytes(b, G) + 1, 0xAB);
      const float scale = static_cast<float>(rng.uniform() * 3.0);
      tq_pack_group(idx.data(), scale, b, G, block.data());
      EXPECT_EQ(block.back(), 0xAB) << "wrote past the block";
      float s_back;
      tq_unpack_group(block.data(), b, G, back.data(), &s_back);
      EXPECT_EQ(idx, back);
      EXPECT_EQ(s_back, f16_to_f32(f32_to_f16(scale)));
      // Layout: f16 scale, then the LSB-first bit stream.
      const int j = static_cast<int>(rng.below(G));
      uint32_t code = 0;
      for (int k = 0; k < b; ++k) {
        const int bit = j * b + k;
        code |= ((block[2 + bit / 8] >> (bit % 8)) & 1u) << k;
      }
      EXPECT_EQ(code, idx[j]);
    }
}

// Relative round-trip error Σ‖w − ŵ‖² / Σ‖w‖² of the data-free quantizer on Gaussian rows, per
// (b, G), pinned. Theory at G = 128: the sphere Lloyd–Max distortion (CODEC.md: 0.1160, 0.03397,
// 0.009315, 0.002451, 0.000630 for b = 2..6); the least-squares scale lowers it a little.
struct Pinned {
  int bits, group;
  double lo, hi;
};
const Pinned kPinnedRoundTrip[] = {  // mean of 5 seeds ± 5% (seed-to-seed spread ±1.5%)
    {2, 32, 0.09994, 0.1105}, {3, 32, 0.02499, 0.02762}, {4, 32, 0.005919, 0.006542},
    {5, 32, 0.001482, 0.001638}, {6, 32, 0.0003914, 0.0004326}, {8, 32, 5.605e-05, 6.195e-05},
    {2, 64, 0.1053, 0.1163}, {3, 64, 0.02812, 0.03108}, {4, 64, 0.006802, 0.007518},
    {5, 64, 0.001719, 0.001901}, {6, 64, 0.0004636, 0.0005124}, {8, 64, 5.89e-05, 6.51e-05},
    {2, 128, 0.1079, 0.1193}, {3, 128, 0.03002, 0.03318}, {4, 128, 0.007571, 0.008368},
    {5, 128, 0.001929, 0.002132}, {6, 128, 0.0005215, 0.0005765}, {8, 128, 6.099e-05, 6.741e-05},
};

TEST(TqWeight, RoundTripErrorPinnedOnGaussianRows) {
  const uint64_t seed = testing::test_seed("TqWeight.RoundTrip");
  Rng rng(seed);
  const int64_t n_rows = 32, n_cols = 2048;  // 512 groups of 128, 2048 of 32
  const std::vector<float> w = gaussian(rng, n_rows * n_cols);
  for (const Pinned& p : kPinnedRoundTrip) {
    SCOPED_TRACE(::testing::Message() << "b=" << p.bits << " G=" << p.group);
    const FormatTraits* f = find_format(find_tq_weight(p.bits, p.group)->id);
    const size_t rb = *row_bytes(f->id, n_cols);
    std::vector<uint8_t> q(rb * n_rows);
    std::vector<float> back(n_cols);
    double err = 0, ref = 0;
    for (int64_t r = 0; r < n_rows; ++r) {
      f->from_float(w.data() + r * n_cols, q.data() + r * rb, n_cols);
      f->to_float(q.data() + r * rb, back.data(), n_cols);
      for (int64_t c = 0; c < n_cols; ++c) {
        const double d = double(w[r * n_cols + c]) - back[c];
        err += d * d;
        ref += double(w[r * n_cols + c]) * w[r * n_cols + c];
      }
    }
    const double rel = err / ref;
    std::printf("  tq%dg%d relative MSE %.6f\n", p.bits, p.group, rel);
    EXPECT_GE(rel, p.lo);
    EXPECT_LE(rel, p.hi);
  }
}

TEST(TqWeight, LeastSquaresScaleBeatsTheNormScale) {
  const uint64_t seed = testing::test_seed("TqWeight.LsScale");
  Rng rng(seed);
  for (int b : {2, 3, 4}) {
    double e_ls = 0, e_norm = 0;
    std::vector<uint8_t> idx(128), idx_n(128);
    for (int g = 0; g < 200; ++g) {
      std::vector<float> v = gaussian(rng, 128);
      const float s = tq_quantize_rotated_group(v.data(), b, 128, idx.data());
      e_ls += tq_group_error(v.data(), idx.data(), s, b, 128);
      double ss = 0;
      for (float x : v) ss += double(x) * x;
      const float s0 = f16_to_f32(f32_to_f16(static_cast<float>(std::sqrt(ss / 128))));
      for (int i = 0; i < 128; ++i) idx_n[i] = static_cast<uint8_t>(tq_nearest_code(v[i] / s0, b, 128));
      e_norm += tq_group_error(v.data(), idx_n.data(), s0, b, 128);
    }
    EXPECT_LT(e_ls, e_norm) << "b=" << b;
  }
}

TEST(TqWeight, DegenerateGroups) {
  std::vector<float> zero(256, 0.0f), back(256, 1.0f);
  const FormatTraits* f = find_format(find_tq_weight(4, 128)->id);
  std::vector<uint8_t> q(*row_bytes(f->id, 256));
  f->from_float(zero.data(), q.data(), 256);
  f->to_float(q.data(), back.data(), 256);
  for (float x : back) EXPECT_EQ(x, 0.0f);
  // A non-finite group quantizes to zero instead of poisoning the scale; other groups are intact.
  std::vector<float> w(256, 0.5f);
  w[3] = std::numeric_limits<float>::quiet_NaN();
  f->from_float(w.data(), q.data(), 256);
  f->to_float(q.data(), back.data(), 256);
  for (int i = 0; i < 128; ++i) EXPECT_EQ(back[i], 0.0f);
  double e = 0;
  for (int i = 128; i < 256; ++i) e += (back[i] - 0.5) * (back[i] - 0.5);
  EXPECT_LT(e / (128 * 0.25), 0.02);  // 4-bit error level
  // Huge values clamp the scale to the largest f16 instead of overflowing to Inf.
  std::vector<float> big(128, 1e9f);
  std::vector<uint8_t> idx(128);
  tq_rotate_group(big.data(), 128);
  const float s = tq_quantize_rotated_group(big.data(), 4, 128, idx.data());
  EXPECT_EQ(s, 65504.0f);
}

TEST(TqWeight, QuantizerIsDeterministic) {
  Rng rng(7);
  const std::vector<float> w = gaussian(rng, 1024);
  for (const auto& s : tq_weight_specs()) {
    const FormatTraits* f = find_format(s.id);
    std::vector<uint8_t> a(*row_bytes(s.id, 1024)), b(a.size());
    f->from_float(w.data(), a.data(), 1024);
    f->from_float(w.data(), b.data(), 1024);
    EXPECT_EQ(a, b) << s.name;
  }
}

}  // namespace
}  // namespace tq

// TurboQuant weight formats (formats/tq_weight.h): codebooks, rotation, blocks, the reference
// quantizer, and round-trip error per (bits, group) pinned on fresh Gaussian rows.
#include "formats/tq_weight.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
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
  EXPECT_EQ(tq_weight_specs().size(), 18u + 12u);
  for (const auto& s : tq_weight_specs()) {
    const FormatTraits* f = find_format(s.id);
    ASSERT_NE(f, nullptr) << s.name;
    EXPECT_STREQ(f->name, s.name);
    if (s.fractional()) {
      EXPECT_EQ(s.bits_hi, s.bits + 1);
      EXPECT_EQ(f->block_elems, 2 * s.group);
      EXPECT_EQ(f->block_bytes, tq_group_bytes(s.bits, s.group) + tq_group_bytes(s.bits + 1, s.group));
      EXPECT_DOUBLE_EQ(bits_per_element(s.id), s.bits + 0.5 + 16.0 / s.group) << s.name;
      EXPECT_EQ(find_tq_weight_fractional(s.bits, s.group), &s);
      EXPECT_NE(f->to_float_aux, nullptr);
      EXPECT_NE(f->from_float_aux, nullptr);
      EXPECT_EQ(std::string(s.name), "tq" + std::to_string(s.bits) + ".5g" + std::to_string(s.group));
    } else {
      EXPECT_EQ(f->block_elems, s.group);
      EXPECT_EQ(f->block_bytes, tq_group_bytes(s.bits, s.group));
      EXPECT_DOUBLE_EQ(bits_per_element(s.id), s.bits + 16.0 / s.group) << s.name;
      EXPECT_EQ(find_tq_weight(s.bits, s.group), &s);
      EXPECT_EQ(f->to_float_aux, nullptr);
    }
    EXPECT_DOUBLE_EQ(s.bits_per_weight(), bits_per_element(s.id));
    EXPECT_EQ(find_tq_weight(std::string_view(s.name)), &s);
    EXPECT_EQ(find_format(std::string_view(s.name)), f);
    EXPECT_GE(static_cast<uint32_t>(s.id), kTurboQuantTypeBase);
  }
  EXPECT_EQ(static_cast<uint32_t>(find_tq_weight(4, 128)->id), kTurboQuantTypeBase + 32 + 4);
  EXPECT_DOUBLE_EQ(bits_per_element(find_tq_weight(4, 128)->id), 4.125);
  EXPECT_EQ(find_tq_weight(7, 128), nullptr);
  EXPECT_EQ(find_tq_weight(4, 256), nullptr);
  EXPECT_EQ(find_tq_weight(TypeId::q4_K), nullptr);
  EXPECT_EQ(find_tq_weight_fractional(6, 128), nullptr);
  EXPECT_EQ(static_cast<uint32_t>(find_tq_weight_fractional(3, 128)->id),
            kTurboQuantTypeBase + 0x40 + 32 + 3);
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
    if (s.fractional()) continue;
    const FormatTraits* f = find_format(s.id);
    std::vector<uint8_t> a(*row_bytes(s.id, 1024)), b(a.size());
    f->from_float(w.data(), a.data(), 1024);
    f->from_float(w.data(), b.data(), 1024);
    EXPECT_EQ(a, b) << s.name;
  }
}

// ---- fractional formats ------------------------------------------------------------------------

TEST(TqWeightFractional, GroupMapValidation) {
  EXPECT_TRUE(tq_group_map(std::vector<uint8_t>{1, 0}).ok());
  EXPECT_FALSE(tq_group_map(std::vector<uint8_t>{1, 0, 1}).ok());     // odd
  EXPECT_FALSE(tq_group_map(std::vector<uint8_t>{1, 1, 1, 0}).ok());  // not half
  EXPECT_FALSE(tq_group_map(std::vector<uint8_t>{2, 0}).ok());        // not 0/1
  EXPECT_FALSE(tq_group_map(std::vector<uint8_t>{}).ok());
  auto m = tq_group_map(std::vector<uint8_t>{0, 1, 1, 0, 0, 1});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->slot_group, (std::vector<int32_t>{1, 2, 5, 0, 3, 4}));  // wide first, then narrow
  EXPECT_EQ(m->n_wide(), 3);
  EXPECT_EQ(tq_group_map_tensor_name("blk.3.ffn_down.weight"), "blk.3.ffn_down.tq_map");
  EXPECT_EQ(tq_group_map_tensor_name("token_embd.weight"), "token_embd.tq_map");
}

TEST(TqWeightFractional, DefaultMapTakesTheHighEnergyHalf) {
  Rng rng(testing::test_seed("TqWeightFractional.DefaultMap"));
  const int G = 64;
  const int64_t rows = 5, cols = 8 * G;
  std::vector<float> w = gaussian(rng, rows * cols);
  const std::vector<int> loud = {1, 2, 6, 7};  // groups scaled up
  for (int64_t r = 0; r < rows; ++r)
    for (int g : loud)
      for (int i = 0; i < G; ++i) w[r * cols + g * G + i] *= 3.0f;
  const TqGroupMap m = tq_default_group_map(w.data(), rows, cols, G);
  EXPECT_EQ(m.wide, (std::vector<uint8_t>{0, 1, 1, 0, 0, 0, 1, 1}));
  // Ties (equal energy) go to the lower positions.
  std::vector<double> e = {1, 1, 1, 1};
  EXPECT_EQ(tq_group_map_from_energy(e).wide, (std::vector<uint8_t>{1, 1, 0, 0}));
}

// With a map, a fractional row's error lies between the uniform formats at b and b+1 bits, and
// the wide groups get the b+1-bit error.
TEST(TqWeightFractional, RoundTripWithItsMap) {
  Rng rng(testing::test_seed("TqWeightFractional.RoundTrip"));
  for (int G : kTqWeightGroups)
    for (int b : {2, 3, 4, 5}) {
      SCOPED_TRACE(::testing::Message() << "b=" << b << " G=" << G);
      const TqWeightSpec* s = find_tq_weight_fractional(b, G);
      const FormatTraits* f = find_format(s->id);
      const int64_t n = 16 * G;
      std::vector<uint8_t> wide(16, 0);
      for (int g : {0, 3, 4, 5, 9, 10, 13, 15}) wide[g] = 1;
      const TqGroupMap map = *tq_group_map(wide);
      std::vector<uint8_t> q(*row_bytes(s->id, n));
      std::vector<float> back(n);
      double e_wide = 0, e_narrow = 0, r_wide = 0, r_narrow = 0;
      // 65,536 elements on each side, as many as the pinned ranges were measured on (with only
      // 16 rows the seed-to-seed spread at G = 32 exceeded the ±5% band).
      const int reps = int(65536 / (8 * G));
      for (int rep = 0; rep < reps; ++rep) {
        const std::vector<float> x = gaussian(rng, n);
        f->from_float_aux(x.data(), q.data(), n, &map);
        row_to_float(*f, q.data(), back.data(), n, &map);
        for (int64_t c = 0; c < n; ++c) {
          const double d = double(x[c]) - back[c];
          (wide[c / G] ? e_wide : e_narrow) += d * d;
          (wide[c / G] ? r_wide : r_narrow) += double(x[c]) * x[c];
        }
        // Blocks: the wide groups' blocks first, each equal to the uniform b+1-bit block.
        std::vector<uint8_t> blk(tq_group_bytes(b + 1, G));
        tq_quantize_group(x.data() + 3 * G, b + 1, G, blk.data());  // group 3 = wide slot 1
        EXPECT_EQ(0, std::memcmp(blk.data(), q.data() + tq_group_bytes(b + 1, G), blk.size()));
      }
      const Pinned* lo = nullptr;
      const Pinned* hi = nullptr;
      for (const Pinned& p : kPinnedRoundTrip) {
        if (p.group == G && p.bits == b) lo = &p;
        if (p.group == G && p.bits == b + 1) hi = &p;
      }
      EXPECT_GE(e_narrow / r_narrow, lo->lo);
      EXPECT_LE(e_narrow / r_narrow, lo->hi);
      EXPECT_GE(e_wide / r_wide, hi->lo);
      EXPECT_LE(e_wide / r_wide, hi->hi);
    }
}

TEST(TqWeightFractional, PlainToFloatReadsTheIdentityMap) {
  Rng rng(3);
  const TqWeightSpec* s = find_tq_weight_fractional(3, 32);
  const FormatTraits* f = find_format(s->id);
  const std::vector<float> x = gaussian(rng, 128);
  std::vector<uint8_t> q(*row_bytes(s->id, 128)), q2(q.size());
  std::vector<float> a(128), b(128);
  const TqGroupMap id = *tq_group_map(std::vector<uint8_t>{1, 1, 0, 0});
  f->from_float(x.data(), q.data(), 128);
  f->from_float_aux(x.data(), q2.data(), 128, &id);
  EXPECT_EQ(q, q2);
  f->to_float(q.data(), a.data(), 128);
  f->to_float_aux(q.data(), b.data(), 128, &id);
  EXPECT_EQ(a, b);
  // Another map reads the same bytes differently.
  const TqGroupMap other = *tq_group_map(std::vector<uint8_t>{0, 1, 1, 0});
  f->to_float_aux(q.data(), b.data(), 128, &other);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace tq

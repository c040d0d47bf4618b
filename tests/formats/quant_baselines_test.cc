// Baseline weight formats q8 and rtn4 (formats/quant_baselines.h): layout, reference round trip
// pinned on fresh Gaussian rows, edge cases.
#include "formats/quant_baselines.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../common/test_seed.h"
#include "core/half.h"
#include "core/rng.h"
#include "formats/format.h"

namespace tq {
namespace {

double round_trip_rel_mse(TypeId t, const std::vector<float>& w, int64_t n_cols) {
  const FormatTraits* f = find_format(t);
  const size_t rb = *row_bytes(t, n_cols);
  std::vector<uint8_t> q(rb);
  std::vector<float> back(n_cols);
  double err = 0, ref = 0;
  for (size_t r = 0; r < w.size() / n_cols; ++r) {
    f->from_float(w.data() + r * n_cols, q.data(), n_cols);
    f->to_float(q.data(), back.data(), n_cols);
    for (int64_t c = 0; c < n_cols; ++c) {
      const double x = w[r * n_cols + c];
      err += (x - back[c]) * (x - back[c]);
      ref += x * x;
    }
  }
  return err / ref;
}

TEST(QuantBaselines, TableEntriesAndLayout) {
  const FormatTraits* q8 = find_format("q8");
  const FormatTraits* rtn4 = find_format("rtn4");
  ASSERT_NE(q8, nullptr);
  ASSERT_NE(rtn4, nullptr);
  EXPECT_EQ(q8->id, kTypeQ8);
  EXPECT_EQ(rtn4->id, kTypeRtn4);
  EXPECT_EQ(*row_bytes(kTypeQ8, 2048), 4u + 2048u);
  EXPECT_FALSE(row_bytes(kTypeQ8, 48).ok());
  EXPECT_EQ(*row_bytes(kTypeRtn4, 256), 136u);
  EXPECT_DOUBLE_EQ(bits_per_element(kTypeRtn4), 4.25);
  EXPECT_DOUBLE_EQ(bits_per_element(kTypeQ8, 2048), 8.0 + 32.0 / 2048);
  // q8 row: f32 scale, then int8 values.
  std::vector<float> w = {1.0f, -2.0f, 0.5f, 0.0f};
  w.resize(32, 0.25f);
  std::vector<uint8_t> q(*row_bytes(kTypeQ8, 32));
  q8->from_float(w.data(), q.data(), 32);
  float d;
  std::memcpy(&d, q.data(), 4);
  EXPECT_EQ(d, 2.0f / 127.0f);
  EXPECT_EQ(static_cast<int8_t>(q[4 + 1]), -127);
  EXPECT_EQ(static_cast<int8_t>(q[4 + 0]), 64);  // 63.5 rounds to even
  // rtn4 block: w = d·q + m with m = min, codes as nibbles (code 2j low).
  std::vector<float> g(128);
  for (int i = 0; i < 128; ++i) g[i] = static_cast<float>(i % 16) * 0.5f - 1.0f;
  std::vector<uint8_t> b(sizeof(Rtn4Block));
  rtn4->from_float(g.data(), b.data(), 128);
  uint8_t codes[128];
  float s, m;
  rtn4_unpack_group(b.data(), codes, &s, &m);
  EXPECT_EQ(s, 0.5f);
  EXPECT_EQ(m, -1.0f);
  for (int i = 0; i < 128; ++i) EXPECT_EQ(codes[i], i % 16);
  EXPECT_EQ(b[4], 0x10);  // codes 0 and 1
}

TEST(QuantBaselines, RoundTripErrorPinnedOnGaussianRows) {
  Rng rng(testing::test_seed("QuantBaselines.RoundTrip"));
  const int64_t n_cols = 2048;
  std::vector<float> w(64 * n_cols);
  for (auto& x : w) x = static_cast<float>(rng.normal());
  const double e8 = round_trip_rel_mse(kTypeQ8, w, n_cols);
  const double e4 = round_trip_rel_mse(kTypeRtn4, w, n_cols);
  std::printf("  q8 relative MSE %.3g, rtn4 relative MSE %.4f\n", e8, e4);
  // q8: step max|w|/127 over 2048 Gaussians (max ≈ 3.5–4.2): step²/12 ≈ 6.3e-5–9.1e-5.
  EXPECT_GT(e8, 5.5e-5);
  EXPECT_LT(e8, 1.0e-4);
  // rtn4: step (max − min)/15 over 128 Gaussians (range ≈ 5.2): step²/12 ≈ 0.0100.
  EXPECT_GT(e4, 0.0090);
  EXPECT_LT(e4, 0.0115);
}

TEST(QuantBaselines, EdgeCases) {
  for (TypeId t : {kTypeQ8, kTypeRtn4}) {
    const FormatTraits* f = find_format(t);
    std::vector<float> w(128, 0.0f), back(128, 1.0f);
    std::vector<uint8_t> q(*row_bytes(t, 128));
    f->from_float(w.data(), q.data(), 128);
    f->to_float(q.data(), back.data(), 128);
    for (float x : back) EXPECT_EQ(x, 0.0f) << f->name;
    // Constant rows are exact; a NaN does not poison the row.
    std::fill(w.begin(), w.end(), 0.75f);
    w[5] = std::numeric_limits<float>::quiet_NaN();
    f->from_float(w.data(), q.data(), 128);
    f->to_float(q.data(), back.data(), 128);
    for (int i = 0; i < 128; ++i)
      if (i != 5) EXPECT_EQ(back[i], 0.75f) << f->name << " " << i;
    EXPECT_TRUE(std::isfinite(back[5])) << f->name;
  }
}

}  // namespace
}  // namespace tq

// SIMD kernels and codec paths against the scalar reference, on every compiled SIMD target, at
// awkward sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "../common/simd_targets.h"
#include "../common/test_seed.h"
#include "core/rng.h"
#include "formats/turboquant_kernels.h"
#include "math/bitpack.h"
#include "math/lloyd_max.h"
#include "math/stats.h"
#include "tq/codec.h"

namespace tq {
namespace {

using testing::for_each_simd_target;
using testing::test_seed;

const int64_t kSizes[] = {1, 2, 3, 7, 15, 16, 17, 33, 64, 100, 128, 1536};

TEST(TurboQuantKernels, SimdMatchesReferenceOnEveryTarget) {
  Rng rng(test_seed("kernels simd"));
  const TurboQuantKernels& ref = turboquant_reference_kernels();
  const TurboQuantKernels& simd = turboquant_simd_kernels();
  for_each_simd_target([&](const char* target) {
    for (int bits = 1; bits <= 8; ++bits) {
      const Codebook* cb = sphere_codebook(64, bits).value();
      const float* c = cb->centroids_f32.data();
      const float* b = cb->boundaries_f32.data();
      for (int64_t d : kSizes) {
        std::vector<float> y(d), q(d), out_a(d), out_b(d);
        for (auto& v : y) v = static_cast<float>(rng.normal() / 8.0);
        for (auto& v : q) v = static_cast<float>(rng.normal());
        // Exact boundary values must take the lower cell on both paths.
        if (d > 3 && bits < 8) y[1] = b[0], y[2] = b[(1 << bits) - 2];
        std::vector<uint8_t> ia(d), ib(d), ic(d);
        const float scale = 1.25f;
        const QuantizeGrid grid = make_quantize_grid(b, bits);
        EXPECT_EQ(grid.cells > 0, bits >= 5);
        simd.quantize(y.data(), d, scale, b, bits, grid, ia.data());
        simd.quantize(y.data(), d, scale, b, bits, QuantizeGrid(), ic.data());  // binary-search path
        ref.quantize(y.data(), d, scale, b, bits, grid, ib.data());
        ASSERT_EQ(ia, ib) << target << " quantize d=" << d << " bits=" << bits;
        ASSERT_EQ(ic, ib) << target << " quantize (no grid) d=" << d << " bits=" << bits;
        simd.dequantize(ia.data(), d, c, bits, 0.5f, out_a.data());
        ref.dequantize(ia.data(), d, c, bits, 0.5f, out_b.data());
        EXPECT_EQ(out_a, out_b) << target << " dequantize d=" << d << " bits=" << bits;
        // Float sums in a different order: error bounded by ~d·ε·Σ|terms|.
        double mag = 0.0;
        for (int64_t j = 0; j < d; ++j) mag += std::abs(q[j] * c[ia[j]]);
        mag *= 1e-1 * static_cast<double>(d);
        EXPECT_NEAR(simd.dot_codes(q.data(), ia.data(), d, c, bits), ref.dot_codes(q.data(), ia.data(), d, c, bits),
                    1e-6 * mag + 1e-9)
            << target << " dot d=" << d << " bits=" << bits;
        float qa, ca, qb, cb2;
        simd.dot_codes_l2(q.data(), ia.data(), d, c, bits, &qa, &ca);
        ref.dot_codes_l2(q.data(), ia.data(), d, c, bits, &qb, &cb2);
        EXPECT_NEAR(qa, qb, 1e-6 * mag + 1e-9) << target;
        EXPECT_NEAR(ca, cb2, 1e-7 * d * cb2 + 1e-9) << target;
        simd.residual(y.data(), scale, ia.data(), d, c, bits, out_a.data());
        ref.residual(y.data(), scale, ia.data(), d, c, bits, out_b.data());
        // The scalar tail may be contracted into an FMA on FMA targets: 1-ulp differences.
        EXPECT_LT(max_abs_error(out_a.data(), out_b.data(), d), 1e-6) << target << " residual";
        // Scoring straight from packed rows (3 rows, stride with a spare byte) equals the reference.
        const int64_t row_bytes = packed_bytes(d, bits), stride = row_bytes + 1;
        std::vector<uint8_t> rows(3 * stride);
        std::vector<float> sa(3), sb(3);
        for (int r = 0; r < 3; ++r) {
          for (auto& v : ib) v = static_cast<uint8_t>(rng.next_u64() & ((1u << bits) - 1));
          pack_bits(ib.data(), d, bits, rows.data() + r * stride);
        }
        std::vector<uint8_t> scratch(d);
        simd.score_rows(q.data(), rows.data(), stride, 3, d, c, bits, scratch.data(), sa.data());
        ref.score_rows(q.data(), rows.data(), stride, 3, d, c, bits, scratch.data(), sb.data());
        for (int r = 0; r < 3; ++r) {
          double row_mag = 0.0;
          for (int64_t j = 0; j < d; ++j) row_mag += std::abs(q[j]) * 5.0 / 8.0;  // |c| <= 5σ, σ = 1/8
          EXPECT_NEAR(sa[r], sb[r], 1e-6 * d * row_mag + 1e-9) << target << " score_rows d=" << d << " bits=" << bits;
        }
        EXPECT_NEAR(simd.sum_squares(q.data(), d), ref.sum_squares(q.data(), d), 1e-12 * ref.sum_squares(q.data(), d))
            << target;
      }
    }
  });
}

VectorCodec make(int64_t d, int bits, CodecKind kind, uint64_t seed, KernelPath path) {
  CodecConfig c;
  c.dim = d;
  c.bits = bits;
  c.kind = kind;
  c.seed = seed;
  c.kernels = path;
  return VectorCodec::create(c).value();
}

// Encoding with SIMD and with the reference gives the same codes. The rotation and quantizer are
// bitwise identical; only the norm's double sum may round differently (last bit), which can flip a
// coordinate lying within float rounding of a cell boundary: allow that, to adjacent cells only.
TEST(TurboQuantCodec, SimdPathMatchesReferencePathOnEveryTarget) {
  Rng rng(test_seed("codec simd vs reference"));
  for_each_simd_target([&](const char* target) {
    for (CodecKind kind : {CodecKind::kMse, CodecKind::kProd})
      for (int64_t d : {2, 3, 7, 33, 64, 100, 128, 1536})
        for (int bits : {1, 2, 3, 4, 5, 8}) {
          const uint64_t seed = rng.next_u64();
          const VectorCodec fast = make(d, bits, kind, seed, KernelPath::kSimd);
          const VectorCodec slow = make(d, bits, kind, seed, KernelPath::kReference);
          const int64_t n = 9;
          std::vector<float> x(n * d), q(d);
          for (auto& v : x) v = static_cast<float>(rng.normal());
          for (auto& v : q) v = static_cast<float>(rng.normal());
          auto ea = fast.encode(n, x), eb = slow.encode(n, x);
          ASSERT_TRUE(ea.ok() && eb.ok());
          for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(ea->norms[i], eb->norms[i], 1e-6 * eb->norms[i]);
          int64_t mismatched = 0;
          std::vector<uint8_t> ia(d), ib(d);
          for (int64_t i = 0; i < n; ++i) {
            if (fast.mse_bits() > 0) {
              unpack_bits(ea->codes.data() + i * fast.code_bytes(), d, fast.mse_bits(), ia.data());
              unpack_bits(eb->codes.data() + i * fast.code_bytes(), d, fast.mse_bits(), ib.data());
              for (int64_t j = 0; j < d; ++j) {
                mismatched += ia[j] != ib[j];
                EXPECT_LE(std::abs(ia[j] - ib[j]), 1) << target << " d=" << d << " bits=" << bits;
              }
            }
          }
          EXPECT_LE(mismatched, 1) << target << " " << codec_kind_name(kind) << " d=" << d << " bits=" << bits;
          if (mismatched == 0) {
            EXPECT_EQ(ea->codes, eb->codes) << target << " " << codec_kind_name(kind) << " d=" << d;
          }
          // Same codes in → same floats out (within float reassociation).
          std::vector<float> da(n * d), db(n * d), sa(n), sb(n);
          ASSERT_TRUE(fast.decode(eb->view(), da).ok());
          ASSERT_TRUE(slow.decode(eb->view(), db).ok());
          EXPECT_LT(max_abs_error(da.data(), db.data(), n * d), 1e-4 * std::sqrt(squared_norm_f64(db.data(), n * d) / n))
              << target << " decode d=" << d;
          auto qa = fast.prepare_query(q), qb = slow.prepare_query(q);
          ASSERT_TRUE(fast.inner_products(*qa, eb->view(), sa).ok());
          ASSERT_TRUE(slow.inner_products(*qb, eb->view(), sb).ok());
          const double scale = std::sqrt(squared_norm_f64(q.data(), d)) * eb->norms[0] * 4;
          for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(sa[i], sb[i], 1e-5 * scale) << target << " ip d=" << d;
          ASSERT_TRUE(fast.squared_l2(*qa, eb->view(), sa).ok());
          ASSERT_TRUE(slow.squared_l2(*qb, eb->view(), sb).ok());
          for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(sa[i], sb[i], 1e-5 * (sb[i] + scale)) << target << " l2 d=" << d;
        }
  });
}

TEST(TurboQuantCodec, ThreadCountDoesNotChangeResults) {
  Rng rng(test_seed("codec threads"));
  const int64_t d = 96, n = 3000;
  std::vector<float> x(n * d);
  for (auto& v : x) v = static_cast<float>(rng.normal());
  const VectorCodec c = make(d, 3, CodecKind::kProd, 7, KernelPath::kSimd);
  auto a = c.encode(n, x);  // all threads
  // One vector at a time is the single-threaded path of the same kernels.
  for (int64_t i = 0; i < n; i += 97) {
    auto one = c.encode(1, std::span<const float>(x.data() + i * d, d));
    EXPECT_TRUE(std::equal(one->codes.begin(), one->codes.end(), a->codes.begin() + i * c.code_bytes()));
    EXPECT_EQ(one->norms[0], a->norms[i]);
  }
}

}  // namespace
}  // namespace tq

// Integer matmul kernels over llama.cpp's block formats (kernels/matmul_ggml.h) on every SIMD
// target:
//  * the integer form (formats/ggml_int.h) dequantizes to what the format table's to_float gives;
//  * fast == scalar reference: bit for bit for the k-quants, to float rounding for the legacy
//    formats (their float terms are summed in SIMD-lane order);
//  * reference against the float product of the dequantized weights: within the error of the int8
//    activation rounding;
//  * results independent of thread count (matrices large enough that 1…4 threads split the rows).
// Awkward shapes: 1, 3, 7 blocks per row; 1, 3, 5, 33 rows; 1, 2, 5, 9 tokens.
#include "kernels/matmul_ggml.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "formats/format.h"
#include "formats/ggml_int.h"
#include "kernel_test_util.h"

namespace tq {
namespace {

const TypeId kTypes[] = {TypeId::q4_0, TypeId::q4_1, TypeId::q5_0, TypeId::q5_1,
                         TypeId::q8_0, TypeId::iq4_nl, TypeId::q2_K, TypeId::q3_K,
                         TypeId::q4_K, TypeId::q5_K, TypeId::q6_K, TypeId::iq4_xs};

struct Matrix {
  std::vector<uint8_t> bytes;
  WeightView view;
};

// Random blocks: random bytes, the f16 scales replaced by finite values of either sign whose size
// spreads over a few octaves (k-quant D: ~1e-3, as real files).
Matrix random_matrix(TypeId type, int64_t rows, int64_t cols, Rng& rng) {
  const FormatTraits* f = find_format(type);
  Matrix m;
  const size_t rb = *row_bytes(type, cols);
  m.bytes.resize(rb * rows);
  for (auto& b : m.bytes) b = static_cast<uint8_t>(rng.below(256));
  const bool kq = is_ggml_kquant(type);
  for (size_t off = 0; off < m.bytes.size(); off += static_cast<size_t>(f->block_bytes))
    for (int field : ggml_f16_field_offsets(type)) {
      const float mag = std::ldexp(1.0f + static_cast<float>(rng.uniform()),
                                   static_cast<int>(rng.below(4)) - (kq ? 11 : 7));
      const uint16_t h = f32_to_f16(rng.below(2) ? mag : -mag);
      std::memcpy(m.bytes.data() + off + field, &h, 2);
    }
  m.view = {type, rows, cols, m.bytes.data(), rb};
  return m;
}

std::vector<float> dequantize(const Matrix& m) {
  const FormatTraits* f = find_format(m.view.type);
  std::vector<float> out(m.view.n_rows * m.view.n_cols);
  for (int64_t r = 0; r < m.view.n_rows; ++r)
    f->to_float(m.view.row(r), out.data() + r * m.view.n_cols, m.view.n_cols);
  return out;
}

// Σ of |every float term| of the reference's sum for (row r, token t): the scale of its rounding.
double term_magnitude(const Matrix& m, const GgmlActs& A, int64_t r, int64_t t) {
  const TypeId type = m.view.type;
  const int be = ggml_int_block_elems(type);
  const int64_t n_blocks = m.view.n_cols / be, bb = find_format(type)->block_bytes;
  int16_t c[256], sc[16], mn[16];
  double mag = 0;
  for (int64_t b = 0; b < n_blocks; ++b) {
    const uint8_t* blk = m.view.row(r) + b * bb;
    const int8_t* q = A.q.data() + t * m.view.n_cols + b * be;
    const double a = A.a[t * n_blocks + b];
    if (is_ggml_kquant(type)) {
      float D, Dmin;
      ggml_int_kquant_block(type, blk, c, sc, mn, &D, &Dmin);
      for (int i = 0; i < 256; ++i) mag += std::fabs(D * a * sc[i / 16] * c[i] * q[i]);
      for (int i = 0; i < 256; ++i) mag += std::fabs(Dmin * a * mn[i / 16] * q[i]);
    } else {
      float d, mm;
      ggml_int_legacy_block(type, blk, c, &d, &mm);
      for (int i = 0; i < 32; ++i) mag += std::fabs(d * a * c[i] * q[i]) + std::fabs(mm * a * q[i]);
      // The fast kernels add −o·Σq per lane into the integer start: as large as the products.
      mag += std::fabs(d * a) * ggml_int_offset(type) * 32 * 127;
    }
  }
  return mag;
}

TEST(MatmulGgml, IntegerFormDequantizesLikeTheFormatTable) {
  Rng rng(::tq::testing::test_seed());
  for (TypeId type : kTypes) {
    SCOPED_TRACE(type_name(type));
    const int be = ggml_int_block_elems(type);
    Matrix m = random_matrix(type, 3, 2 * be, rng);
    const std::vector<float> want = dequantize(m);
    const int64_t bb = find_format(type)->block_bytes;
    int16_t c[256], sc[16], mn[16];
    for (int64_t r = 0; r < 3; ++r)
      for (int64_t b = 0; b < 2; ++b) {
        const uint8_t* blk = m.view.row(r) + b * bb;
        for (int i = 0; i < be; ++i) {
          double v;
          if (is_ggml_kquant(type)) {
            float D, Dmin;
            ggml_int_kquant_block(type, blk, c, sc, mn, &D, &Dmin);
            v = double(D) * sc[i / 16] * c[i] - double(Dmin) * mn[i / 16];
          } else {
            float d, mm;
            ggml_int_legacy_block(type, blk, c, &d, &mm);
            v = double(d) * c[i] + mm;
          }
          const float w = want[r * m.view.n_cols + b * be + i];
          ASSERT_NEAR(v, w, 1e-6 * std::fabs(w) + 1e-12) << "row " << r << " element " << b * be + i;
        }
      }
  }
}

TEST(MatmulGgml, FastMatchesReferenceOnEveryTarget) {
  const uint64_t seed = ::tq::testing::test_seed();
  test::for_each_target([&](const char*) {
    Rng rng(seed);
    for (TypeId type : kTypes) {
      SCOPED_TRACE(type_name(type));
      for (int k : {1, 3, 7})
        for (int64_t rows : {1, 3, 5, 33})
          for (int64_t tokens : {1, 2, 5, 9}) {
            const int64_t cols = int64_t{ggml_int_block_elems(type)} * k;
            Matrix m = random_matrix(type, rows, cols, rng);
            std::vector<float> x = test::normal_vec(rng, tokens * cols);
            for (int64_t t = 0; t < tokens; ++t) x[t * cols + rng.below(cols)] *= 20.0f;
            std::vector<float> y(tokens * rows, NAN), yr(tokens * rows, NAN);
            matmul(m.view, x.data(), tokens, y.data());
            GgmlActs A;
            ggml_quantize_acts(ggml_int_block_elems(type), x.data(), cols, tokens, A);
            ref::matmul_ggml_rows(m.view, A, tokens, yr.data(), 0, rows);
            for (int64_t t = 0; t < tokens; ++t)
              for (int64_t r = 0; r < rows; ++r) {
                const size_t i = t * rows + r;
                if (is_ggml_kquant(type)) {
                  ASSERT_EQ(y[i], yr[i]) << "cols " << cols << " rows " << rows << " token " << t;
                } else {
                  ASSERT_NEAR(y[i], yr[i], 2e-6 * term_magnitude(m, A, r, t) + 1e-30)
                      << "cols " << cols << " rows " << rows << " token " << t;
                }
              }
          }
    }
  });
}

// The reference against the float product of the dequantized weights (matmul_ref, double): the
// difference is the int8 activation rounding, whose standard deviation is predicted per output;
// over all outputs the RMS of (difference / predicted sd) is ≈ 1.
TEST(MatmulGgml, ActivationRoundingErrorHasThePredictedSize) {
  Rng rng(::tq::testing::test_seed());
  for (TypeId type : kTypes) {
    const int be = ggml_int_block_elems(type);
    const int64_t rows = 64, cols = 4 * 256, tokens = 16;
    Matrix m = random_matrix(type, rows, cols, rng);
    const std::vector<float> w = dequantize(m);
    const std::vector<float> x = test::normal_vec(rng, tokens * cols);
    std::vector<float> y(tokens * rows), yf(tokens * rows);
    ref::matmul_ggml(m.view, x.data(), tokens, y.data());
    matmul_ref(m.view, x.data(), tokens, yf.data());
    double s2 = 0;
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        double var = 0;
        for (int64_t b = 0; b < cols / be; ++b) {
          double amax = 0, wn = 0;
          for (int i = 0; i < be; ++i) {
            amax = std::max(amax, std::fabs(double(x[t * cols + b * be + i])));
            wn += double(w[r * cols + b * be + i]) * w[r * cols + b * be + i];
          }
          const double step = amax / 127;
          var += step * step / 12 * wn;
        }
        const double z = (y[t * rows + r] - yf[t * rows + r]) / std::sqrt(var);
        s2 += z * z;
      }
    const double rms = std::sqrt(s2 / (rows * tokens));
    std::printf("  %s: RMS(error / predicted sd) = %.3f\n", type_name(type), rms);
    EXPECT_GT(rms, 0.8) << type_name(type);
    EXPECT_LT(rms, 1.2) << type_name(type);
  }
}

TEST(MatmulGgml, EveryThreadCountSplitsRowsOnEveryTarget) {
  const uint64_t seed = ::tq::testing::test_seed();
  const int saved = num_threads();
  test::for_each_target([&](const char* target) {
    Rng rng(seed);
    for (TypeId type : {TypeId::q4_1, TypeId::q8_0, TypeId::q4_K, TypeId::q6_K}) {
      SCOPED_TRACE(type_name(type));
      const int64_t cols = 1024;
      for (int64_t tokens : {int64_t{1}, int64_t{9}}) {
        // 4× the per-thread minimum of the kernels' thread policy (1 MiB of weights per thread for
        // decode, 2M multiply-adds for prefill).
        const int64_t rb = static_cast<int64_t>(*row_bytes(type, cols));
        const int64_t rows = tokens == 1 ? 4 * (((int64_t{1} << 20) + rb - 1) / rb) + 13
                                         : 4 * (((int64_t{2} << 20) + cols * tokens - 1) / (cols * tokens)) + 13;
        Matrix m = random_matrix(type, rows, cols, rng);
        const std::vector<float> x = test::normal_vec(rng, tokens * cols);
        std::vector<float> y1(tokens * rows, NAN);
        set_num_threads(1);
        matmul(m.view, x.data(), tokens, y1.data());
        for (int threads : {2, 3, 4}) {
          set_num_threads(threads);
          std::vector<float> y(tokens * rows, NAN);
          matmul(m.view, x.data(), tokens, y.data());
          set_num_threads(saved);
          ASSERT_EQ(y, y1) << target << ", " << threads << " threads, " << tokens << " tokens";
        }
      }
    }
  });
  set_num_threads(saved);
}

TEST(MatmulGgml, EveryTargetTakesItsPath) {
  test::for_each_target([&](const char* target) {
    const std::string t = target, path = matmul_ggml_path();
#if defined(__x86_64__)
    if (t == "SCALAR" || t == "EMU128")
      EXPECT_EQ(path, "portable");
    else  // AVX2 and better; AVX-VNNI wherever the CPU has it and the cap allows it
      EXPECT_EQ(path, simd_avx_vnni() ? "avx2-vnni" : "avx2") << t;
#else
    EXPECT_EQ(path, "portable");
#endif
  });
}

TEST(MatmulGgml, TableEntries) {
  for (TypeId t : kTypes) {
    const MatmulKernel* k = find_matmul_kernel(t);
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->type, t) << type_name(t);
    EXPECT_EQ(k->fn, &matmul_ggml);
  }
}

TEST(MatmulGgml, NonFiniteActivationsGiveNaN) {
  Rng rng(7);
  for (TypeId type : kTypes) {
    Matrix m = random_matrix(type, 3, 256, rng);
    std::vector<float> x = test::normal_vec(rng, 256), y(3);
    x[70] = NAN;
    matmul(m.view, x.data(), 1, y.data());
    for (float v : y) EXPECT_TRUE(std::isnan(v)) << type_name(type);
  }
}

}  // namespace
}  // namespace tq

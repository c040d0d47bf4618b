// Integer matmul kernels of tq<b>g<G>, q8, rtn4 (kernels/matmul_quant.h) on every SIMD target:
//  * unit scales: fast == scalar reference bit for bit (the int32 sums are exact);
//  * real scales: fast == reference to float rounding;
//  * against the float reference (dequantize, then matmul in double): within the error of the
//    int8 activation quantization;
//  * results independent of thread count and row order.
// Awkward shapes: n_cols = group·k for k = 1, 3, 7; n_rows 1, 7, 33, 50 (the prefill kernel works in
// blocks of 16 rows and tiles of 8 tokens: partial blocks, several blocks plus a tail); tokens
// 1..9 and 17 (two full token tiles and a tail).
#include "kernels/matmul_quant.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/half.h"
#include "core/parallel.h"
#include "formats/format.h"
#include "formats/quant_baselines.h"
#include "formats/tq_weight.h"
#include "kernel_test_util.h"

namespace tq {
namespace {

std::vector<TypeId> quant_types() {
  std::vector<TypeId> t;
  for (const auto& s : tq_weight_specs()) t.push_back(s.id);
  t.push_back(kTypeQ8);
  t.push_back(kTypeRtn4);
  return t;
}

int group_of(TypeId t) {
  if (const TqWeightSpec* s = find_tq_weight(t)) return s->group;
  return t == kTypeQ8 ? static_cast<int>(kQ8BlockElems) : static_cast<int>(kRtn4Group);
}

// Columns of the k-th awkward shape: group·k (fractional formats need an even number of groups).
int64_t cols_of(TypeId t, int k) {
  const TqWeightSpec* s = find_tq_weight(t);
  return int64_t{group_of(t)} * k * (s && s->fractional() ? 2 : 1);
}

struct Matrix {
  std::vector<uint8_t> bytes;
  std::unique_ptr<TqGroupMap> map;  // fractional formats: a random group map (view.aux)
  WeightView view;
};

Matrix empty_matrix(TypeId type, int64_t rows, int64_t cols, Rng& rng) {
  Matrix m;
  const size_t rb = *row_bytes(type, cols);
  m.bytes.assign(rb * rows, 0);
  m.view = {type, rows, cols, m.bytes.data(), rb};
  const TqWeightSpec* s = find_tq_weight(type);
  if (s && s->fractional()) {
    const int64_t n_groups = cols / s->group;
    std::vector<uint8_t> wide(n_groups, 0);
    for (int64_t i = 0; i < n_groups / 2; ++i) wide[i] = 1;
    for (int64_t i = n_groups - 1; i > 0; --i) std::swap(wide[i], wide[rng.below(i + 1)]);
    m.map = std::make_unique<TqGroupMap>(*tq_group_map(wide));
    m.view.aux = m.map.get();
  }
  return m;
}

// Random codes with every scale 1 (and rtn4 offsets 0): the products are exact integers. With
// `random_scales`, every group (q8: row) scale is a random f16 in ±[2^-8, 2^2) instead (and rtn4
// offsets random): a quick matrix of any size whose products are ordinary floats.
Matrix code_matrix(TypeId type, int64_t rows, int64_t cols, Rng& rng, bool random_scales) {
  Matrix m = empty_matrix(type, rows, cols, rng);
  const size_t rb = m.view.row_bytes;
  const int G = group_of(type);
  std::vector<uint8_t> idx(G);
  auto scale = [&] {
    if (!random_scales) return 1.0f;
    const float s = std::ldexp(1.0f + static_cast<float>(rng.uniform()), static_cast<int>(rng.below(10)) - 8);
    return rng.below(2) ? s : -s;
  };
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = m.bytes.data() + r * rb;
    if (type == kTypeQ8) {
      const float d = std::fabs(scale());
      std::memcpy(row, &d, 4);
      for (int64_t c = 0; c < cols; ++c)
        row[4 + c] = static_cast<uint8_t>(static_cast<int8_t>(static_cast<int>(rng.below(255)) - 127));
      continue;
    }
    if (type == kTypeRtn4) {
      for (int64_t g = 0; g < cols / G; ++g) {
        for (auto& i : idx) i = static_cast<uint8_t>(rng.below(16));
        rtn4_pack_group(idx.data(), std::fabs(scale()), random_scales ? scale() : 0.0f,
                        row + g * sizeof(Rtn4Block));
      }
      continue;
    }
    const TqWeightSpec* s = find_tq_weight(type);
    const int64_t n_wide = s->fractional() ? cols / G / 2 : 0;
    size_t off = 0;
    for (int64_t j = 0; j < cols / G; ++j) {  // storage slots: wide blocks first
      const int bits = j < n_wide ? s->bits_hi : s->bits;
      for (auto& i : idx) i = static_cast<uint8_t>(rng.below(1u << bits));
      tq_pack_group(idx.data(), scale(), bits, G, row + off);
      off += tq_group_bytes(bits, G);
    }
  }
  return m;
}

Matrix unit_scale_matrix(TypeId type, int64_t rows, int64_t cols, Rng& rng) {
  return code_matrix(type, rows, cols, rng, /*random_scales=*/false);
}

// Gaussian rows with per-row magnitudes spread over e^±2, quantized by the format's from_float.
Matrix real_matrix(TypeId type, int64_t rows, int64_t cols, Rng& rng, std::vector<float>* deq) {
  Matrix m = empty_matrix(type, rows, cols, rng);
  const FormatTraits* f = find_format(type);
  const size_t rb = m.view.row_bytes;
  deq->resize(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> src = test::normal_vec(rng, cols, std::exp(rng.normal()));
    if (m.map) {
      f->from_float_aux(src.data(), m.bytes.data() + r * rb, cols, m.map.get());
    } else {
      f->from_float(src.data(), m.bytes.data() + r * rb, cols);
    }
    row_to_float(*f, m.bytes.data() + r * rb, deq->data() + r * cols, cols, m.view.aux);
  }
  return m;
}

// Activations with a few outlier channels (as in real models).
std::vector<float> activations(Rng& rng, int64_t n_tokens, int64_t cols) {
  std::vector<float> x = test::normal_vec(rng, n_tokens * cols);
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int k = 0; k < 3; ++k) x[t * cols + rng.below(cols)] *= 12.0f;
  return x;
}

// Σ|w_i·x_i| in the basis the kernels multiply in (each group rotated for tq formats): the scale of
// the float rounding of their per-term products and partial sums (the original basis' Σ|w·x| can
// be smaller than the rotated one, so it under-states that rounding).
double product_magnitude(TypeId type, const float* w_row, const float* x, int64_t cols) {
  const int G = group_of(type);
  const bool rotate = find_tq_weight(type) != nullptr;
  std::vector<float> wu(G), xu(G);
  double mag = 0;
  for (int64_t g = 0; g < cols / G; ++g) {
    std::memcpy(wu.data(), w_row + g * G, sizeof(float) * G);
    std::memcpy(xu.data(), x + g * G, sizeof(float) * G);
    if (rotate) {
      tq_rotate_group(wu.data(), G);
      tq_rotate_group(xu.data(), G);
    }
    for (int i = 0; i < G; ++i) mag += std::fabs(double(wu[i]) * xu[i]);
  }
  return mag;
}

// Standard deviation of the int8 activation rounding error of <w_r, x_t>: per group, steps of
// amax/127 in the (rotated) domain the kernel quantizes, times the group's weight norm.
double activation_error_sd(TypeId type, const float* w_row, const float* x, int64_t cols) {
  const int G = group_of(type);
  const bool rotate = find_tq_weight(type) != nullptr;
  double var = 0;
  std::vector<float> u(G);
  for (int64_t g = 0; g < cols / G; ++g) {
    std::memcpy(u.data(), x + g * G, sizeof(float) * G);
    if (rotate) tq_rotate_group(u.data(), G);
    double amax = 0, wn = 0;
    for (int i = 0; i < G; ++i) {
      amax = std::max(amax, std::fabs(double(u[i])));
      wn += double(w_row[g * G + i]) * w_row[g * G + i];
    }
    const double step = amax / 127.0;
    var += step * step / 12.0 * wn;
  }
  return std::sqrt(var);
}

TEST(MatmulQuant, UnitScalesBitExactAgainstReference) {
  const uint64_t seed = ::tq::testing::test_seed();
  test::for_each_target([&](const char*) {
    Rng rng(seed);
    for (TypeId type : quant_types()) {
      SCOPED_TRACE(type_name(type));
      for (int k : {1, 3, 7})
        for (int64_t rows : {1, 7, 33, 50})
          for (int64_t tokens : {1, 2, 3, 4, 5, 6, 7, 8, 9, 17}) {
            const int64_t cols = cols_of(type, k);
            Matrix m = unit_scale_matrix(type, rows, cols, rng);
            const std::vector<float> x = activations(rng, tokens, cols);
            std::vector<float> y(tokens * rows, NAN), yr(tokens * rows, NAN);
            matmul_quant_mode(m.view, x.data(), tokens, y.data(), /*unit_scales=*/true);
            ref::matmul_quant(m.view, x.data(), tokens, yr.data(), /*unit_scales=*/true);
            for (size_t i = 0; i < y.size(); ++i) {
              ASSERT_EQ(y[i], yr[i]) << "cols " << cols << " rows " << rows << " tokens " << tokens
                                     << " i " << i;
              ASSERT_EQ(y[i], std::nearbyint(y[i]));  // an integer
            }
          }
    }
  });
}

TEST(MatmulQuant, RealScalesMatchReferenceAndFloatMatmul) {
  const uint64_t seed = ::tq::testing::test_seed();
  test::for_each_target([&](const char*) {
    Rng rng(seed);
    for (TypeId type : quant_types()) {
      SCOPED_TRACE(type_name(type));
      for (int k : {1, 3, 7})
        for (int64_t rows : {1, 7, 33, 50})
          for (int64_t tokens : {1, 2, 3, 5, 7, 9, 17}) {
            const int64_t cols = cols_of(type, k);
            std::vector<float> deq;
            Matrix m = real_matrix(type, rows, cols, rng, &deq);
            const std::vector<float> x = activations(rng, tokens, cols);
            std::vector<float> y(tokens * rows, NAN), ys(tokens * rows, NAN),
                yf(tokens * rows, NAN);
            matmul(m.view, x.data(), tokens, y.data());
            ref::matmul_quant(m.view, x.data(), tokens, ys.data());
            matmul_ref(m.view, x.data(), tokens, yf.data());
            for (int64_t t = 0; t < tokens; ++t)
              for (int64_t r = 0; r < rows; ++r) {
                const size_t i = t * rows + r;
                const double mag = product_magnitude(type, deq.data() + r * cols, x.data() + t * cols, cols);
                // Same arithmetic, float terms summed in another order.
                ASSERT_NEAR(y[i], ys[i], 3e-6 * mag + 1e-30)
                    << "cols " << cols << " rows " << rows << " tokens " << tokens;
                // The float product of the dequantized weights: activation rounding only.
                const double sd = activation_error_sd(type, deq.data() + r * cols, x.data() + t * cols, cols);
                ASSERT_NEAR(y[i], yf[i], 6.0 * sd + 3e-6 * mag + 1e-30)
                    << "cols " << cols << " rows " << rows << " tokens " << tokens;
              }
          }
    }
  });
}

// The int8 activation error is what it should be: over many outputs, the RMS of (fast − float
// reference) / predicted sd is ≈ 1 (uniform rounding errors, independent across inputs).
TEST(MatmulQuant, ActivationRoundingErrorHasThePredictedSize) {
  Rng rng(::tq::testing::test_seed());
  for (TypeId type : {find_tq_weight(4, 128)->id, find_tq_weight_fractional(3, 64)->id, kTypeQ8,
                      kTypeRtn4}) {
    const int64_t rows = 64, cols = 1024, tokens = 8;
    std::vector<float> deq;
    Matrix m = real_matrix(type, rows, cols, rng, &deq);
    const std::vector<float> x = test::normal_vec(rng, tokens * cols);
    std::vector<float> y(tokens * rows), yf(tokens * rows);
    matmul(m.view, x.data(), tokens, y.data());
    matmul_ref(m.view, x.data(), tokens, yf.data());
    double s2 = 0;
    for (int64_t t = 0; t < tokens; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        const double sd = activation_error_sd(type, deq.data() + r * cols, x.data() + t * cols, cols);
        const double z = (y[t * rows + r] - yf[t * rows + r]) / sd;
        s2 += z * z;
      }
    const double rms = std::sqrt(s2 / (rows * tokens));
    std::printf("  %s: RMS(error / predicted sd) = %.3f\n", type_name(type), rms);
    EXPECT_GT(rms, 0.8) << type_name(type);
    EXPECT_LT(rms, 1.2) << type_name(type);
  }
}

TEST(MatmulQuant, ThreadsAndRowOrderDoNotChangeBits) {
  Rng rng(::tq::testing::test_seed());
  for (TypeId type : quant_types()) {
    const int64_t rows = 70, cols = cols_of(type, 5);
    for (int64_t tokens : {1, 6, 19}) {
      std::vector<float> deq;
      Matrix m = real_matrix(type, rows, cols, rng, &deq);
      const std::vector<float> x = activations(rng, tokens, cols);
      std::vector<float> y2(tokens * rows), y1(tokens * rows), ys(tokens * (rows - 5));
      const int saved = num_threads();
      set_num_threads(2);
      matmul(m.view, x.data(), tokens, y2.data());
      WeightView sub = m.view;  // rows 5.. : every tile boundary moves
      sub.data = m.view.row(5);
      sub.n_rows = rows - 5;
      matmul(sub, x.data(), tokens, ys.data());
      set_num_threads(1);
      matmul(m.view, x.data(), tokens, y1.data());
      set_num_threads(saved);
      EXPECT_EQ(y1, y2) << type_name(type);
      for (int64_t t = 0; t < tokens; ++t)
        for (int64_t r = 5; r < rows; ++r)
          ASSERT_EQ(ys[t * (rows - 5) + r - 5], y2[t * rows + r]) << type_name(type);
    }
  }
}

// Thread splits that really happen (issue 11: a per-thread activation buffer of the portable path
// was filled on the calling thread and read, empty, on the workers; the 70-row matrices above never
// reach the size at which a second thread starts). Per target and type, matrices of 4× the decode
// and prefill thresholds: 1…4 threads give the 1-thread bits, and decode equals the scalar reference
// to float rounding; matmul_multi over two such weights as well.
TEST(MatmulQuant, EveryThreadCountSplitsRowsOnEveryTarget) {
  const uint64_t seed = ::tq::testing::test_seed();
  const int saved = num_threads();
  test::for_each_target([&](const char* target) {
    Rng rng(seed);
    for (TypeId type : quant_types()) {
      SCOPED_TRACE(type_name(type));
      const int64_t cols = 1024;  // an even number of groups for every format
      for (int64_t tokens : {int64_t{1}, int64_t{19}}) {
        const int64_t row_bytes = static_cast<int64_t>(*tq::row_bytes(type, cols));
        const WeightView probe{type, 1, cols, nullptr, static_cast<size_t>(row_bytes)};
        const int64_t rows = 4 * quant_min_rows_per_thread(probe, tokens) + 13;
        Matrix m = code_matrix(type, rows, cols, rng, /*random_scales=*/true);
        ASSERT_GE(m.view.n_rows, 4 * quant_min_rows_per_thread(m.view, tokens));
        const std::vector<float> x = activations(rng, tokens, cols);
        std::vector<float> y1(tokens * rows, NAN);
        set_num_threads(1);
        matmul(m.view, x.data(), tokens, y1.data());
        if (tokens == 1) {
          // Float rounding of sums over 1024 products (checked tightly on small shapes above).
          std::vector<float> yr(rows, NAN);
          ref::matmul_quant(m.view, x.data(), 1, yr.data());
          double ss = 0;
          for (float v : yr) ss += double(v) * v;
          const double tol = 1e-4 * std::sqrt(ss / rows);
          for (int64_t r = 0; r < rows; ++r) ASSERT_NEAR(y1[r], yr[r], tol) << "row " << r;
        }
        for (int threads : {2, 3, 4}) {
          set_num_threads(threads);
          std::vector<float> y(tokens * rows, NAN), ya(tokens * rows, NAN), yb(tokens * rows, NAN);
          matmul(m.view, x.data(), tokens, y.data());
          const WeightView* ws[] = {&m.view, &m.view};
          float* ys[] = {ya.data(), yb.data()};
          matmul_multi(ws, x.data(), tokens, ys);
          set_num_threads(saved);
          ASSERT_EQ(y, y1) << target << ", " << threads << " threads, " << tokens << " tokens";
          ASSERT_EQ(ya, y1) << "multi, " << target << ", " << threads << " threads";
          ASSERT_EQ(yb, y1) << "multi, " << target << ", " << threads << " threads";
        }
      }
    }
  });
  set_num_threads(saved);
}

// matmul_multi over quantized weights (one parallel region, activations shared between equal
// layouts and quantized once per grouping) equals separate calls bit for bit: mixed types,
// repeated types, fractional types with different group maps, awkward row counts.
TEST(MatmulQuant, MultiEqualsSeparateCalls) {
  const uint64_t seed = ::tq::testing::test_seed();
  const int64_t cols = 768;  // 6 groups of 128, 12 of 64, 24 of 32
  const TypeId tq4 = find_tq_weight(4, 128)->id;
  const std::vector<std::vector<TypeId>> sets = {
      {tq4, tq4, tq4},
      {tq4, find_tq_weight(3, 64)->id, tq4, kTypeQ8, kTypeRtn4},
      {find_tq_weight(2, 32)->id, find_tq_weight("tq4.5g128")->id, find_tq_weight(8, 128)->id},
      // Fractional weights with different random group maps (as q/k/v): one activation
      // quantization per grouping, one arrangement each; beside whole-bit and other groupings.
      {find_tq_weight("tq3.5g128")->id, find_tq_weight("tq3.5g128")->id,
       find_tq_weight("tq3.5g128")->id, find_tq_weight(3, 128)->id, find_tq_weight("tq2.5g32")->id},
      {find_tq_weight("tq5.5g64")->id, kTypeRtn4, find_tq_weight("tq5.5g64")->id,
       find_tq_weight(4, 64)->id, find_tq_weight("tq2.5g32")->id}};
  const int saved = num_threads();
  test::for_each_target([&](const char*) {
    Rng rng(seed);
    for (int threads : {1, 2})
      for (int64_t tokens : {1, 6, 11})
        for (const auto& types : sets) {
          set_num_threads(threads);
          std::vector<Matrix> ms;
          std::vector<std::vector<float>> deq(types.size());
          const int64_t rows_of[] = {33, 1, 7, 70, 5};
          for (size_t i = 0; i < types.size(); ++i)
            ms.push_back(real_matrix(types[i], rows_of[i % 5], cols, rng, &deq[i]));
          const std::vector<float> x = activations(rng, tokens, cols);
          std::vector<const WeightView*> ws;
          std::vector<std::vector<float>> y(ms.size()), want(ms.size());
          std::vector<float*> yp;
          for (size_t i = 0; i < ms.size(); ++i) {
            ws.push_back(&ms[i].view);
            y[i].assign(tokens * ms[i].view.n_rows, NAN);
            want[i].assign(y[i].size(), NAN);
            yp.push_back(y[i].data());
            matmul(ms[i].view, x.data(), tokens, want[i].data());
          }
          matmul_multi(ws, x.data(), tokens, yp);
          for (size_t i = 0; i < ms.size(); ++i)
            EXPECT_EQ(y[i], want[i]) << type_name(types[i]) << " weight " << i << ", " << tokens
                                     << " tokens, " << threads << " threads";
        }
  });
  set_num_threads(saved);
}

// Each target takes its own kernels (so the tests above really compare them with the reference).
TEST(MatmulQuant, EveryTargetTakesItsPath) {
  test::for_each_target([&](const char* target) {
    const std::string t = target, path = matmul_quant_path();
    if (t == "AVX3_DL" || t == "AVX3_ZEN4") {
      EXPECT_EQ(path, "avx512-vnni");
    } else if (t.rfind("AVX2", 0) == 0 || t.rfind("AVX3", 0) == 0) {
      EXPECT_EQ(path, t.find("+VNNI") != std::string::npos ? "avx2-vnni" : "avx2");
    } else {
      EXPECT_EQ(path, "portable");
    }
  });
}

TEST(MatmulQuant, TableEntries) {
  for (TypeId t : quant_types()) {
    const MatmulKernel* k = find_matmul_kernel(t);
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->type, t) << type_name(t);
    EXPECT_EQ(k->fn, &matmul_quant);
  }
}

TEST(MatmulQuant, NonFiniteActivationsGiveNaN) {
  Rng rng(testing::test_seed());
  std::vector<float> deq;
  Matrix m = real_matrix(find_tq_weight(4, 64)->id, 3, 128, rng, &deq);
  std::vector<float> x = test::normal_vec(rng, 128), y(3);
  x[70] = INFINITY;
  matmul(m.view, x.data(), 1, y.data());
  for (float v : y) EXPECT_TRUE(std::isnan(v));
}

}  // namespace
}  // namespace tq

#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/parallel.h"
#include "formats/format.h"
#include "kernel_test_util.h"
#include "kernels/matmul_ggml.h"
#include "kernels/matmul_quant.h"

namespace tq {
namespace {

// Weights of `type` for an [n_rows, n_cols] matrix (row stride padded by pad_bytes) from f32
// values.
struct TestMatrix {
  std::vector<uint8_t> bytes;
  std::vector<float> values;  // the exactly representable f32 values, [n_rows, n_cols]
  WeightView view;
};

TestMatrix make_matrix(TypeId type, int64_t n_rows, int64_t n_cols, Rng& rng,
                       size_t pad_bytes = 0) {
  const FormatTraits* f = find_format(type);
  TestMatrix m;
  const size_t rb = *row_bytes(type, n_cols) + pad_bytes;
  m.bytes.assign(rb * n_rows, 0xAB);
  m.values.resize(n_rows * n_cols);
  std::vector<float> src = test::normal_vec(rng, n_cols);
  for (int64_t r = 0; r < n_rows; ++r) {
    src = test::normal_vec(rng, n_cols, 0.1);
    f->from_float(src.data(), m.bytes.data() + r * rb, n_cols);
    f->to_float(m.bytes.data() + r * rb, m.values.data() + r * n_cols, n_cols);
  }
  m.view = {type, n_rows, n_cols, m.bytes.data(), rb};
  return m;
}

// |fast - ref| <= 2e-6 * sum |w||x| + 1e-30 for every output (f32 accumulation of n terms).
void expect_close_to_ref(const TestMatrix& m, const std::vector<float>& x, int64_t n_tokens,
                         const std::vector<float>& y) {
  const int64_t R = m.view.n_rows, C = m.view.n_cols;
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t r = 0; r < R; ++r) {
      double ref = 0.0, mag = 0.0;
      for (int64_t c = 0; c < C; ++c) {
        ref += static_cast<double>(m.values[r * C + c]) * x[t * C + c];
        mag += std::fabs(static_cast<double>(m.values[r * C + c]) * x[t * C + c]);
      }
      ASSERT_NEAR(y[t * R + r], ref, 2e-6 * mag + 1e-30)
          << "type " << type_name(m.view.type) << " rows " << R << " cols " << C << " tokens "
          << n_tokens << " t " << t << " r " << r;
    }
}

TEST(Matmul, FastKernelsMatchReferenceOnAwkwardSizes) {
  const uint64_t seed = ::tq::testing::test_seed();
  test::for_each_target([&](const char*) {
    Rng rng(seed);
    for (TypeId type : {TypeId::f32, TypeId::bf16, TypeId::f16})
      for (int64_t rows : {1, 7, 33})
        for (int64_t cols : {1, 7, 33, 69, 600, 1100})
          for (int64_t tokens : {1, 2, 5, 67}) {
            TestMatrix m = make_matrix(type, rows, cols, rng, /*pad_bytes=*/(rows % 2) * 6);
            std::vector<float> x = test::normal_vec(rng, tokens * cols);
            std::vector<float> y(tokens * rows, NAN);
            matmul(m.view, x.data(), tokens, y.data());
            expect_close_to_ref(m, x, tokens, y);
            std::vector<float> yg(tokens * rows, NAN);
            matmul_generic(m.view, x.data(), tokens, yg.data());
            expect_close_to_ref(m, x, tokens, yg);
            std::vector<float> yr(tokens * rows, NAN);
            matmul_ref(m.view, x.data(), tokens, yr.data());
            expect_close_to_ref(m, x, tokens, yr);
          }
  });
}

// Every output depends only on its (row, token): permuting rows or changing the thread count
// gives bit-identical results (the HF-vs-GGUF identical-logits guarantee rests on this).
TEST(Matmul, RowPermutationAndThreadsDoNotChangeBits) {
  const uint64_t seed = ::tq::testing::test_seed();
  Rng rng(seed);
  const int64_t rows = 70, cols = 1030;
  for (TypeId type : {TypeId::f32, TypeId::bf16, TypeId::f16})
    for (int64_t tokens : {1, 9, 70}) {
      TestMatrix m = make_matrix(type, rows, cols, rng);
      const size_t rb = m.view.row_bytes;
      std::vector<int64_t> perm(rows);
      for (int64_t r = 0; r < rows; ++r) perm[r] = (r * 37 + 11) % rows;  // 37 coprime to 70
      std::vector<uint8_t> pbytes(m.bytes.size());
      for (int64_t r = 0; r < rows; ++r) std::memcpy(&pbytes[perm[r] * rb], &m.bytes[r * rb], rb);
      WeightView pv = m.view;
      pv.data = pbytes.data();
      std::vector<float> x = test::normal_vec(rng, tokens * cols);
      std::vector<float> y(tokens * rows), yp(tokens * rows), y1(tokens * rows);
      const int saved = num_threads();
      set_num_threads(2);
      matmul(m.view, x.data(), tokens, y.data());
      matmul(pv, x.data(), tokens, yp.data());
      set_num_threads(1);
      matmul(m.view, x.data(), tokens, y1.data());
      set_num_threads(saved);
      for (int64_t t = 0; t < tokens; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          ASSERT_EQ(y[t * rows + r], yp[t * rows + perm[r]])
              << type_name(type) << " t " << t << " r " << r;
          ASSERT_EQ(y[t * rows + r], y1[t * rows + r])
              << type_name(type) << " t " << t << " r " << r;
        }
    }
}

// Every format of the format table that has a reference quantizer runs through matmul(): its table
// kernel if registered, else the generic dequantize-rows kernel. Both must equal matmul_ref on the
// dequantized weights (to f32 rounding), whatever the format.
TEST(Matmul, EveryFormatMatchesReference) {
  const uint64_t seed = ::tq::testing::test_seed();
  Rng rng(seed);
  int n_tested = 0;
  for (const FormatTraits& f : all_formats()) {
    if (!f.from_float || f.id == TypeId::f64 || f.block_elems <= 0) continue;
    if (f.id == TypeId::i8 || f.id == TypeId::i16 || f.id == TypeId::i32 || f.id == TypeId::i64)
      continue;
    if (f.to_float_aux) continue;  // needs per-tensor side data: matmul_quant_test.cc
    SCOPED_TRACE(f.name);
    for (int64_t rows : {1, 7, 33})
      for (int64_t blocks : {1, 3})
        for (int64_t tokens : {1, 5, 67}) {
          const int64_t cols = f.block_elems * blocks;
          TestMatrix m = make_matrix(f.id, rows, cols, rng);
          std::vector<float> x = test::normal_vec(rng, tokens * cols);
          std::vector<float> y(tokens * rows, NAN), yg(tokens * rows, NAN);
          matmul(m.view, x.data(), tokens, y.data());
          matmul_generic(m.view, x.data(), tokens, yg.data());
          // The integer kernels quantize the activations to int8: tested against this reference
          // with the activation-rounding tolerance in matmul_quant_test.cc / matmul_ggml_test.cc.
          if (!is_quant_matmul_type(f.id) && !is_ggml_matmul_type(f.id)) expect_close_to_ref(m, x, tokens, y);
          expect_close_to_ref(m, x, tokens, yg);
        }
    ++n_tested;
  }
  EXPECT_GE(n_tested, 3);
  std::printf("%d formats tested\n", n_tested);
}

TEST(Matmul, MultiEqualsSeparateCalls) {
  Rng rng(11);
  for (int64_t tokens : {1, 6}) {
    TestMatrix a = make_matrix(TypeId::bf16, 37, 90, rng), b = make_matrix(TypeId::f16, 9, 90, rng),
               c = make_matrix(TypeId::q8_0, 5, 96, rng);
    std::vector<float> x = test::normal_vec(rng, tokens * 96);
    for (bool with_q8 : {false, true}) {
      std::vector<const WeightView*> ws = {&a.view, &b.view};
      if (with_q8) {  // q8_0 has no float kernel: one matmul per weight (x needs 96 columns)
        a = make_matrix(TypeId::bf16, 37, 96, rng);
        b = make_matrix(TypeId::f16, 9, 96, rng);
        ws = {&a.view, &b.view, &c.view};
      }
      std::vector<std::vector<float>> y(ws.size()), want(ws.size());
      std::vector<float*> yp;
      for (size_t i = 0; i < ws.size(); ++i) {
        y[i].assign(tokens * ws[i]->n_rows, NAN);
        want[i].assign(tokens * ws[i]->n_rows, NAN);
        yp.push_back(y[i].data());
        matmul(*ws[i], x.data(), tokens, want[i].data());
      }
      matmul_multi(ws, x.data(), tokens, yp);
      for (size_t i = 0; i < ws.size(); ++i) EXPECT_EQ(y[i], want[i]) << "weight " << i;
    }
  }
}

TEST(Matmul, TableHasFloatKernelsAndGenericFallback) {
  for (TypeId t : {TypeId::f32, TypeId::bf16, TypeId::f16}) {
    const MatmulKernel* k = find_matmul_kernel(t);
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->type, t);
  }
  EXPECT_EQ(find_matmul_kernel(static_cast<TypeId>(0x6fff)), nullptr);
}

TEST(Matmul, ForceReferenceSwitch) {
  Rng rng(3);
  TestMatrix m = make_matrix(TypeId::bf16, 5, 40, rng);
  std::vector<float> x = test::normal_vec(rng, 40), y(5), yr(5);
  set_force_reference_kernels(true);
  matmul(m.view, x.data(), 1, y.data());
  set_force_reference_kernels(false);
  matmul_ref(m.view, x.data(), 1, yr.data());
  EXPECT_EQ(y, yr);
}

}  // namespace
}  // namespace tq

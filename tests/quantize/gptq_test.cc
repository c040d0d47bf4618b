// GPTQ and the per-tensor methods on synthetic data with correlated inputs: the lazy-batch sweep
// equals a plain one, the rotated Hessian is the Gram matrix of rotated inputs, and the methods
// lower the output error tr(E H Eᵀ) in the expected order.
#include <gtest/gtest.h>

#include <cmath>

#include "../common/test_seed.h"
#include "core/half.h"
#include "core/rng.h"
#include "quantize/gptq.h"
#include "quantize/linalg.h"
#include "quantize/tensor_quant.h"

namespace tq {
namespace {

// X [n_tok, n] with a decaying spectrum and a few loud channels (like LLM activations).
std::vector<float> correlated_inputs(Rng& rng, int64_t n_tok, int64_t n) {
  std::vector<float> mix(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      mix[i * n + j] = static_cast<float>(rng.normal() / std::sqrt(1.0 + 0.2 * j));
  std::vector<float> z(static_cast<size_t>(n_tok * n)), x(z.size());
  for (auto& v : z) v = static_cast<float>(rng.normal());
  sgemm(false, false, n_tok, n, n, 1.0f, z.data(), n, mix.data(), n, 0.0f, x.data(), n);
  for (int64_t t = 0; t < n_tok; ++t)
    for (int64_t c = 0; c < n; c += 37) x[t * n + c] *= 6.0f;
  return x;
}

std::vector<double> gram(const std::vector<float>& x, int64_t n_tok, int64_t n) {
  std::vector<float> h(static_cast<size_t>(n * n));
  sgemm(true, false, n, n, n_tok, 1.0f, x.data(), n, x.data(), n, 0.0f, h.data(), n);
  return {h.begin(), h.end()};
}

std::vector<float> random_weights(Rng& rng, int64_t rows, int64_t cols) {
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& v : w) v = static_cast<float>(0.05 * rng.normal());
  return w;
}

// Rounds to a grid of step 0.02 (a quantizer GPTQ can be checked with).
class GridColumns final : public ColumnQuantizer {
 public:
  void quantize_column(int64_t j, const float* w, float* q, int64_t r0, int64_t r1) override {
    for (int64_t r = r0; r < r1; ++r) q[r] = 0.02f * std::nearbyint(w[r] / 0.02f);
  }
};

TEST(Gptq, LazyBatchesEqualPlainSweep) {
  Rng rng(testing::test_seed("gptq lazy"));
  const int64_t n = 96, rows = 24, n_tok = 400;
  const auto x = correlated_inputs(rng, n_tok, n);
  const auto H = gram(x, n_tok, n);
  const auto w = random_weights(rng, rows, n);
  // Plain reference in double: column by column, the whole remainder updated each time.
  auto U = gptq_inverse_factor(H, n, 0.01);
  ASSERT_TRUE(U.ok());
  std::vector<double> W(w.begin(), w.end());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < rows; ++r) {
      const double q = 0.02 * std::nearbyint(W[r * n + i] / 0.02);
      const double e = (W[r * n + i] - q) / (*U)[i * n + i];
      W[r * n + i] = q;
      for (int64_t k = i + 1; k < n; ++k) W[r * n + k] -= e * (*U)[i * n + k];
    }
  for (int64_t block : {int64_t{1}, int64_t{16}, int64_t{128}}) {
    std::vector<float> wt(static_cast<size_t>(n * rows));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < n; ++c) wt[c * rows + r] = w[r * n + c];
    GridColumns q;
    GptqOptions o;
    o.block = block;
    ASSERT_TRUE(gptq_quantize(wt.data(), rows, n, H, q, o).ok());
    int64_t same = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < n; ++c) same += std::fabs(wt[c * rows + r] - W[r * n + c]) < 1e-6;
    // Float vs double rounding may flip a few near-ties; every flip is one grid step.
    EXPECT_GE(same, rows * n * 98 / 100) << "block " << block;
  }
}

TEST(Gptq, RotatedHessianIsGramOfRotatedInputs) {
  Rng rng(testing::test_seed("rotated hessian"));
  const int64_t n = 256, n_tok = 300;
  auto x = correlated_inputs(rng, n_tok, n);
  const auto H = gram(x, n_tok, n);
  const TqCodec& codec = tq_codec(4, 128);
  const auto Hr = rotate_hessian(codec, H, n);
  rotate_rows(codec, x.data(), n_tok, n, x.data());
  const auto Hx = gram(x, n_tok, n);
  double max_rel = 0, scale = 0;
  for (double v : Hx) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < Hr.size(); ++i) max_rel = std::max(max_rel, std::fabs(Hr[i] - Hx[i]) / scale);
  EXPECT_LT(max_rel, 1e-5);
}

TEST(Gptq, GroupScaleSearch) {
  Rng rng(testing::test_seed("group scale"));
  for (int bits : {2, 3, 4}) {
    const TqCodec& codec = tq_codec(bits, 128);
    double e_norm = 0, e_ls = 0;
    for (int trial = 0; trial < 200; ++trial) {
      float v[128];
      for (float& f : v) f = static_cast<float>(0.03 * rng.normal());
      uint8_t i1[128], i2[128];
      const float s1 = quantize_group(codec, v, ScaleSearch::kNorm, i1);
      const float s2 = quantize_group(codec, v, ScaleSearch::kLeastSquares, i2);
      EXPECT_EQ(s2, f16_to_f32(f32_to_f16(s2)));
      e_norm += group_error(codec, v, s1, i1);
      e_ls += group_error(codec, v, s2, i2);
    }
    std::printf("bits %d: group MSE norm scale %.4g, LS scale %.4g\n", bits, e_norm, e_ls);
    EXPECT_LT(e_ls, e_norm * (bits == 2 ? 0.995 : 0.97)) << bits;
  }
  float zero[128] = {};
  uint8_t idx[128];
  EXPECT_EQ(quantize_group(tq_codec(3, 128), zero, ScaleSearch::kLeastSquares, idx), 0.0f);
}

// The methods in order: data-free LS scales beat norm scales on the weight error they minimize;
// on the output error tr(E H Eᵀ): data-free > GPTQ > GPTQ + closed-form scales.
TEST(Gptq, MethodsLowerOutputErrorInOrder) {
  Rng rng(testing::test_seed("methods"));
  const int64_t n = 512, rows = 64, n_tok = 1500;
  const auto x = correlated_inputs(rng, n_tok, n);
  const auto H = gram(x, n_tok, n);
  const auto w = random_weights(rng, rows, n);
  std::vector<float> wh(w.size());
  for (int bits : {2, 3, 4}) {
    auto err = [&](const TqTensor& t) {
      dequantize(t, wh.data());
      return hessian_weighted_error(w.data(), wh.data(), rows, n, H);
    };
    auto mse = [&](const TqTensor& t) {
      dequantize(t, wh.data());
      double s = 0;
      for (size_t i = 0; i < w.size(); ++i) s += (w[i] - wh[i]) * static_cast<double>(w[i] - wh[i]);
      return s;
    };
    const TqTensor df_norm = tq_quantize_datafree(w.data(), rows, n, bits, 128, ScaleSearch::kNorm);
    const TqTensor df_ls = tq_quantize_datafree(w.data(), rows, n, bits, 128);
    EXPECT_LT(mse(df_ls), mse(df_norm) * (bits == 2 ? 0.999 : 0.98)) << bits;
    const double e_norm = err(df_norm), e_ls = err(df_ls);
    auto g = tq_quantize_gptq(w.data(), rows, n, H, bits, 128);
    ASSERT_TRUE(g.ok());
    const double e_gptq = err(*g);
    const RefitReport rep = tq_refit_scales(*g, w.data(), H);
    const double e_refit = err(*g);
    std::printf("bits %d: tr(EHE^T) norm %.4g  LS %.4g  GPTQ %.4g  +refit %.4g (report %.4g -> %.4g)\n",
                bits, e_norm, e_ls, e_gptq, e_refit, rep.error_before, rep.error_after);
    EXPECT_LT(e_gptq, 0.5 * std::min(e_ls, e_norm));
    EXPECT_LE(e_refit, e_gptq * 1.0001);
    EXPECT_NEAR(rep.error_before, e_gptq, 1e-3 * e_gptq);
    EXPECT_NEAR(rep.error_after, e_refit, 1e-3 * e_refit);
  }
  // Baselines: GPTQ int4 beats round-to-nearest int4.
  auto err4 = [&](const Int4Tensor& t) {
    dequantize(t, wh.data());
    return hessian_weighted_error(w.data(), wh.data(), rows, n, H);
  };
  const double e_rtn4 = err4(rtn4_quantize(w.data(), rows, n));
  auto g4 = gptq4_quantize(w.data(), rows, n, H);
  ASSERT_TRUE(g4.ok());
  const double e_gptq4 = err4(*g4);
  std::printf("int4: rtn %.4g gptq %.4g\n", e_rtn4, e_gptq4);
  EXPECT_LT(e_gptq4, 0.8 * e_rtn4);
}

}  // namespace
}  // namespace tq

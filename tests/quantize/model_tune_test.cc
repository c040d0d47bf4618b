// The end-to-end scale objective (quantize/model_tune.h) on tiny random models: its gradient with
// respect to the scale multipliers against central finite differences, per tensor kind (uniform,
// fractional, embedding, hot rows, untied head), and the tuning's keep-or-restore contract.
#include <gtest/gtest.h>

#include <cmath>

#include "../common/test_seed.h"
#include "core/rng.h"
#include "quantize/block.h"
#include "quantize/model_tune.h"
#include "quantize/tensor_quant.h"
#include "../common/tiny_model.h"
#include "../common/test_result.h"

namespace tq {
namespace {

using ::tq::testing::tiny_model;

constexpr int kGroup = 32;

// Every matrix of `model` quantized data-free: linears at `bits` (layer 0's attn_q fractional
// bits+0.5, layer 1's ffn_down q8_0: a fixed tensor), the embedding at bits with 4 hot rows
// (when `hot`), an untied head at bits+1.
std::map<std::string, QuantizedTensor> quantize_all(const Model& model, int bits, bool hot) {
  std::map<std::string, QuantizedTensor> out;
  std::vector<std::string> names = {"token_embd.weight"};
  if (!model.tied_output) names.push_back("output.weight");
  for (int64_t l = 0; l < model.hp.n_layer; ++l)
    for (int i = 0; i < kNumBlockLinears; ++i)
      names.push_back("blk." + std::to_string(l) + "." + linear_name(static_cast<Linear>(i)) + ".weight");
  for (const std::string& name : names) {
    const TensorInfo* ti = model.file.find(name);
    EXPECT_TRUE(ti && ti->type == TypeId::f32) << name;
    const float* w = reinterpret_cast<const float*>(ti->data);
    const int64_t rows = ti->n_rows(), cols = ti->n_cols();
    QuantizedTensor q;
    if (name == "blk.1.ffn_down.weight") {
      auto r = quantize_with_format(name, TypeId::q8_0, w, rows, cols);
      testing::ok_or_throw(r.status());
      q = std::move(*r);
    } else {
      q.name = name;
      q.n_rows = rows;
      q.n_cols = cols;
      const int b = name == "output.weight" ? bits + 1 : bits;
      std::vector<uint8_t> wide;
      if (name == "blk.0.attn_q.weight") wide = tq_choose_wide_groups(w, rows, cols, kGroup, nullptr);
      q.tq = tq_quantize_datafree(w, rows, cols, b, kGroup, ScaleSearch::kLeastSquares, wide);
      if (hot && name == "token_embd.weight") q.add_hot_rows(w, {1, 7, 20, 100}, b, kGroup);
    }
    out[name] = std::move(q);
  }
  return out;
}

std::map<std::string, QuantizedTensor*> pointers(std::map<std::string, QuantizedTensor>& qs) {
  std::map<std::string, QuantizedTensor*> p;
  for (auto& [n, q] : qs) p[n] = &q;
  return p;
}

std::vector<std::vector<int32_t>> random_windows(Rng& rng, int64_t n, int64_t T, int64_t V) {
  std::vector<std::vector<int32_t>> ws(static_cast<size_t>(n));
  for (auto& w : ws)
    for (int64_t t = 0; t < T; ++t) w.push_back(static_cast<int32_t>(rng.below(static_cast<uint64_t>(V))));
  return ws;
}

class ModelTuneGrad : public ::testing::TestWithParam<std::string> {};

// Directional derivatives along random directions inside each tensor kind's multipliers (and
// along all of them) against central differences.
TEST_P(ModelTuneGrad, MatchesFiniteDifferences) {
  auto model = tiny_model(GetParam(), false);
  ASSERT_TRUE(model);
  Rng rng(testing::test_seed("e2e grad"));
  // 2 bits: a KLD well above the float noise of the finite differences (~1e-7).
  auto qs = quantize_all(*model, 2, true);
  auto windows = random_windows(rng, 2, 8, model->hp.n_vocab);
  windows[0][1] = 7;  // hot rows in the input (an untied embedding's hot rows get no other gradient)
  windows[1][3] = 100;
  ModelScaleObjective obj(*model, pointers(qs), windows);
  EXPECT_EQ(obj.n_fixed(), 1);
  const int64_t n = obj.n_multipliers();
  std::vector<float> m0(static_cast<size_t>(n));
  for (auto& v : m0) v = 1.0f + 0.05f * static_cast<float>(rng.normal());
  obj.set_multipliers(m0, false);
  const std::vector<int64_t> ws = {0, 1};
  std::vector<float> grad;
  const double f0 = obj.kld(ws, &grad);
  ASSERT_GT(f0, 0);
  ASSERT_EQ(static_cast<int64_t>(grad.size()), n);
  EXPECT_NEAR(obj.kld(ws, nullptr), f0, 1e-12 * f0) << "the backward pass changed the weights";

  struct Kind {
    const char* label;
    ModelScaleObjective::Range r;
  };
  std::vector<Kind> kinds = {{"all", {0, n}},
                             {"embedding", obj.range("token_embd.weight")},
                             {"embedding hot rows", obj.range("token_embd.weight", true)},
                             {"fractional attn_q", obj.range("blk.0.attn_q.weight")},
                             {"attn_k", obj.range("blk.1.attn_k.weight")},
                             {"ffn_gate", obj.range("blk.0.ffn_gate.weight")},
                             {"ffn_down (layer 0)", obj.range("blk.0.ffn_down.weight")}};
  if (!model->tied_output) kinds.push_back({"output head", obj.range("output.weight")});
  EXPECT_EQ(obj.range("blk.1.ffn_down.weight").count, 0) << "q8_0 is not tuned";
  const double eps = 3e-2;
  for (const Kind& k : kinds) {
    ASSERT_GT(k.r.count, 0) << k.label;
    // Direction: the gradient's part plus an equally long random part (unit length), so the
    // derivative along it is far from 0 and a wrong gradient direction shows.
    std::vector<double> d(static_cast<size_t>(k.r.count));
    double gn = 0, rn = 0, norm = 0;
    for (int64_t i = 0; i < k.r.count; ++i) gn += static_cast<double>(grad[k.r.offset + i]) * grad[k.r.offset + i];
    std::vector<double> r(d.size());
    for (auto& v : r) {
      v = rng.normal();
      rn += v * v;
    }
    ASSERT_GT(gn, 0) << k.label << ": a vanishing gradient proves nothing";
    for (int64_t i = 0; i < k.r.count; ++i) {
      d[i] = grad[k.r.offset + i] / std::sqrt(gn) + r[i] / std::sqrt(rn);
      norm += d[i] * d[i];
    }
    double analytic = 0;
    for (int64_t i = 0; i < k.r.count; ++i) {
      d[i] /= std::sqrt(norm);
      analytic += d[i] * grad[k.r.offset + i];
    }
    auto at = [&](double a) {
      std::vector<float> m = m0;
      for (int64_t i = 0; i < k.r.count; ++i) m[k.r.offset + i] += static_cast<float>(a * d[i]);
      obj.set_multipliers(m, false);
      return obj.kld(ws, nullptr);
    };
    const double fd = (at(eps) - at(-eps)) / (2 * eps);
    std::printf("%s %-20s %5lld multipliers: analytic %+.6e, finite difference %+.6e\n",
                GetParam().c_str(), k.label, static_cast<long long>(k.r.count), analytic, fd);
    EXPECT_NEAR(analytic, fd, 0.03 * std::fabs(fd) + 5e-4 * f0) << k.label;
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, ModelTuneGrad, ::testing::Values("tiny-llama3", "tiny-qwen2"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) if (c == '-') c = '_';
                           return s;
                         });

std::vector<float> all_scales(const std::map<std::string, QuantizedTensor>& qs) {
  std::vector<float> s;
  for (const auto& [n, q] : qs) {
    if (q.tq) s.insert(s.end(), q.tq->scales.begin(), q.tq->scales.end());
    if (q.hot) s.insert(s.end(), q.hot->scales.begin(), q.hot->scales.end());
  }
  return s;
}

// Kept: the committed fp16 scales give exactly the reported KLD, lower than before. Not kept (a
// learning rate that wrecks the scales): every scale is left bit for bit as it was. With held-out
// windows, they decide.
TEST(ModelTune, KeepsOnlyAnImprovement) {
  auto model = tiny_model("tiny-qwen2", false);
  ASSERT_TRUE(model);
  Rng rng(testing::test_seed("e2e keep"));
  const auto windows = random_windows(rng, 4, 8, model->hp.n_vocab);
  const auto holdout = random_windows(rng, 2, 8, model->hp.n_vocab);
  ModelTuneOptions opt;
  opt.steps = 30;
  opt.lr = 2e-3;
  opt.seed = rng.next_u64();
  {
    auto qs = quantize_all(*model, 2, true);
    const ModelTuneReport r = tune_model_scales(*model, pointers(qs), windows, {}, opt);
    std::printf("lr %.0e: KLD %.5f -> %.5f kept %d\n", opt.lr, r.kld_before, r.kld_tuned, r.kept);
    EXPECT_TRUE(r.kept);
    EXPECT_LT(r.kld_tuned, 0.98 * r.kld_before);
    ModelScaleObjective fresh(*model, pointers(qs), windows);
    EXPECT_NEAR(fresh.kld_all(), r.kld_tuned, 1e-9 * r.kld_tuned);
  }
  {
    auto qs = quantize_all(*model, 2, true);
    const std::vector<float> before = all_scales(qs);
    const ModelTuneReport r = tune_model_scales(*model, pointers(qs), windows, holdout, opt);
    std::printf("held out: KLD %.5f -> %.5f, held-out %.5f -> %.5f, kept %d\n", r.kld_before,
                r.kld_tuned, r.holdout_before, r.holdout_tuned, r.kept);
    EXPECT_EQ(r.n_holdout, 2);
    EXPECT_EQ(r.kept, r.holdout_tuned < r.holdout_before);
    ModelScaleObjective fresh(*model, pointers(qs), holdout);
    EXPECT_NEAR(fresh.kld_all(), r.kept ? r.holdout_tuned : r.holdout_before, 1e-9 * r.holdout_before);
    if (!r.kept) EXPECT_EQ(all_scales(qs), before);
  }
  {
    auto qs = quantize_all(*model, 2, true);
    const std::vector<float> before = all_scales(qs);
    opt.steps = 3;
    opt.lr = 5.0;
    const ModelTuneReport r = tune_model_scales(*model, pointers(qs), windows, {}, opt);
    std::printf("lr %.0e: KLD %.5f -> %.5f kept %d\n", opt.lr, r.kld_before, r.kld_tuned, r.kept);
    EXPECT_FALSE(r.kept);
    EXPECT_GT(r.kld_tuned, r.kld_before);
    EXPECT_EQ(all_scales(qs), before);
    ModelScaleObjective fresh(*model, pointers(qs), windows);
    EXPECT_NEAR(fresh.kld_all(), r.kld_before, 1e-9 * r.kld_before);
  }
}

}  // namespace
}  // namespace tq

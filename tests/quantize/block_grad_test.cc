// The block backward pass against central finite differences, for every architecture variant
// (llama with llama3 RoPE, qwen2 biases, qwen3 q/k norms, a GGUF llama's interleaved q/k rows),
// and one forward against the runtime Session (the same block arithmetic).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "../common/test_seed.h"
#include "core/rng.h"
#include "model/synth.h"
#include "../common/tiny_model.h"
#include "quantize/block.h"
#include "runtime/session.h"

namespace tq {
namespace {

using ::tq::testing::tiny_model;

struct Case {
  std::string preset;
  bool gguf;
};

class BlockGrad : public ::testing::TestWithParam<Case> {};

TEST_P(BlockGrad, MatchesFiniteDifferences) {
  const Case c = GetParam();
  auto model = tiny_model(c.preset, c.gguf);
  ASSERT_TRUE(model);
  if (c.gguf) ASSERT_TRUE(model->qk_interleaved);
  const HParams& hp = model->hp;
  Rng rng(testing::test_seed("block grad"));
  const int64_t T = 7, E = hp.n_embd, layer = 1;
  BlockRunner runner(*model);
  // Own f32 copies of the block's weights, perturbed by the finite differences.
  BlockLinears views = model_block_linears(*model, layer);
  std::vector<float> w[kNumBlockLinears];
  for (int i = 0; i < kNumBlockLinears; ++i) {
    const WeightView& v = views.w[i];
    ASSERT_EQ(v.type, TypeId::f32);
    const float* src = reinterpret_cast<const float*>(v.data);
    w[i].assign(src, src + v.n_rows * v.n_cols);
    views.w[i].data = reinterpret_cast<const uint8_t*>(w[i].data());
  }
  std::vector<float> x0(static_cast<size_t>(T * E)), tgt(x0.size());
  for (auto& v : x0) v = static_cast<float>(rng.normal());
  for (auto& v : tgt) v = static_cast<float>(rng.normal());
  auto loss = [&]() {
    std::vector<float> x = x0;
    runner.forward(layer, views, x.data(), T, nullptr);
    double s = 0;
    for (size_t i = 0; i < x.size(); ++i) s += 0.5 * (x[i] - tgt[i]) * static_cast<double>(x[i] - tgt[i]);
    return s;
  };
  BlockTape tape;
  std::vector<float> y = x0;
  runner.forward(layer, views, y.data(), T, &tape);
  std::vector<float> dy(y.size());
  for (size_t i = 0; i < y.size(); ++i) dy[i] = y[i] - tgt[i];
  BlockGrads grads;
  std::vector<float> dx(x0.size());
  runner.backward(layer, views, tape, dy.data(), grads, dx.data());
  const float eps = 1e-2f;
  {  // dL/dx of the block input
    double dmax = 0;
    for (float g : dx) dmax = std::max(dmax, std::fabs(static_cast<double>(g)));
    ASSERT_GT(dmax, 0);
    for (int k = 0; k < 8; ++k) {
      const size_t j = rng.below(x0.size());
      const float keep = x0[j];
      x0[j] = keep + eps;
      const double lp = loss();
      x0[j] = keep - eps;
      const double lm = loss();
      x0[j] = keep;
      const double fd = (lp - lm) / (2 * eps);
      EXPECT_NEAR(dx[j], fd, 0.02 * std::max(std::fabs(fd), std::fabs(static_cast<double>(dx[j]))) + 2e-3 * dmax)
          << c.preset << " dx entry " << j;
    }
  }
  for (int i = 0; i < kNumBlockLinears; ++i) {
    double gmax = 0;
    for (float g : grads.g[i]) gmax = std::max(gmax, std::fabs(static_cast<double>(g)));
    ASSERT_GT(gmax, 0) << linear_name(static_cast<Linear>(i));
    double worst = 0;
    for (int k = 0; k < 8; ++k) {
      const size_t j = rng.below(w[i].size());
      const float keep = w[i][j];
      w[i][j] = keep + eps;
      const double lp = loss();
      w[i][j] = keep - eps;
      const double lm = loss();
      w[i][j] = keep;
      const double fd = (lp - lm) / (2 * eps);
      const double an = grads.g[i][j];
      worst = std::max(worst, std::fabs(fd - an) / gmax);
      EXPECT_NEAR(an, fd, 0.02 * std::max(std::fabs(fd), std::fabs(an)) + 2e-3 * gmax)
          << c.preset << " " << linear_name(static_cast<Linear>(i)) << " entry " << j;
    }
    std::printf("%s%s %-11s max|dL/dW| %.3g, worst |fd - analytic| / max %.2e\n", c.preset.c_str(),
                c.gguf ? " (gguf)" : "", linear_name(static_cast<Linear>(i)), gmax, worst);
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, BlockGrad,
                         ::testing::Values(Case{"tiny-llama3", false}, Case{"tiny-llama3", true},
                                         Case{"tiny-qwen2", false}, Case{"tiny-qwen3", false}),
                         [](const auto& info) {
                           std::string n = info.param.preset + (info.param.gguf ? "_gguf" : "");
                           for (char& ch : n) if (ch == '-') ch = '_';
                           return n;
                         });

// The output head's backward (weights and input) against finite differences.
TEST(BlockRunner, HeadBackwardMatchesFiniteDifferences) {
  auto model = tiny_model("tiny-llama3", false);
  ASSERT_TRUE(model);
  Rng rng(testing::test_seed("head grad"));
  const int64_t T = 5, E = model->hp.n_embd, V = model->hp.n_vocab;
  BlockRunner runner(*model);
  ASSERT_EQ(model->output.type, TypeId::f32);
  const float* src = reinterpret_cast<const float*>(model->output.data);
  std::vector<float> w(src, src + V * E);
  const WeightView out = f32_view(model->output, w.data());
  std::vector<float> x(static_cast<size_t>(T * E)), r(static_cast<size_t>(T * V));
  for (auto& v : x) v = static_cast<float>(rng.normal());
  for (auto& v : r) v = static_cast<float>(rng.normal());
  auto loss = [&]() {  // L = Σ r ∘ logits
    std::vector<float> logits(r.size());
    runner.head(out, x.data(), T, logits.data());
    double s = 0;
    for (size_t i = 0; i < r.size(); ++i) s += static_cast<double>(r[i]) * logits[i];
    return s;
  };
  std::vector<float> gw, dx(x.size());
  runner.head_backward(out, x.data(), T, r.data(), &gw, dx.data());
  ASSERT_EQ(gw.size(), w.size());
  double gmax = 0, dmax = 0;
  for (float g : gw) gmax = std::max(gmax, std::fabs(static_cast<double>(g)));
  for (float g : dx) dmax = std::max(dmax, std::fabs(static_cast<double>(g)));
  const float eps = 1e-2f;
  for (int k = 0; k < 10; ++k) {
    const size_t j = rng.below(w.size());
    const float keep = w[j];
    w[j] = keep + eps;
    const double lp = loss();
    w[j] = keep - eps;
    const double lm = loss();
    w[j] = keep;
    const double fw = (lp - lm) / (2 * eps);
    EXPECT_NEAR(gw[j], fw, 0.02 * std::fabs(fw) + 2e-3 * gmax) << "dW entry " << j;
    const size_t i = rng.below(x.size());
    const float kx = x[i];
    x[i] = kx + eps;
    const double xp = loss();
    x[i] = kx - eps;
    const double xm = loss();
    x[i] = kx;
    const double fx = (xp - xm) / (2 * eps);
    EXPECT_NEAR(dx[i], fx, 0.02 * std::fabs(fx) + 2e-3 * dmax) << "dx entry " << i;
  }
}

// Embedding + blocks + head through BlockRunner = Session's logits (f32 KV cache).
TEST(BlockRunner, MatchesSession) {
  for (const Case& c : {Case{"tiny-llama3", false}, Case{"tiny-llama3", true}, Case{"tiny-qwen3", false}}) {
    auto model = tiny_model(c.preset, c.gguf);
    const int64_t T = 12, E = model->hp.n_embd, V = model->hp.n_vocab;
    std::vector<int32_t> ids;
    for (int64_t t = 0; t < T; ++t) ids.push_back(static_cast<int32_t>((t * 37 + 5) % V));
    BlockRunner runner(*model);
    std::vector<float> x(static_cast<size_t>(T * E)), logits(static_cast<size_t>(T * V));
    runner.embed(model->tok_embd, ids.data(), T, x.data());
    for (int64_t l = 0; l < model->hp.n_layer; ++l)
      runner.forward(l, model_block_linears(*model, l), x.data(), T, nullptr);
    runner.head(model->output, x.data(), T, logits.data());
    auto s = Session::create(*model, {64, 256, {"f32", "f32", {}, 0}});
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->eval(ids, LogitsMode::kAll).ok());
    double max_diff = 0;
    for (int64_t i = 0; i < T * V; ++i)
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(logits[i]) - (*s)->logits()[i]));
    EXPECT_LT(max_diff, 1e-4) << c.preset;
  }
}

}  // namespace
}  // namespace tq

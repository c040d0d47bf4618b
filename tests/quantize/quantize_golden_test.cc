// The quantization methods on the real tq-ref-s (calibration from corpus/train-00.txt, never
// valid.txt): each step lowers the error it targets, block-output tuning lowers the block's output
// error, and a quantized model lands in a pinned quality range on valid.txt.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/file_util.h"
#include "eval/perplexity.h"
#include "formats/format.h"
#include "io/tokenizer.h"
#include "quantize/pipeline.h"
#include "runtime/session.h"
#include "../common/scratch_dir.h"
#include "../common/test_result.h"

namespace tq {
namespace {
namespace fs = std::filesystem;

const std::string kData = TQ_SHARED_DATA;
const std::string kModel = kData + "/models/tq-ref-s";
const std::string kTrain = kData + "/corpus/train-00.txt";
const std::string kValid = kData + "/corpus/valid.txt";

std::vector<float> weights_f32(const Model& m, const std::string& name) {
  const TensorInfo* t = m.file.find(name);
  std::vector<float> w(static_cast<size_t>(t->n_elements()));
  const size_t rb = *row_bytes(t->type, t->n_cols());
  for (int64_t r = 0; r < t->n_rows(); ++r)
    find_format(t->type)->to_float(t->data + r * rb, w.data() + r * t->n_cols(), t->n_cols());
  return w;
}

class QuantizeGolden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = load_model(kModel);
    ASSERT_TRUE(m.ok()) << m.status().to_string();
    model_ = std::move(*m).release();
    CalibrationOptions c;
    c.text_path = kTrain;
    c.n_windows = 32;
    c.progress = false;
    auto w = calibration_windows(*model_, c);
    ASSERT_TRUE(w.ok()) << w.status().to_string();
    windows_ = new std::vector<std::vector<int32_t>>(*w);
    auto h = collect_hessians(*model_, *w, {}, false);
    ASSERT_TRUE(h.ok());
    hessians_ = new HessianSet(std::move(*h));
  }
  static void TearDownTestSuite() {
    delete hessians_;
    delete windows_;
    delete model_;
  }
  static Model* model_;
  static std::vector<std::vector<int32_t>>* windows_;
  static HessianSet* hessians_;
};
Model* QuantizeGolden::model_ = nullptr;
std::vector<std::vector<int32_t>>* QuantizeGolden::windows_ = nullptr;
HessianSet* QuantizeGolden::hessians_ = nullptr;

// The inputs of one linear layer, captured through the same hook the calibration uses.
class InputCapture final : public ForwardObserver {
 public:
  explicit InputCapture(InputKey key) : key_(key) {}
  void on_linear_input(int64_t layer, LinearInput which, const float* x, int64_t n_tokens,
                       int64_t n_cols) override {
    if (layer != key_.first || which != key_.second) return;
    n = n_cols;
    rows.insert(rows.end(), x, x + n_tokens * n_cols);
  }
  int64_t n = 0;
  std::vector<float> rows;  // [tokens, n]

 private:
  InputKey key_;
};

TEST_F(QuantizeGolden, HessiansAreGramMatricesOfTheInputs) {
  // 32 windows of 512 tokens; 4 inputs per layer plus the head.
  EXPECT_EQ(hessians_->n_tokens, 32 * 512);
  EXPECT_EQ(hessians_->h.size(), 6u * 4 + 1);
  for (const auto& [k, e] : hessians_->h)
    for (int64_t i = 0; i < e.n; i += 17) EXPECT_GT(e.H[i * e.n + i], 0);
  // Against XᵀX computed here, naively in double, from the layer inputs of two windows (the
  // symmetry alone proves nothing: the calibration mirrors its upper triangle). Each element
  // within float rounding of its 512-term window sums: 4e-5 (≈ 512 · 2^-24 · 4) of Σ|x_i x_j|.
  const std::vector<std::vector<int32_t>> two(windows_->begin(), windows_->begin() + 2);
  for (const InputKey key : {InputKey{1, LinearInput::kAttnIn}, InputKey{3, LinearInput::kFfnDown},
                             InputKey{6, LinearInput::kHead}}) {
    auto h = collect_hessians(*model_, two, {key}, false);
    ASSERT_TRUE(h.ok()) << h.status().to_string();
    const HessianSet::Entry* e = h->find(key);
    ASSERT_NE(e, nullptr);
    InputCapture cap(key);
    auto s = Session::create(*model_, {512, 512, {}});
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    (*s)->set_observer(&cap);
    for (const auto& w : two) {
      (*s)->reset();
      ASSERT_TRUE((*s)->eval(w, LogitsMode::kAll).ok());
    }
    const int64_t n = cap.n, T = static_cast<int64_t>(cap.rows.size()) / n;
    ASSERT_EQ(e->n, n);
    ASSERT_EQ(T, 2 * 512);
    double worst = 0;  // largest |H - XᵀX| / Σ|x_i x_j|
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double ref = 0, mag = 0;
        for (int64_t t = 0; t < T; ++t) {
          const double p = static_cast<double>(cap.rows[t * n + i]) * cap.rows[t * n + j];
          ref += p;
          mag += std::fabs(p);
        }
        worst = std::max(worst, std::fabs(e->H[i * n + j] - ref) / std::max(mag, 1e-30));
      }
    std::printf("H of layer %lld input %d (%lld x %lld): max |H - XᵀX| / Σ|x_i x_j| = %.3g\n",
                static_cast<long long>(key.first), static_cast<int>(key.second),
                static_cast<long long>(n), static_cast<long long>(n), worst);
    EXPECT_LT(worst, 4e-5);
  }
}

TEST_F(QuantizeGolden, MethodsLowerLayerErrorInOrder) {
  for (const char* name : {"blk.1.attn_q.weight", "blk.3.ffn_down.weight", "blk.5.attn_output.weight"}) {
    InputKey key;
    ASSERT_TRUE(input_key_of(name, 6, &key));
    const auto* H = hessians_->find(key);
    ASSERT_TRUE(H);
    const TensorInfo* ti = model_->file.find(name);
    const int64_t R = ti->n_rows(), C = ti->n_cols();
    const std::vector<float> w = weights_f32(*model_, name);
    std::vector<float> wh(w.size());
    for (int bits : {2, 3, 4}) {
      auto out_err = [&](const TqTensor& t) {
        dequantize(t, wh.data());
        return hessian_weighted_error(w.data(), wh.data(), R, C, H->H);
      };
      auto mse = [&](const TqTensor& t) {
        dequantize(t, wh.data());
        double s = 0;
        for (size_t i = 0; i < w.size(); ++i) s += (w[i] - wh[i]) * static_cast<double>(w[i] - wh[i]);
        return s;
      };
      const TqTensor norm = tq_quantize_datafree(w.data(), R, C, bits, 128, ScaleSearch::kNorm);
      const TqTensor ls = tq_quantize_datafree(w.data(), R, C, bits, 128);
      auto g = tq_quantize_gptq(w.data(), R, C, H->H, bits, 128);
      ASSERT_TRUE(g.ok());
      const double e_ls = out_err(ls), e_gptq = out_err(*g);
      tq_refit_scales(*g, w.data(), H->H);
      const double e_lsq = out_err(*g);
      std::printf("%s tq%d: weight MSE norm %.4g > LS %.4g; output error data-free %.4g > GPTQ %.4g >= +lsq %.4g\n",
                  name, bits, mse(norm), mse(ls), e_ls, e_gptq, e_lsq);
      EXPECT_LT(mse(ls), mse(norm));
      EXPECT_LT(e_gptq, 0.85 * e_ls);
      EXPECT_LE(e_lsq, e_gptq);
    }
  }
}

TEST_F(QuantizeGolden, BlockTuningLowersBlockOutputError) {
  const int64_t L = 2, T = 512, E = model_->hp.n_embd;
  CalibrationOptions c;
  c.text_path = kTrain;
  c.n_windows = 4;
  c.seed = 7;
  auto windows = calibration_windows(*model_, c);
  ASSERT_TRUE(windows.ok());
  BlockRunner runner(*model_);
  std::vector<float> h(static_cast<size_t>(4 * T * E));
  for (int w = 0; w < 4; ++w) {
    runner.embed(model_->tok_embd, (*windows)[w].data(), T, h.data() + w * T * E);
    for (int64_t l = 0; l < L; ++l)
      runner.forward(l, model_block_linears(*model_, l), h.data() + w * T * E, T, nullptr);
  }
  std::vector<float> target = h;
  for (int w = 0; w < 4; ++w)
    runner.forward(L, model_block_linears(*model_, L), target.data() + w * T * E, T, nullptr);
  TqTensor q[kNumBlockLinears];
  TqTensor* ptr[kNumBlockLinears];
  const BlockLinears src = model_block_linears(*model_, L);
  for (int i = 0; i < kNumBlockLinears; ++i) {
    const std::string name = fmt::format("blk.{}.{}.weight", L, linear_name(static_cast<Linear>(i)));
    const std::vector<float> w = weights_f32(*model_, name);
    q[i] = tq_quantize_datafree(w.data(), src.w[i].n_rows, src.w[i].n_cols, 3, 128);
    ptr[i] = &q[i];
  }
  BlockTuneOptions o;
  o.steps = 40;
  const BlockTuneReport rep = tune_block_scales(runner, L, ptr, src, h, target, T, o);
  std::printf("block %lld output MSE %.4g -> %.4g in %.1f s\n", static_cast<long long>(L),
              rep.loss_before, rep.loss_after, rep.seconds);
  EXPECT_TRUE(rep.kept);
  EXPECT_LT(rep.loss_after, 0.9 * rep.loss_before);
}

// Quantize tq-ref-s with GPTQ + closed-form scales at 3 and 3.5 bits (the fractional format, its
// group maps in the file), then PPL / KLD on valid.txt.
TEST_F(QuantizeGolden, QuantizedModelInPinnedRange) {
  const fs::path dir = testing::scratch_dir("quant_golden");
  auto tok = Tokenizer::from_model_file(model_->file);
  ASSERT_TRUE(tok.ok());
  const auto ids = (*tok)->encode(*read_file(kValid), true);
  auto run = [&](const Model& m, const std::string& save, const std::string& base) {
    auto s = Session::create(m, {512, 512, {}});
    testing::ok_or_throw(s.status());
    PerplexityOptions po;
    po.max_chunks = 20;
    po.progress = false;
    po.save_logits_path = save;
    po.kld_base_path = base;
    auto r = perplexity(**s, ids, po);
    testing::ok_or_throw(r.status());
    return *r;
  };
  const std::string base = (dir / "base.logits").string();
  const PerplexityResult b = run(*model_, base, "");
  auto quantized = [&](const std::string& recipe, double bpw) {
    QuantizeOptions o;
    o.recipe = *parse_recipe(recipe);
    o.method = *parse_method("gptq+lsq");
    o.calib.text_path = kTrain;
    o.calib.n_windows = 32;
    o.progress = false;
    const std::string out = (dir / ("s_" + recipe + ".gguf")).string();
    auto rep = quantize_model(*model_, out, o);
    testing::ok_or_throw(rep.status());
    EXPECT_NEAR(rep->bpw, bpw, 1e-3) << recipe;
    auto qm = load_model(out);
    testing::ok_or_throw(qm.status());
    const PerplexityResult q = run(**qm, "", base);
    EXPECT_TRUE(q.kld.has_value());
    std::printf("tq-ref-s %s gptq+lsq: PPL %.4f (base %.4f), KLD %.5f, top-1 %.4f\n", recipe.c_str(),
                q.ppl, b.ppl, q.kld->mean, q.kld->top1_agreement);
    return q;
  };
  // Pinned (32 calibration windows, seed 0; 20 windows of valid.txt). Linears tq3g128 (3.125),
  // embedding tq5g128, norms f32.
  const PerplexityResult q3 = quantized("tq3", 3.7537);
  EXPECT_NEAR(q3.ppl, 42.965, 0.2);
  EXPECT_NEAR(q3.kld->mean, 0.0887, 0.004);
  EXPECT_NEAR(q3.kld->top1_agreement, 0.8005, 0.01);
  // Linears tq3.5g128 (3.625 + 2 map bytes per tensor), embedding tq5.5g128.
  const PerplexityResult q35 = quantized("tq3.5", 4.2537);
  EXPECT_NEAR(q35.ppl, 41.597, 0.2);
  EXPECT_NEAR(q35.kld->mean, 0.0536, 0.003);
  EXPECT_LT(q35.kld->mean, 0.75 * q3.kld->mean);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tq

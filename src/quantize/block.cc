#include "quantize/block.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "kernels/ops.h"
#include "quantize/linalg.h"

namespace tq {
namespace {

// Exact causal attention over the window (positions 0..T−1), f32 GEMMs per head; the softmax
// rows go to `probs` ([n_head, T, T] when keep_all, else one head's [T, T] reused).
class ExactAttention final : public BlockAttention {
 public:
  ExactAttention(const HParams& hp, int64_t T, std::vector<float>& probs, bool keep_all)
      : hp_(hp), T_(T), probs_(probs), keep_all_(keep_all) {
    probs_.assign(static_cast<size_t>(keep_all ? hp.n_head * T * T : T * T), 0.0f);
  }
  void attend(int64_t, const float* q, const float* k, const float* v, float* out) override {
    const int64_t T = T_, D = hp_.head_dim, QD = hp_.q_dim(), KD = hp_.kv_dim();
    const int64_t G = hp_.n_gqa();
    const float scale = 1.0f / std::sqrt(static_cast<float>(D));
    for (int64_t h = 0; h < hp_.n_head; ++h) {
      const int64_t kh = h / G;
      float* P = probs_.data() + (keep_all_ ? h * T * T : 0);
      sgemm(false, true, T, T, D, scale, q + h * D, QD, k + kh * D, KD, 0.0f, P, T);
      for (int64_t i = 0; i < T; ++i) {
        float* row = P + i * T;
        softmax(row, i + 1);
        std::fill(row + i + 1, row + T, 0.0f);
      }
      sgemm(false, false, T, D, T, 1.0f, P, T, v + kh * D, KD, 0.0f, out + h * D, QD);
    }
  }

 private:
  const HParams& hp_;
  int64_t T_;
  std::vector<float>& probs_;
  bool keep_all_;
};

}  // namespace

BlockRunner::BlockRunner(const Model& model) : model_(model) {
  auto backend = make_backend("cpu");
  TQ_CHECK(backend.ok(), "the CPU backend: {}", backend.status().to_string());
  backend_ = std::move(*backend);
  forward_ = std::make_unique<Forward>(model, *backend_);
}

void BlockRunner::step(const int32_t* tokens, int64_t T) const {
  if (static_cast<int64_t>(zeros_.size()) < T) zeros_.assign(static_cast<size_t>(T), 0);
  positions_.resize(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) positions_[t] = t;
  backend_->set_step(tokens ? tokens : zeros_.data(), positions_.data(), T);
  if (rope_T_ == T) return;  // the same positions 0..T−1: the same angles
  cos_sin_.resize(static_cast<size_t>(T * std::max<int64_t>(2, model_.hp.rope.n_rot)));
  backend_->rope_angles(model_.rope_inv_freq, cos_sin_.data());
  rope_T_ = T;
}

void BlockRunner::embed(const WeightView& tok_embd, const int32_t* tokens, int64_t T,
                        float* x) const {
  step(tokens, T);
  forward_->embed(tok_embd, nullptr, x);
}

void BlockRunner::head(const WeightView& output, const float* x, int64_t T, float* logits) const {
  std::vector<float> xn(static_cast<size_t>(T * model_.hp.n_embd));
  forward_->head(output, nullptr, x, T, xn.data(), nullptr, logits, nullptr);
}

void BlockRunner::forward(int64_t layer, const BlockLinears& w, float* x, int64_t T,
                          BlockTape* tape) const {
  const HParams& hp = model_.hp;
  const int64_t E = hp.n_embd, QD = hp.q_dim(), KD = hp.kv_dim(), F = hp.n_ff;
  const bool qk_norm = !model_.layers[layer].q_norm.empty();
  step(nullptr, T);
  BlockTape local;
  BlockTape& tp = tape ? *tape : local;
  tp.n_tokens = T;
  auto sized = [](std::vector<float>& v, int64_t n) {
    v.resize(static_cast<size_t>(n));
    return v.data();
  };
  BlockActs a;
  a.xn1 = sized(tp.xn1, T * E);
  a.q_raw = sized(tp.q_raw, T * QD);
  a.k_raw = sized(tp.k_raw, T * KD);
  if (qk_norm) {
    a.q = sized(tp.q, T * QD);
    a.k = sized(tp.k, T * KD);
  } else {
    tp.q.clear();
    tp.k.clear();
  }
  a.v = sized(tp.v, T * KD);
  a.attn = sized(tp.attn, T * QD);
  a.h = sized(tp.h, T * E);
  a.xn2 = sized(tp.xn2, T * E);
  a.gate = sized(tp.gate, T * F);
  a.up = sized(tp.up, T * F);
  a.act = sized(tp.act, T * F);
  std::vector<float> tmp(static_cast<size_t>(T * E));
  a.tmp = tmp.data();
  if (tape) tp.x_in.assign(x, x + T * E);
  ExactAttention attention(hp, T, tp.probs, tape != nullptr);
  forward_->block(layer, w, x, a, cos_sin_.data(), attention, nullptr);
}

}  // namespace tq

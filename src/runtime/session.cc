#include "runtime/session.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/memory_info.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "runtime/kv_channel_stats.h"
#include "runtime/session_memory.h"

namespace tq {
namespace {

void add_bias(float* x, const std::vector<float>& b, int64_t n_tokens) {
  if (b.empty()) return;
  const int64_t n = static_cast<int64_t>(b.size());
  for (int64_t t = 0; t < n_tokens; ++t) add_inplace(x + t * n, b.data(), n);
}

// GGUF (arch llama) stores each head's Q/K rows permuted for interleaved RoPE: row 2i + s holds HF
// row s * d/2 + i. Undoing it on the projected vectors restores HF's rotate-half order exactly.
void deinterleave_heads(float* x, int64_t n_heads_total, int64_t d, float* tmp) {
  const int64_t half = d / 2;
  for (int64_t h = 0; h < n_heads_total; ++h) {
    float* xh = x + h * d;
    for (int64_t i = 0; i < half; ++i) {
      tmp[i] = xh[2 * i];
      tmp[half + i] = xh[2 * i + 1];
    }
    std::copy_n(tmp, d, xh);
  }
}

}  // namespace

Session::Session(const Model& model, std::unique_ptr<KvCache> kv, int64_t n_batch)
    : model_(model), kv_(std::move(kv)), n_batch_(n_batch) {
  const HParams& hp = model.hp;
  const int64_t wide = std::max({hp.n_embd, hp.q_dim(), hp.kv_dim()});
  x_.resize(n_batch * hp.n_embd);
  xn_.resize(n_batch * wide);
  q_.resize(n_batch * hp.q_dim());
  k_.resize(n_batch * hp.kv_dim());
  v_.resize(n_batch * hp.kv_dim());
  tmp_.resize(n_batch * wide);
  gate_.resize(n_batch * hp.n_ff);
  up_.resize(n_batch * hp.n_ff);
  cos_sin_.resize(n_batch * std::max<int64_t>(2, hp.rope.n_rot));
}

Result<std::unique_ptr<Session>> Session::create(const Model& model, const SessionOptions& opts) {
  const HParams& hp = model.hp;
  const int64_t n_ctx = session_context(hp, opts.n_ctx);
  if (opts.n_ctx < 0) return invalid_argument("context size {} must be positive", opts.n_ctx);
  const KvCacheShape shape{hp.n_layer, n_ctx, hp.n_head, hp.n_head_kv, hp.head_dim};
  // Refuse a context that cannot fit before allocating anything (runtime/session_memory.h).
  TQ_ASSIGN_OR_RETURN(const SessionMemory need, session_memory(model, opts));
  TQ_RETURN_IF_ERROR(check_session_memory(model, need, available_memory_bytes()));
  KvCacheConfig cfg = opts.kv;
  {  // outlier-split / transform formats without calibration: the data-free estimate
    TQ_ASSIGN_OR_RETURN(KvLayerFormats f, resolve_kv_formats(hp.n_layer, cfg));
    const bool cov = kv_needs_covariance(f);
    if (kv_needs_channel_stats(f) &&
        (!cfg.channel_stats || (cov && !cfg.channel_stats->has_covariances()))) {
      TQ_ASSIGN_OR_RETURN(KvChannelStats st, kv_channel_stats_from_weights(model, cov));
      cfg.channel_stats = std::make_shared<const KvChannelStats>(std::move(st));
    }
  }
  TQ_ASSIGN_OR_RETURN(auto kv, make_kv_cache(shape, cfg));
  return create(model, std::move(kv), opts);
}

Result<std::unique_ptr<Session>> Session::create(const Model& model, std::unique_ptr<KvCache> kv,
                                                 const SessionOptions& opts) {
  const HParams& hp = model.hp;
  if (!kv) return invalid_argument("Session::create: no KV cache");
  const KvCacheShape& s = kv->shape();
  if (s.n_layers != hp.n_layer || s.n_heads != hp.n_head || s.n_kv_heads != hp.n_head_kv ||
      s.head_dim != hp.head_dim || s.n_ctx <= 0)
    return invalid_argument(
        "KV cache shape ({} layers, heads {}/{}, head_dim {}) does not match the model ({})",
        s.n_layers, s.n_heads, s.n_kv_heads, s.head_dim, hp.to_string());
  if (opts.n_batch <= 0 || opts.n_batch > (int64_t{1} << 16))
    return invalid_argument("batch size {} must be in [1, 65536]", opts.n_batch);
  return std::unique_ptr<Session>(
      new Session(model, std::move(kv), std::min(opts.n_batch, s.n_ctx)));
}

std::span<const float> Session::last_logits() const {
  if (n_logit_rows_ == 0) return {};
  return {logits_.data() + (n_logit_rows_ - 1) * n_vocab(), static_cast<size_t>(n_vocab())};
}

void Session::reset() {
  n_past_ = 0;
  n_logit_rows_ = 0;
  kv_->clear();
}

Status Session::eval(std::span<const int32_t> tokens, LogitsMode mode) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return invalid_argument("eval: no tokens");
  if (n_past_ + n > n_ctx())
    return out_of_range(
        "{} tokens do not fit the context: {} of {} positions are used (a larger --ctx?)", n,
        n_past_, n_ctx());
  for (int64_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= n_vocab())
      return invalid_argument("token id {} at index {} is outside the vocabulary [0, {})",
                              tokens[i], i, n_vocab());
  n_logit_rows_ = mode == LogitsMode::kAll ? n : mode == LogitsMode::kLast ? 1 : 0;
  logits_.resize(static_cast<size_t>(n_logit_rows_ * n_vocab()));
  for (int64_t c0 = 0; c0 < n; c0 += n_batch_) {
    const int64_t c = std::min(n_batch_, n - c0);
    float* out = nullptr;
    int64_t out_first = c;
    if (mode == LogitsMode::kAll) {
      out = logits_.data() + c0 * n_vocab();
      out_first = 0;
    } else if (mode == LogitsMode::kLast && c0 + c == n) {
      out = logits_.data();
      out_first = c - 1;
    }
    forward(tokens.data() + c0, c, n_past_ + c0, out_first, out);
  }
  n_past_ += n;
  // A NaN or Inf logit means damaged weights or an overflow: an error, never a sampled token or a
  // "PPL nan" (issue 12). One pass over the logits, small next to the forward pass.
  for (size_t i = 0; i < logits_.size(); ++i)
    if (!std::isfinite(logits_[i])) {
      const int64_t row = static_cast<int64_t>(i) / n_vocab();
      const int64_t t = mode == LogitsMode::kAll ? row : n - 1;
      return corrupt_file("{}: the model computed a non-finite logit ({} for vocabulary entry {}) at "
                          "position {} (token {}): its weights are damaged or its activations "
                          "overflow",
                          model_.file.path,
                          std::isnan(logits_[i]) ? "NaN" : logits_[i] > 0 ? "+Inf" : "-Inf",
                          static_cast<int64_t>(i) % n_vocab(),
                          n_past_ - n + t, tokens[t]);
    }
  return ok_status();
}

void Session::rope_table(int64_t pos0, int64_t n) {
  const auto& inv = model_.rope_inv_freq;
  const int64_t half = static_cast<int64_t>(inv.size());
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < half; ++i) {
      // Angles in double: positions up to 1e5+ times frequencies near 1 lose digits in f32.
      const double a = static_cast<double>(pos0 + t) * inv[i];
      cos_sin_[(t * half + i) * 2] = static_cast<float>(std::cos(a));
      cos_sin_[(t * half + i) * 2 + 1] = static_cast<float>(std::sin(a));
    }
}

void Session::forward(const int32_t* tokens, int64_t n, int64_t pos0, int64_t out_first,
                      float* logits) {
  const HParams& hp = model_.hp;
  const int64_t E = hp.n_embd, QD = hp.q_dim(), KD = hp.kv_dim(), F = hp.n_ff, D = hp.head_dim;
  const int64_t half = hp.rope.n_rot / 2;
  float* x = x_.data();
  for (int64_t t = 0; t < n; ++t) {
    weight_row_to_float(model_.tok_embd, tokens[t], x + t * E);
    const HotRows& hot = model_.tok_embd_hot;
    if (!hot.slot.empty() && hot.slot[tokens[t]] >= 0) {  // + the hot row's residual
      weight_row_to_float(hot.rows, hot.slot[tokens[t]], tmp_.data());
      add_inplace(x + t * E, tmp_.data(), E);
    }
  }
  rope_table(pos0, n);

  for (int64_t il = 0; il < hp.n_layer; ++il) {
    const LayerWeights& L = model_.layers[il];
    if (observer_) observer_->on_block_input(il, x, n, E);
    // ---- attention ----
    rmsnorm(x, L.attn_norm.data(), n, E, hp.rms_eps, xn_.data());
    if (observer_) observer_->on_linear_input(il, LinearInput::kAttnIn, xn_.data(), n, E);
    {
      const WeightView* w[] = {&L.wq, &L.wk, &L.wv};
      float* y[] = {q_.data(), k_.data(), v_.data()};
      matmul_multi(w, xn_.data(), n, y);
    }
    add_bias(q_.data(), L.bq, n);
    add_bias(k_.data(), L.bk, n);
    add_bias(v_.data(), L.bv, n);
    if (model_.qk_interleaved) {
      deinterleave_heads(q_.data(), n * hp.n_head, D, tmp_.data());
      deinterleave_heads(k_.data(), n * hp.n_head_kv, D, tmp_.data());
    }
    if (!L.q_norm.empty()) {
      rmsnorm(q_.data(), L.q_norm.data(), n * hp.n_head, D, hp.rms_eps, q_.data());
      rmsnorm(k_.data(), L.k_norm.data(), n * hp.n_head_kv, D, hp.rms_eps, k_.data());
    }
    if (half > 0)
      for (int64_t t = 0; t < n; ++t) {
        const float* cs = cos_sin_.data() + t * half * 2;
        rope_neox(q_.data() + t * QD, hp.n_head, D, hp.rope.n_rot, cs);
        rope_neox(k_.data() + t * KD, hp.n_head_kv, D, hp.rope.n_rot, cs);
      }
    kv_->append(il, pos0, n, k_.data(), v_.data());
    kv_->attend(il, q_.data(), n, pos0, xn_.data());
    if (observer_) observer_->on_linear_input(il, LinearInput::kAttnOut, xn_.data(), n, QD);
    matmul(L.wo, xn_.data(), n, tmp_.data());
    add_inplace(x, tmp_.data(), n * E);
    // ---- feed-forward (SwiGLU) ----
    rmsnorm(x, L.ffn_norm.data(), n, E, hp.rms_eps, xn_.data());
    if (observer_) observer_->on_linear_input(il, LinearInput::kFfnIn, xn_.data(), n, E);
    {
      const WeightView* w[] = {&L.w_gate, &L.w_up};
      float* y[] = {gate_.data(), up_.data()};
      matmul_multi(w, xn_.data(), n, y);
    }
    silu_mul(gate_.data(), up_.data(), n * F);
    if (observer_) observer_->on_linear_input(il, LinearInput::kFfnDown, gate_.data(), n, F);
    matmul(L.w_down, gate_.data(), n, tmp_.data());
    add_inplace(x, tmp_.data(), n * E);
  }
  if (observer_) observer_->on_block_input(hp.n_layer, x, n, E);
  if (!logits || out_first >= n) return;
  const int64_t n_out = n - out_first;
  rmsnorm(x + out_first * E, model_.output_norm.data(), n_out, E, hp.rms_eps, xn_.data());
  if (observer_)
    observer_->on_linear_input(hp.n_layer, LinearInput::kHead, xn_.data(), n_out, E);
  matmul(model_.output, xn_.data(), n_out, logits);
  // The head's hot rows (a tied head: the embedding's): their residual logits on those tokens.
  if (const HotRows& hot = model_.head_hot(); !hot.empty()) {
    const int64_t K = static_cast<int64_t>(hot.ids.size()), V = hp.n_vocab;
    hot_logits_.resize(static_cast<size_t>(n_out * K));
    matmul(hot.rows, xn_.data(), n_out, hot_logits_.data());
    for (int64_t t = 0; t < n_out; ++t)
      for (int64_t k = 0; k < K; ++k) logits[t * V + hot.ids[k]] += hot_logits_[t * K + k];
  }
}

}  // namespace tq

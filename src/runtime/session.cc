#include "runtime/session.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/memory_info.h"
#include "runtime/kv_channel_stats.h"
#include "runtime/session_memory.h"

namespace tq {

Session::Session(const Model& model, std::shared_ptr<Backend> backend, std::string device,
                 std::unique_ptr<KvCache> kv, int64_t n_batch)
    : model_(model),
      backend_(std::move(backend)),
      device_(std::move(device)),
      kv_(std::move(kv)),
      n_batch_(n_batch),
      step_(model, *backend_, n_batch) {}

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
  TQ_ASSIGN_OR_RETURN(std::shared_ptr<Backend> backend, make_backend(opts.device));
  TQ_ASSIGN_OR_RETURN(auto kv, backend->make_kv_cache(shape, cfg));
  return create_on(model, std::move(backend), std::move(kv), opts);
}

Result<std::unique_ptr<Session>> Session::create(const Model& model, std::unique_ptr<KvCache> kv,
                                                 const SessionOptions& opts) {
  TQ_ASSIGN_OR_RETURN(std::shared_ptr<Backend> backend, make_backend(opts.device));
  return create_on(model, std::move(backend), std::move(kv), opts);
}

Result<std::unique_ptr<Session>> Session::create_on(const Model& model,
                                                    std::shared_ptr<Backend> backend,
                                                    std::unique_ptr<KvCache> kv,
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
  TQ_RETURN_IF_ERROR(backend->bind(model));
  return std::unique_ptr<Session>(new Session(model, std::move(backend), opts.device, std::move(kv),
                                              std::min(opts.n_batch, s.n_ctx)));
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
    const StepSequence seq{kv_.get(), 0, c, n_past_ + c0};
    step_.run(tokens.data() + c0, c, {&seq, 1}, out_first, out, observer_);
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

BatchDecoder::BatchDecoder(const Model& model, std::shared_ptr<Backend> backend,
                           std::string device, int64_t max_seqs)
    : model_(model),
      backend_(std::move(backend)),
      device_(std::move(device)),
      step_(model, *backend_, max_seqs),
      logits_(static_cast<size_t>(max_seqs * model.hp.n_vocab)) {}

Result<std::unique_ptr<BatchDecoder>> BatchDecoder::create(const Model& model, int64_t max_seqs,
                                                           const std::string& device) {
  if (max_seqs <= 0 || max_seqs > (int64_t{1} << 16))
    return invalid_argument("batch of {} sequences must be in [1, 65536]", max_seqs);
  TQ_ASSIGN_OR_RETURN(std::shared_ptr<Backend> backend, make_backend(device));
  TQ_RETURN_IF_ERROR(backend->bind(model));
  return std::unique_ptr<BatchDecoder>(
      new BatchDecoder(model, std::move(backend), device, max_seqs));
}

Status BatchDecoder::decode(std::span<Session* const> sessions, std::span<const int32_t> tokens) {
  const int64_t n = static_cast<int64_t>(sessions.size());
  if (n == 0) return invalid_argument("decode: no sessions");
  if (static_cast<int64_t>(tokens.size()) != n)
    return invalid_argument("decode: {} tokens for {} sessions", tokens.size(), n);
  if (n > step_.max_rows())
    return invalid_argument("decode: {} sessions, this decoder takes at most {}", n,
                            step_.max_rows());
  const int64_t V = model_.hp.n_vocab;
  for (int64_t i = 0; i < n; ++i) {
    const Session* s = sessions[i];
    if (!s) return invalid_argument("decode: session {} is null", i);
    if (&s->model() != &model_) return invalid_argument("decode: session {} runs another model", i);
    if (s->device() != device_)
      return invalid_argument("decode: session {} runs on {}, this decoder on {}", i, s->device(),
                              device_);
    for (int64_t j = 0; j < i; ++j)
      if (sessions[j] == s) return invalid_argument("decode: session {} appears twice", i);
    if (s->n_past() + 1 > s->n_ctx())
      return out_of_range("decode: session {} has used all {} positions of its context", i,
                          s->n_ctx());
    if (tokens[i] < 0 || tokens[i] >= V)
      return invalid_argument("token id {} at index {} is outside the vocabulary [0, {})",
                              tokens[i], i, V);
  }
  seqs_.clear();
  for (int64_t i = 0; i < n; ++i) seqs_.push_back({sessions[i]->kv_.get(), i, 1, sessions[i]->n_past_});
  step_.run(tokens.data(), n, seqs_, 0, logits_.data(), nullptr);
  for (int64_t i = 0; i < n; ++i) {
    Session& s = *sessions[i];
    s.logits_.assign(logits_.begin() + i * V, logits_.begin() + (i + 1) * V);
    s.n_logit_rows_ = 1;
    s.n_past_ += 1;
  }
  return ok_status();
}

}  // namespace tq

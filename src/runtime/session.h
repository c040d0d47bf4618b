// A Session runs one sequence through a bound Model on the CPU: batched prefill and single-token
// decode share one forward pass (f32 activations, weights read in place through the matmul table,
// K/V in a KvCache). Not thread-safe; several sessions may share one Model.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/model.h"
#include "runtime/forward_observer.h"
#include "runtime/kv_cache.h"
#include "tq/status.h"

namespace tq {

struct SessionOptions {
  int64_t n_ctx = 0;      // positions the KV cache holds; 0 = session_context(hp, 0)
  int64_t n_batch = 256;  // tokens per forward chunk in prefill (bounds activation memory)
  KvCacheConfig kv;       // KV types (ignored by the overload that takes a cache)
};

// The positions a session's KV cache holds for a requested context: `requested` when > 0, else
// min(the model's context_length, 4096).
inline int64_t session_context(const HParams& hp, int64_t requested) {
  return requested > 0 ? requested : std::min<int64_t>(hp.n_ctx_train, 4096);
}

enum class LogitsMode {
  kNone,  // no output head (e.g. filling the cache)
  kLast,  // logits of the last token only
  kAll,   // logits of every token
};

class Session {
 public:
  // Creates the KV cache from opts.kv (outlier-split KV types without opts.kv.channel_stats get
  // the data-free estimate from the weights). Errors: bad n_ctx / n_batch, unknown KV types, a
  // context whose cache and activations do not fit the memory available (kOutOfRange, with the
  // numbers: runtime/session_memory.h), checked before anything is allocated.
  static Result<std::unique_ptr<Session>> create(const Model& model,
                                                 const SessionOptions& opts = {});
  // Uses a caller-made cache, whose shape must match the model (n_ctx = cache capacity).
  static Result<std::unique_ptr<Session>> create(const Model& model, std::unique_ptr<KvCache> kv,
                                                 const SessionOptions& opts = {});

  // Runs `tokens` at positions [n_past, n_past + n) and advances n_past by n; processes chunks of
  // n_batch tokens. Errors leave the session unchanged: empty input, a token id outside
  // [0, n_vocab), or n_past + n > n_ctx ("does not fit the context"). A non-finite logit (damaged
  // weights, overflow) is an error after the tokens were run (kCorruptFile; reset() to reuse).
  Status eval(std::span<const int32_t> tokens, LogitsMode mode = LogitsMode::kLast);

  // Logits of the last eval: kAll → [n, n_vocab] (row i = token i), kLast → [1, n_vocab].
  std::span<const float> logits() const {
    return {logits_.data(), static_cast<size_t>(n_logit_rows_ * n_vocab())};
  }
  int64_t n_logit_rows() const { return n_logit_rows_; }
  // The last row of logits(); empty when the last eval used kNone.
  std::span<const float> last_logits() const;

  int64_t n_past() const { return n_past_; }
  int64_t n_ctx() const { return kv_->capacity(); }
  int64_t n_vocab() const { return model_.hp.n_vocab; }
  // Starts a new sequence: n_past = 0 and the cache forgets its positions.
  void reset();

  const Model& model() const { return model_; }
  KvCache& kv_cache() { return *kv_; }

  // Calibration hook (runtime/forward_observer.h); nullptr (the default) turns it off. The
  // observer must outlive its use.
  void set_observer(ForwardObserver* observer) { observer_ = observer; }

 private:
  Session(const Model& model, std::unique_ptr<KvCache> kv, int64_t n_batch);
  // Forward pass of n tokens at positions [pos0, pos0 + n) (n <= n_batch); writes logits of the
  // rows [out_first, n) to `logits` ([n - out_first, n_vocab]) unless logits is null.
  void forward(const int32_t* tokens, int64_t n, int64_t pos0, int64_t out_first, float* logits);
  void rope_table(int64_t pos0, int64_t n);

  const Model& model_;
  std::unique_ptr<KvCache> kv_;
  int64_t n_batch_;
  int64_t n_past_ = 0;
  ForwardObserver* observer_ = nullptr;
  std::vector<float> logits_;  // [n_logit_rows, n_vocab]
  int64_t n_logit_rows_ = 0;
  // Activations for one chunk of up to n_batch tokens.
  std::vector<float> x_;          // [n_batch, n_embd] residual stream
  std::vector<float> xn_;         // [n_batch, max(n_embd, q_dim)] normed input / attention output
  std::vector<float> q_;          // [n_batch, q_dim]
  std::vector<float> k_, v_;      // [n_batch, kv_dim]
  std::vector<float> tmp_;        // [n_batch, max(n_embd, q_dim, kv_dim)]
  std::vector<float> gate_, up_;  // [n_batch, n_ff]
  std::vector<float> hot_logits_; // [n_out, K] residual logits of the head's hot rows
  std::vector<float> cos_sin_;    // [n_batch, n_rot] interleaved cos, sin per position
};

}  // namespace tq

// A Session runs one sequence through a bound Model on a backend (runtime/backend.h; the CPU by
// default): batched prefill and single-token decode are steps of the one forward pass
// (runtime/forward.h, runtime/step.h) with K/V in the session's KvCache. BatchDecoder decodes one
// token for each of several sessions in one step. Not thread-safe; several sessions may share one
// Model.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/backend.h"
#include "runtime/forward_observer.h"
#include "runtime/kv_cache.h"
#include "runtime/step.h"
#include "tq/status.h"

namespace tq {

struct SessionOptions {
  int64_t n_ctx = 0;      // positions the KV cache holds; 0 = session_context(hp, 0)
  int64_t n_batch = 256;  // tokens per forward chunk in prefill (bounds activation memory)
  KvCacheConfig kv;       // KV types (ignored by the overload that takes a cache)
  std::string device = "cpu";  // backend (make_backend): "cpu", "cuda[:N]"
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
  // Creates the backend of opts.device and the KV cache from opts.kv (outlier-split KV types
  // without opts.kv.channel_stats get the data-free estimate from the weights). Errors: bad n_ctx /
  // n_batch, unknown KV types, a device this build has no backend for, a context whose cache and
  // activations do not fit the memory available (kOutOfRange, with the numbers:
  // runtime/session_memory.h), checked before anything is allocated.
  static Result<std::unique_ptr<Session>> create(const Model& model,
                                                 const SessionOptions& opts = {});
  // Uses a caller-made cache, whose shape must match the model (n_ctx = cache capacity) and whose
  // memory is the backend's (a cache of make_kv_cache for the CPU backend).
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
  const std::string& device() const { return device_; }

  // Calibration hook (runtime/forward_observer.h); nullptr (the default) turns it off. The
  // observer must outlive its use.
  void set_observer(ForwardObserver* observer) { observer_ = observer; }

 private:
  friend class BatchDecoder;
  static Result<std::unique_ptr<Session>> create_on(const Model& model,
                                                    std::shared_ptr<Backend> backend,
                                                    std::unique_ptr<KvCache> kv,
                                                    const SessionOptions& opts);
  Session(const Model& model, std::shared_ptr<Backend> backend, std::string device,
          std::unique_ptr<KvCache> kv, int64_t n_batch);

  const Model& model_;
  std::shared_ptr<Backend> backend_;
  std::string device_;
  std::unique_ptr<KvCache> kv_;
  int64_t n_batch_;
  StepRunner step_;  // buffers for chunks of up to n_batch tokens
  int64_t n_past_ = 0;
  ForwardObserver* observer_ = nullptr;
  std::vector<float> logits_;  // [n_logit_rows, n_vocab]
  int64_t n_logit_rows_ = 0;
};

// Continuous batching's decode step: one token for each of N sessions in one forward — the
// matmuls see N rows, attention runs per session on its own KV cache at its own position. The
// result equals N separate Session::eval(token) calls to float rounding, not bit for bit: N rows
// run the GEMM kernels, one row the GEMV kernels, which sum in another order (measured ≤ 7e-7 on
// logits up to 4.4: tests/runtime/batch_decode_test.cc).
class BatchDecoder {
 public:
  // Buffers for up to max_seqs sessions per step, on the backend of `device`.
  static Result<std::unique_ptr<BatchDecoder>> create(const Model& model, int64_t max_seqs,
                                                      const std::string& device = "cpu");
  // Decodes tokens[i] at position sessions[i]->n_past() for every i: afterwards each session's
  // last_logits() is its row and its n_past has advanced by one (as eval(token, kLast)). Errors
  // leave every session unchanged: sizes differ or exceed max_seqs, a session repeated, of another
  // model or device, a full context, a token outside the vocabulary.
  Status decode(std::span<Session* const> sessions, std::span<const int32_t> tokens);

 private:
  BatchDecoder(const Model& model, std::shared_ptr<Backend> backend, std::string device,
               int64_t max_seqs);
  const Model& model_;
  std::shared_ptr<Backend> backend_;
  std::string device_;
  StepRunner step_;
  std::vector<float> logits_;  // [max_seqs, n_vocab]
  std::vector<StepSequence> seqs_;
};

}  // namespace tq

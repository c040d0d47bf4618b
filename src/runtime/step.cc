#include "runtime/step.h"

#include <algorithm>

#include "core/check.h"

namespace tq {
namespace {

// Attention of a step's rows, each sequence on its own KV cache: store the rows' K/V, then attend.
class KvAttention final : public BlockAttention {
 public:
  KvAttention(std::span<const StepSequence> seqs, const HParams& hp)
      : seqs_(seqs), qd_(hp.q_dim()), kd_(hp.kv_dim()) {}
  void attend(int64_t layer, const float* q, const float* k, const float* v, float* out) override {
    for (const StepSequence& s : seqs_) {
      s.kv->append(layer, s.pos0, s.n_rows, k + s.row0 * kd_, v + s.row0 * kd_);
      s.kv->attend(layer, q + s.row0 * qd_, s.n_rows, s.pos0, out + s.row0 * qd_);
    }
  }

 private:
  std::span<const StepSequence> seqs_;
  int64_t qd_, kd_;
};

}  // namespace

StepRunner::StepRunner(const Model& model, Backend& backend, int64_t max_rows)
    : model_(model),
      backend_(backend),
      forward_(model, backend),
      max_rows_(max_rows),
      scratch_(backend, model.hp, max_rows),
      x_(backend, max_rows * model.hp.n_embd),
      xn_(backend, max_rows * model.hp.n_embd),
      cos_sin_(backend, max_rows * std::max<int64_t>(2, model.hp.rope.n_rot)),
      hot_logits_(backend, max_rows * static_cast<int64_t>(model.head_hot().ids.size())),
      logits_(backend, backend.host_memory() ? 0 : max_rows * model.hp.n_vocab) {}

void StepRunner::run(const int32_t* tokens, int64_t n, std::span<const StepSequence> seqs,
                     int64_t out_first, float* logits, ForwardObserver* observer) {
  TQ_CHECK(n > 0 && n <= max_rows_, "step of {} rows, capacity {}", n, max_rows_);
  const HParams& hp = model_.hp;
  positions_.resize(static_cast<size_t>(n));
  int64_t covered = 0;
  for (const StepSequence& s : seqs) {
    TQ_CHECK(s.row0 == covered && s.n_rows > 0, "step sequences must cover the rows in order");
    for (int64_t i = 0; i < s.n_rows; ++i) positions_[s.row0 + i] = s.pos0 + i;
    covered += s.n_rows;
  }
  TQ_CHECK(covered == n, "step sequences cover {} of {} rows", covered, n);
  float* x = x_.data();
  forward_.begin_step(tokens, positions_.data(), n, cos_sin_.data());
  forward_.embed(model_.tok_embd, &model_.tok_embd_hot, x);
  KvAttention attention(seqs, hp);
  for (int64_t il = 0; il < hp.n_layer; ++il)
    forward_.block(il, model_block_linears(model_, il), x, scratch_.acts(), cos_sin_.data(),
                   attention, observer);
  if (observer) observer->on_block_input(hp.n_layer, x, n, hp.n_embd);
  if (!logits || out_first >= n) return;
  const int64_t n_out = n - out_first;
  float* out = backend_.host_memory() ? logits : logits_.data();
  forward_.head(model_.output, &model_.head_hot(), x + out_first * hp.n_embd, n_out, xn_.data(),
                hot_logits_.data(), out, observer);
  if (out != logits) backend_.download(logits, out, n_out * hp.n_vocab);
}

}  // namespace tq

#include "quantize/sensitivity.h"

#include <cmath>

#include "core/parallel.h"
#include "core/timer.h"
#include "kernels/ops.h"
#include "quantize/calibration.h"

namespace tq {
namespace {

// logits [n, V] := log-softmax in place.
void log_softmax_rows(float* logits, int64_t n, int64_t V) {
  parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) {
      float* row = logits + t * V;
      const float lse = static_cast<float>(logsumexp(row, V));
      for (int64_t i = 0; i < V; ++i) row[i] -= lse;
    }
  }, 8);
}

}  // namespace

SensitivityProbe::SensitivityProbe(const Model& model, std::vector<std::vector<int32_t>> windows)
    : model_(model), runner_(model), windows_(std::move(windows)) {
  Timer timer;
  const HParams& hp = model.hp;
  const int64_t E = hp.n_embd, V = hp.n_vocab, NW = n_windows();
  T_ = NW ? static_cast<int64_t>(windows_[0].size()) : 0;
  hidden_.assign(static_cast<size_t>(hp.n_layer + 1), std::vector<float>(static_cast<size_t>(NW * T_ * E)));
  for (int64_t w = 0; w < NW; ++w) {
    std::vector<float> x(static_cast<size_t>(T_ * E));
    runner_.embed(model.tok_embd, windows_[w].data(), T_, x.data());
    for (int64_t l = 0; l < hp.n_layer; ++l) {
      std::copy(x.begin(), x.end(), hidden_[l].begin() + w * T_ * E);
      runner_.forward(l, model_block_linears(model, l), x.data(), T_, nullptr);
    }
    std::copy(x.begin(), x.end(), hidden_[hp.n_layer].begin() + w * T_ * E);
  }
  base_logp_.resize(static_cast<size_t>(NW * T_ * V));
  runner_.head(model.output, hidden_[hp.n_layer].data(), NW * T_, base_logp_.data());
  log_softmax_rows(base_logp_.data(), NW * T_, V);
  setup_s_ = timer.seconds();
}

double SensitivityProbe::kld_from_hidden(const WeightView& output, const float* x) const {
  const int64_t V = model_.hp.n_vocab, N = n_windows() * T_;
  // Chunks of tokens bound the logits buffer.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(N, (int64_t{64} << 20) / (V * 4)));
  std::vector<float> lp(static_cast<size_t>(chunk * V));
  double total = 0;
  for (int64_t t0 = 0; t0 < N; t0 += chunk) {
    const int64_t n = std::min(chunk, N - t0);
    runner_.head(output, x + t0 * model_.hp.n_embd, n, lp.data());
    log_softmax_rows(lp.data(), n, V);
    std::vector<double> part(static_cast<size_t>(n));
    parallel_for(n, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const float* base = base_logp_.data() + (t0 + t) * V;
        const float* q = lp.data() + t * V;
        double k = 0;
        for (int64_t i = 0; i < V; ++i) k += std::exp(static_cast<double>(base[i])) * (base[i] - q[i]);
        part[t] = k;
      }
    }, 8);
    for (double k : part) total += k;
  }
  return total / static_cast<double>(N);
}

Result<double> SensitivityProbe::delta_kld(const std::string& name, const float* w_hat) const {
  const HParams& hp = model_.hp;
  const int64_t E = hp.n_embd, NW = n_windows();
  InputKey key;
  if (!input_key_of(name, hp.n_layer, &key))
    return invalid_argument("sensitivity: '{}' is not a weight matrix of the forward pass", name);
  if (name == "token_embd.weight") {
    // The embedding: every block sees the new input; a tied head reads it too.
    const WeightView emb = f32_view(model_.tok_embd, w_hat);
    std::vector<float> hs(static_cast<size_t>(NW * T_ * E));
    for (int64_t w = 0; w < NW; ++w) {
      float* x = hs.data() + w * T_ * E;
      runner_.embed(emb, windows_[w].data(), T_, x);
      for (int64_t l = 0; l < hp.n_layer; ++l)
        runner_.forward(l, model_block_linears(model_, l), x, T_, nullptr);
    }
    return kld_from_hidden(model_.tied_output ? emb : model_.output, hs.data());
  }
  if (key.second == LinearInput::kHead)
    return kld_from_hidden(f32_view(model_.output, w_hat), hidden_[hp.n_layer].data());
  const int64_t l0 = key.first;
  const std::string rest = name.substr(name.find('.', 4) + 1);
  std::vector<float> hs(hidden_[l0]);
  for (int64_t w = 0; w < NW; ++w) {
    float* x = hs.data() + w * T_ * E;
    for (int64_t l = l0; l < hp.n_layer; ++l) {
      BlockLinears bl = model_block_linears(model_, l);
      if (l == l0)
        for (int i = 0; i < kNumBlockLinears; ++i)
          if (rest == std::string(linear_name(static_cast<Linear>(i))) + ".weight")
            bl.w[i] = f32_view(bl.w[i], w_hat);
      runner_.forward(l, bl, x, T_, nullptr);
    }
  }
  return kld_from_hidden(model_.output, hs.data());
}

}  // namespace tq

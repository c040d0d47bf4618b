#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>

namespace tq {

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  return best;
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (opts_.temperature <= 0.0f) return argmax(logits);
  const int64_t n = static_cast<int64_t>(logits.size());
  cand_.resize(logits.size());
  for (int64_t i = 0; i < n; ++i) cand_[i] = {logits[i], static_cast<int32_t>(i)};
  auto by_logit = [](const auto& a, const auto& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  int64_t k = opts_.top_k > 0 ? std::min<int64_t>(opts_.top_k, n) : n;
  std::partial_sort(cand_.begin(), cand_.begin() + k, cand_.end(), by_logit);
  // Probabilities of the k candidates at this temperature (double: exact enough for any k).
  std::vector<double> p(static_cast<size_t>(k));
  const double mx = cand_[0].first;
  double sum = 0.0;
  for (int64_t i = 0; i < k; ++i) sum += p[i] = std::exp((cand_[i].first - mx) / opts_.temperature);
  if (opts_.top_p < 1.0f) {
    double cum = 0.0;
    int64_t keep = k;
    for (int64_t i = 0; i < k; ++i) {
      cum += p[i] / sum;
      if (cum >= opts_.top_p) {
        keep = i + 1;
        break;
      }
    }
    k = keep;
    sum = 0.0;
    for (int64_t i = 0; i < k; ++i) sum += p[i];
  }
  double u = rng_.uniform() * sum;
  for (int64_t i = 0; i < k; ++i) {
    u -= p[i];
    if (u < 0.0) return cand_[i].second;
  }
  return cand_[k - 1].second;
}

}  // namespace tq

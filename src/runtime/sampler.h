// Next-token sampling from logits: greedy, or temperature + top-k + top-p with a seeded Rng.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/rng.h"

namespace tq {

struct SamplerOptions {
  float temperature = 0.8f;  // <= 0: greedy (arg-max)
  int32_t top_k = 40;        // keep the k most likely tokens; <= 0: all
  float top_p = 0.95f;  // then the smallest set with cumulative probability >= top_p; >= 1: all
  uint64_t seed = 0;
};

// Index of the largest value (lowest index among ties). logits must not be empty.
int32_t argmax(std::span<const float> logits);

// Order, as in Hugging Face generate(): temperature → top-k → top-p, then a draw from the
// renormalized distribution. Deterministic for a given seed and logits.
class Sampler {
 public:
  explicit Sampler(const SamplerOptions& opts) : opts_(opts), rng_(opts.seed) {}
  int32_t sample(std::span<const float> logits);
  const SamplerOptions& options() const { return opts_; }

 private:
  SamplerOptions opts_;
  Rng rng_;
  std::vector<std::pair<float, int32_t>> cand_;  // scratch: (logit, id)
};

}  // namespace tq

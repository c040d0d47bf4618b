// Per-tensor sensitivity: the mean KLD of the model's next-token distribution against the float
// model when ONE tensor is replaced by a quantized version, on a few calibration windows. The
// hidden state entering every block is cached from one float forward, so replacing a tensor of
// block l re-runs only blocks l..L−1 and the head.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "quantize/block.h"
#include "tq/status.h"

namespace tq {

class SensitivityProbe {
 public:
  // Runs the float model over `windows` (all of one length) and caches hidden states and the
  // base log-probabilities ([n_windows · T, n_vocab] floats).
  SensitivityProbe(const Model& model, std::vector<std::vector<int32_t>> windows);

  // Mean KLD(base ‖ replaced) per token when tensor `name` (llama.cpp name) takes the values
  // w_hat ([n_rows, n_cols] f32, the tensor's own row order). Error for tensors the forward does
  // not use.
  Result<double> delta_kld(const std::string& name, const float* w_hat) const;

  int64_t n_windows() const { return static_cast<int64_t>(windows_.size()); }
  double setup_seconds() const { return setup_s_; }

 private:
  // KLD of the head's logits over hidden states x [n_windows·T, E] against the base.
  double kld_from_hidden(const WeightView& output, const float* x) const;
  const Model& model_;
  BlockRunner runner_;
  std::vector<std::vector<int32_t>> windows_;
  int64_t T_ = 0;
  std::vector<std::vector<float>> hidden_;  // [n_layer + 1][n_windows · T · E]
  std::vector<float> base_logp_;            // [n_windows · T, n_vocab]
  double setup_s_ = 0;
};

}  // namespace tq

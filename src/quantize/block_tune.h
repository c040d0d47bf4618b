// Block-output learned scales (the "gradient-aware" step, method token `adam`): with every code
// of a block's TurboQuant tensors fixed, learn one multiplier m per (row, group) scale so that the
// quantized block, fed the quantized model's own hidden states (sequential), reproduces the float
// block's output on the float hidden states:
//
//     min_m  mean ‖ block(h_q; Ŵ(m)) − block(h_f; W) ‖²      Ŵ(m): s'[r,g] = m[r,g] · s[r,g]
//
// Adam (lr, β = 0.9/0.999) on minibatches of calibration windows; gradients by backprop through
// the block (BlockRunner::backward) and the chain rule ∂L/∂m[r,g] = Σ_{i∈g} (R ∂L/∂W)[r,i]·s·c[idx].
// The new scales are rounded to fp16 and kept only if the loss over all tuning windows improved.
#pragma once

#include <cstdint>
#include <vector>

#include "quantize/block.h"
#include "quantize/tensor_quant.h"

namespace tq {

struct BlockTuneOptions {
  int64_t steps = 100;         // Adam steps per block
  double lr = 2e-3;            // on the multipliers (start 1)
  int64_t batch_windows = 2;   // windows per step
  uint64_t seed = 0;           // minibatch order
};

struct BlockTuneReport {
  double loss_before = 0, loss_after = 0;  // mean squared block-output error over all windows
  bool kept = false;
  double seconds = 0;
};

// Tunes the scales of the TurboQuant tensors of block `layer` in place. `tensors[i]` is the
// quantized form of linear i (nullptr: not a TurboQuant tensor, kept as `fixed[i]`, an f32 view of
// its dequantized values). h_q: [n_windows · T · E] quantized-model inputs; target: the float
// block's outputs, same shape.
BlockTuneReport tune_block_scales(const BlockRunner& runner, int64_t layer,
                                  TqTensor* tensors[kNumBlockLinears],
                                  const BlockLinears& fixed, const std::vector<float>& h_q,
                                  const std::vector<float>& target, int64_t T,
                                  const BlockTuneOptions& opt);

}  // namespace tq

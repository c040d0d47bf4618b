// A hook into Session's forward pass for calibration (src/quantize): it sees the input of every
// linear layer and the residual stream entering every block, as the model computes them. The
// session calls it synchronously from the thread that runs eval(); a null observer costs nothing.
#pragma once

#include <cstdint>

namespace tq {

// Which linear layers read an input (q/k/v share one input, gate/up share one).
enum class LinearInput {
  kAttnIn,    // attn_q, attn_k, attn_v: the attention-normed residual  [n_tokens, n_embd]
  kAttnOut,   // attn_output: the attention heads' output               [n_tokens, q_dim]
  kFfnIn,     // ffn_gate, ffn_up: the ffn-normed residual              [n_tokens, n_embd]
  kFfnDown,   // ffn_down: silu(gate) * up                              [n_tokens, n_ff]
  kHead,      // output head: the output-normed residual of the tokens whose logits are computed
};
inline constexpr int kNumLinearInputs = 5;

class ForwardObserver {
 public:
  virtual ~ForwardObserver() = default;
  // x: [n_tokens, n_cols] row-major; layer = the block index (n_layer for kHead).
  virtual void on_linear_input(int64_t layer, LinearInput which, const float* x, int64_t n_tokens,
                               int64_t n_cols) = 0;
  // The residual stream entering block `layer` (layer == n_layer: after the last block, before
  // the output norm), x: [n_tokens, n_embd].
  virtual void on_block_input(int64_t layer, const float* x, int64_t n_tokens, int64_t n_embd) {}
};

}  // namespace tq

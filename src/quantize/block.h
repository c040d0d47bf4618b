// One transformer block of a bound Model, run on a whole window of tokens from position 0 with
// caller-chosen weights for its seven linear layers — forward (any weight format, through the
// matmul table) and backward to the weights (f32 weights) — plus the embedding lookup and the
// output head. The quantizer's model-level steps build on it: per-tensor sensitivity (re-running
// only the blocks after a tensor, from cached hidden states) and block-output learned scales
// (gradient descent through a block). Same arithmetic as Session::forward (RMSNorm, GQA causal
// attention with rotate-half RoPE, q/k biases and norms where the architecture has them, SwiGLU),
// with the attention computed exactly in f32 (no KV cache).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/matmul.h"
#include "model/model.h"

namespace tq {

enum class Linear { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr int kNumBlockLinears = 7;
const char* linear_name(Linear l);  // "attn_q", ..., "ffn_down" (llama.cpp names)

// The seven linear weights of a block (views; any format for forward, f32 for backward).
struct BlockLinears {
  WeightView w[kNumBlockLinears];
  const WeightView& operator[](Linear l) const { return w[static_cast<int>(l)]; }
  WeightView& operator[](Linear l) { return w[static_cast<int>(l)]; }
};
// The model's own weights of block `layer`.
BlockLinears model_block_linears(const Model& model, int64_t layer);

// Activations of one forward, kept for backward. T = tokens.
struct BlockTape {
  int64_t n_tokens = 0;
  std::vector<float> xn1;              // [T, E] attention-normed input
  std::vector<float> q_raw, k_raw;     // [T, QD], [T, KD] projections (+bias), before norm/RoPE
  std::vector<float> q, k, v;          // [T, QD], [T, KD], [T, KD] as attention reads them
  std::vector<float> probs;            // [n_head, T, T] softmax rows (causal)
  std::vector<float> attn;             // [T, QD] attention output (attn_output's input)
  std::vector<float> h;                // [T, E] residual after attention
  std::vector<float> xn2;              // [T, E] ffn-normed h
  std::vector<float> gate, up;         // [T, F] projections
  std::vector<float> act;              // [T, F] silu(gate) * up (ffn_down's input)
  std::vector<float> x_in;             // [T, E] block input
};

// Weight gradients, f32 [n_out, n_in] per linear (accumulated into).
struct BlockGrads {
  std::vector<float> g[kNumBlockLinears];
  std::vector<float>& operator[](Linear l) { return g[static_cast<int>(l)]; }
};

class BlockRunner {
 public:
  explicit BlockRunner(const Model& model);

  // Embedding rows of `tokens` into x [T, E].
  void embed(const WeightView& tok_embd, const int32_t* tokens, int64_t T, float* x) const;
  // x [T, E] := block `layer`(x) for positions 0..T−1. Fills `tape` when not null.
  void forward(int64_t layer, const BlockLinears& w, float* x, int64_t T, BlockTape* tape) const;
  // Accumulates dL/dW into `grads` (sized on first use) from dL/dy [T, E] and the forward's tape;
  // writes dL/dx [T, E] (of the block input) when dx is not null. Every weight in `w` must be f32.
  void backward(int64_t layer, const BlockLinears& w, const BlockTape& tape, const float* dy,
                BlockGrads& grads, float* dx = nullptr) const;
  // Output norm + head: logits [T, n_vocab] from the residual x [T, E].
  void head(const WeightView& output, const float* x, int64_t T, float* logits) const;
  // Backward of head(): from dL/dlogits [T, n_vocab], accumulates dL/dW_output into *grad_w
  // ([n_vocab, E], sized on first use; skipped when null) and writes dL/dx [T, E]. `output` must
  // be f32.
  void head_backward(const WeightView& output, const float* x, int64_t T, const float* dlogits,
                     std::vector<float>* grad_w, float* dx) const;

  const Model& model() const { return model_; }

 private:
  void rope_tables(int64_t T) const;
  const Model& model_;
  mutable std::vector<float> cos_sin_;  // [T, n_rot] (cos, sin) pairs per position
  mutable int64_t rope_T_ = 0;
};

}  // namespace tq

// The quantizer's view of the model's forward pass (runtime/forward.h — the one forward pass,
// shared with the runtime): one transformer block run on a whole window of tokens from position 0
// with caller-chosen weights for its seven linear layers, attention computed exactly in f32 (no KV
// cache) with its softmax rows kept, every activation kept in a tape; and the backward of that
// block to its weights and input (f32 weights), plus the embedding lookup and the output head.
// The quantizer's model-level steps build on it: per-tensor sensitivity (re-running only the blocks
// after a tensor, from cached hidden states), block-output learned scales and end-to-end scales
// (gradient descent through blocks).
//
// The backward (quantize/block_backward.cc) is the derivative of runtime/forward.cc's block, op
// by op: an architecture whose block adds an op adds its derivative there.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/matmul.h"
#include "model/model.h"
#include "runtime/backend.h"
#include "runtime/forward.h"

namespace tq {

// Activations of one forward, kept for backward. T = tokens.
struct BlockTape {
  int64_t n_tokens = 0;
  // Without q/k norms the forward applies RoPE over q_raw / k_raw (q, k stay empty): the
  // attention's q and k.
  const float* q_att() const { return q.empty() ? q_raw.data() : q.data(); }
  const float* k_att() const { return k.empty() ? k_raw.data() : k.data(); }
  std::vector<float> xn1;              // [T, E] attention-normed input
  std::vector<float> q_raw, k_raw;     // [T, QD], [T, KD] projections (+bias), before norm/RoPE
  std::vector<float> q, k, v;          // [T, QD], [T, KD], [T, KD] as attention reads them (q, k
                                       // only with q/k norms)
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
  // Makes the backend's step T rows at positions 0..T−1 (tokens: their ids, or zeros when the
  // step runs blocks only) with RoPE angles for them in cos_sin_.
  void step(const int32_t* tokens, int64_t T) const;
  const Model& model_;
  std::shared_ptr<Backend> backend_;  // the CPU backend
  std::unique_ptr<Forward> forward_;
  mutable std::vector<float> cos_sin_;  // [T, n_rot] (cos, sin) pairs per position
  mutable int64_t rope_T_ = 0;
  mutable std::vector<int32_t> zeros_;
  mutable std::vector<int64_t> positions_;
};

}  // namespace tq

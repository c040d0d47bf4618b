// THE forward pass: each architecture's transformer written once, against the backend interface
// (runtime/backend.h), and used by everything that runs a model:
//  * the runtime (runtime/session.h): prefill and decode, attention through each sequence's KV
//    cache, rows of several sequences in one step (BatchDecoder);
//  * quantization (quantize/block.h): exact f32 attention over a window with the softmax rows
//    kept, every activation kept for the backward, caller-chosen weights for the seven linear
//    layers of a block, calibration hooks (runtime/forward_observer.h).
// Adding an architecture = its hyper-parameters and tensors in src/model, its ops here (and, for
// the gradient methods of the quantizer, their derivatives in quantize/block_backward.cc).
//
// Block (llama, qwen2, qwen3):
//   xn1 = rmsnorm(x) · attn_norm
//   q_raw, k_raw, v = xn1 · Wq/Wk/Wvᵀ (+ biases: qwen2); GGUF llama rows de-interleaved
//   q, k = rmsnorm per head (qwen3: q_norm / k_norm) of q_raw, k_raw, then RoPE
//   attn = attention(q, k, v)                 (the caller's: KV cache, or exact)
//   h = x + attn · Woᵀ
//   xn2 = rmsnorm(h) · ffn_norm;  gate, up = xn2 · Wgate/Wupᵀ;  act = silu(gate) · up
//   x' = h + act · Wdownᵀ
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/model.h"
#include "runtime/backend.h"
#include "runtime/forward_observer.h"

namespace tq {

// The linear layers of a block, in llama.cpp's order.
enum class Linear { kQ, kK, kV, kO, kGate, kUp, kDown };
inline constexpr int kNumBlockLinears = 7;
const char* linear_name(Linear l);  // "attn_q", ..., "ffn_down" (llama.cpp names)

// The seven linear weights of a block (views; any format the backend runs).
struct BlockLinears {
  WeightView w[kNumBlockLinears];
  const WeightView& operator[](Linear l) const { return w[static_cast<int>(l)]; }
  WeightView& operator[](Linear l) { return w[static_cast<int>(l)]; }
};
// The model's own weights of block `layer`.
BlockLinears model_block_linears(const Model& model, int64_t layer);

// The activation buffers of one block's forward over n rows (backend memory). Pointers the
// forward may alias are null in a scratch set (the runtime's: one set for every block):
//   q, k == nullptr:  the normed q/k are written over q_raw / k_raw (RoPE in place);
//   h == nullptr:     the residual after attention is written over x;
//   act == nullptr:   silu(gate) · up is written over gate.
// A tape (the quantizer's backward) sets every pointer; without q/k norms q, k are q_raw, k_raw.
struct BlockActs {
  float* xn1 = nullptr;                      // [n, E] attention-normed input
  float* q_raw = nullptr;                    // [n, QD] projection (+bias), de-interleaved
  float* k_raw = nullptr;                    // [n, KD]
  float* q = nullptr;                        // [n, QD] after q/k norm and RoPE
  float* k = nullptr;                        // [n, KD]
  float* v = nullptr;                        // [n, KD]
  float* attn = nullptr;                     // [n, QD] attention output (attn_output's input)
  float* h = nullptr;                        // [n, E] residual after attention
  float* xn2 = nullptr;                      // [n, E] ffn-normed h
  float* gate = nullptr, *up = nullptr;      // [n, F]
  float* act = nullptr;                      // [n, F] silu(gate) · up (ffn_down's input)
  float* tmp = nullptr;                      // [n, E] scratch (a projection before its residual)
};

// The attention of one block over the rows of the current step: q [n, QD], k/v [n, KD] (after
// RoPE) → out [n, QD]. The runtime's stores k/v in each sequence's KV cache and attends there;
// the quantizer's is exact over the window (quantize/block.h).
class BlockAttention {
 public:
  virtual ~BlockAttention() = default;
  virtual void attend(int64_t layer, const float* q, const float* k, const float* v,
                      float* out) = 0;
};

// The forward pass of one Model on one backend. Holds no activations: the caller owns the
// buffers (BlockActs, the residual stream x, logits), so one Forward serves any number of steps.
class Forward {
 public:
  Forward(const Model& model, Backend& backend);

  const Model& model() const { return model_; }
  Backend& backend() const { return backend_; }

  // Starts a step over n rows (token ids, positions: host arrays [n]) and computes its RoPE
  // angles into cos_sin [n, max(2, n_rot)] (backend memory the caller keeps for the step).
  void begin_step(const int32_t* tokens, const int64_t* positions, int64_t n, float* cos_sin);
  // x [n, E] := the step's token embeddings from `emb` (+ the model's hot rows when `hot`).
  void embed(const WeightView& emb, const HotRows* hot, float* x);
  // x [n, E] := block `layer`(x) for the step's rows, linear weights `w`.
  void block(int64_t layer, const BlockLinears& w, float* x, const BlockActs& a,
             const float* cos_sin, BlockAttention& attention, ForwardObserver* observer);
  // logits [n, n_vocab] := head(output norm(x [n, E])) for n rows of x, plus the residual
  // logits of `hot` (the head's hot rows; may be empty). xn [n, E], hot_logits [n, K]: scratch.
  void head(const WeightView& output, const HotRows* hot, const float* x, int64_t n, float* xn,
            float* hot_logits, float* logits, ForwardObserver* observer);

 private:
  const Model& model_;
  Backend& backend_;
};

// Backend buffers of a scratch BlockActs (aliasing where allowed) for up to n_rows rows.
class BlockScratch {
 public:
  BlockScratch(Backend& backend, const HParams& hp, int64_t n_rows);
  const BlockActs& acts() const { return acts_; }

 private:
  std::vector<DeviceBuffer> bufs_;
  BlockActs acts_;
};

}  // namespace tq

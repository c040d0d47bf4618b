// The backend interface: where a forward pass runs. runtime/forward.h writes each architecture's
// forward pass once, against these operations; a backend implements them on its device. The CPU
// backend (runtime/cpu_backend.cc) is the kernel tables of src/kernels; a CUDA backend implements
// the same interface on device memory and streams.
//
// Memory and names:
//  * Activations are f32 arrays in backend memory (alloc / release; host memory on the CPU). Every
//    `float*` an operation takes or writes is backend memory unless said otherwise.
//  * Weights are named by what the bound Model holds: a WeightView (its data pointer identifies
//    the tensor) and the Model's f32 vectors (norm weights, biases). bind() is called once per
//    Model before any operation reads its weights: a device backend uploads every tensor there, in
//    its quantized layout (or one re-laid out for the device, never a dequantized copy), and maps
//    the host names to its copies; the CPU backend reads them in place. A WeightView that is not a
//    bound tensor (the quantizer's f32 views of tuned weights) is read from host memory, so only
//    the CPU backend takes it.
//  * One step = one forward over n rows. Its host inputs (token ids, positions) are handed over
//    once by set_step(); the operations of the step then read the backend's copies, so nothing
//    inside a step waits for the host (a CUDA backend can capture the whole decode step as a
//    graph and replay it with new inputs).
//  * Rows of one step may come from different sequences (continuous batching): every operation
//    is row-wise except attention, which the KV caches run per sequence (runtime/forward.h,
//    BlockAttention). KV caches are created by the backend (make_kv_cache), in its memory.
//
// Operations are called from one thread; each may use the backend's own threads or streams.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "runtime/kv_cache.h"
#include "tq/status.h"

namespace tq {

struct Model;
struct HotRows;

// Gated activation of the feed-forward: out = act(gate) * up.
enum class GluKind {
  kSwiGlu,  // silu(g) = g / (1 + exp(-g))  (llama, qwen)
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // "cpu", "cuda:0", ...
  virtual std::string name() const = 0;
  // True when backend memory is host memory (the CPU backend): results may be read in place.
  virtual bool host_memory() const = 0;

  // ---- memory ----
  // n floats of backend memory (uninitialized); release() frees it.
  virtual float* alloc(int64_t n) = 0;
  virtual void release(float* p) = 0;
  // Host → backend and backend → host copies of n floats (the CPU backend: memcpy).
  virtual void upload(float* dst, const float* host_src, int64_t n) = 0;
  virtual void download(float* host_dst, const float* src, int64_t n) = 0;

  // ---- weights ----
  // Makes every tensor of `model` readable by the operations (see the top of this file). Errors:
  // a format the backend cannot run, out of device memory.
  virtual Status bind(const Model& model) = 0;

  // ---- KV caches ----
  // A cache in this backend's memory whose attention runs on this backend.
  virtual Result<std::unique_ptr<KvCache>> make_kv_cache(const KvCacheShape& shape,
                                                         const KvCacheConfig& cfg) = 0;

  // ---- one step ----
  // The step's n rows: token ids [n] (each in [0, n_vocab)) and positions [n], host arrays read
  // during the call.
  virtual void set_step(const int32_t* tokens, const int64_t* positions, int64_t n) = 0;
  int64_t step_rows() const { return step_rows_; }

  // x [n, n_embd] := row tokens[t] of `emb` (dequantized), plus its hot residual row when `hot`
  // (may be null) has one for that token. Rows of the current step.
  virtual void embed(const WeightView& emb, const HotRows* hot, float* x) = 0;
  // cos_sin [n, n_rot] := (cos, sin) of positions[t] · inv_freq[i] for i < n_rot / 2 (angles in
  // double, rounded to f32), for the step's rows. inv_freq: [n_rot / 2], host memory.
  virtual void rope_angles(const std::vector<double>& inv_freq, float* cos_sin) = 0;
  // Rotate-half RoPE in place on each row's n_heads heads (row t: x + t * n_heads * head_dim),
  // the first n_rot dimensions of each head, angles from cos_sin [n, n_rot]; the step's rows.
  virtual void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot,
                    const float* cos_sin) = 0;

  // ---- row-wise operations (n_rows given; any rows) ----
  // out[r] = x[r] / sqrt(mean(x[r]²) + eps) * w, rows of n; w: [n] (a Model vector). out may be x.
  virtual void rmsnorm(const float* x, const std::vector<float>& w, int64_t n_rows, int64_t n,
                       float eps, float* out) = 0;
  // y_i[t, r] = Σ_c W_i[r, c] x[t, c] for each weight (several weights of one input share the
  // activation preparation). x: [n_tokens, n_cols], y_i: [n_tokens, W_i.n_rows].
  virtual void matmul(std::span<const WeightView* const> ws, const float* x, int64_t n_tokens,
                      std::span<float* const> ys) = 0;
  void matmul(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
    const WeightView* ws[] = {&w};
    float* ys[] = {y};
    matmul(ws, x, n_tokens, ys);
  }
  // out = a + b (n elements); out may be a or b.
  virtual void add(const float* a, const float* b, float* out, int64_t n) = 0;
  // x[r] += bias for n_rows rows of bias.size(); bias: a Model vector.
  virtual void add_rows(float* x, const std::vector<float>& bias, int64_t n_rows) = 0;
  // In place on rows of head_dim: (x[2i], x[2i+1]) → (x[i], x[d/2 + i]) (GGUF llama Q/K rows back
  // to Hugging Face's rotate-half order).
  virtual void deinterleave_heads(float* x, int64_t n_heads_total, int64_t head_dim) = 0;
  // out = act(gate) * up, n elements; out may be gate.
  virtual void glu(GluKind kind, const float* gate, const float* up, float* out, int64_t n) = 0;
  // logits[t, ids[k]] += vals[t, k] for t < n_rows, k < K (hot rows of a head); ids: host [K].
  virtual void scatter_add_cols(float* logits, int64_t ld, const std::vector<int32_t>& ids,
                                const float* vals, int64_t n_rows) = 0;

 protected:
  int64_t step_rows_ = 0;
};

// A backend buffer of n floats (RAII over Backend::alloc / release).
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Backend& b, int64_t n) : b_(&b), p_(n > 0 ? b.alloc(n) : nullptr), n_(n) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : b_(o.b_), p_(o.p_), n_(o.n_) { o.p_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      b_ = o.b_, p_ = o.p_, n_ = o.n_;
      o.p_ = nullptr;
    }
    return *this;
  }
  float* data() const { return p_; }
  int64_t size() const { return n_; }

 private:
  void reset() {
    if (p_) b_->release(p_);
    p_ = nullptr;
  }
  Backend* b_ = nullptr;
  float* p_ = nullptr;
  int64_t n_ = 0;
};

// The backend of a device string: "cpu", or "cuda" / "cuda:N" (an error naming the missing
// backend in builds without one). Errors: unknown device names.
Result<std::shared_ptr<Backend>> make_backend(const std::string& device);

}  // namespace tq

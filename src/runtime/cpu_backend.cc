// The CPU backend: the kernel tables of src/kernels behind the Backend interface (host memory,
// weights read in place from the Model's mappings, the KV caches of runtime/kv_cache.h).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "kernels/ops.h"
#include "model/model.h"
#include "runtime/backend.h"

namespace tq {
namespace {

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  bool host_memory() const override { return true; }

  float* alloc(int64_t n) override { return new float[static_cast<size_t>(n)]; }
  void release(float* p) override { delete[] p; }
  void upload(float* dst, const float* src, int64_t n) override {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  }
  void download(float* dst, const float* src, int64_t n) override {
    std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
  }

  Status bind(const Model&) override { return ok_status(); }  // read in place

  Result<std::unique_ptr<KvCache>> make_kv_cache(const KvCacheShape& shape,
                                                 const KvCacheConfig& cfg) override {
    return tq::make_kv_cache(shape, cfg);
  }

  void set_step(const int32_t* tokens, const int64_t* positions, int64_t n) override {
    tokens_.assign(tokens, tokens + n);
    positions_.assign(positions, positions + n);
    step_rows_ = n;
  }

  void embed(const WeightView& emb, const HotRows* hot, float* x) override {
    const int64_t E = emb.n_cols;
    for (int64_t t = 0; t < step_rows_; ++t) {
      const int32_t id = tokens_[t];
      weight_row_to_float(emb, id, x + t * E);
      if (hot && !hot->slot.empty() && hot->slot[id] >= 0) {  // + the hot row's residual
        row_.resize(static_cast<size_t>(E));
        weight_row_to_float(hot->rows, hot->slot[id], row_.data());
        add_inplace(x + t * E, row_.data(), E);
      }
    }
  }

  void rope_angles(const std::vector<double>& inv, float* cos_sin) override {
    const int64_t half = static_cast<int64_t>(inv.size());
    for (int64_t t = 0; t < step_rows_; ++t)
      for (int64_t i = 0; i < half; ++i) {
        // Angles in double: positions up to 1e5+ times frequencies near 1 lose digits in f32.
        const double a = static_cast<double>(positions_[t]) * inv[i];
        cos_sin[(t * half + i) * 2] = static_cast<float>(std::cos(a));
        cos_sin[(t * half + i) * 2 + 1] = static_cast<float>(std::sin(a));
      }
  }

  void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot,
            const float* cos_sin) override {
    if (n_rot <= 0) return;
    for (int64_t t = 0; t < step_rows_; ++t)
      rope_neox(x + t * n_heads * head_dim, n_heads, head_dim, n_rot, cos_sin + t * n_rot);
  }

  void rmsnorm(const float* x, const std::vector<float>& w, int64_t n_rows, int64_t n, float eps,
               float* out) override {
    tq::rmsnorm(x, w.data(), n_rows, n, eps, out);
  }

  void matmul(std::span<const WeightView* const> ws, const float* x, int64_t n_tokens,
              std::span<float* const> ys) override {
    if (ws.size() == 1) {
      tq::matmul(*ws[0], x, n_tokens, ys[0]);
    } else {
      matmul_multi(ws, x, n_tokens, ys);
    }
  }

  void add(const float* a, const float* b, float* out, int64_t n) override {
    if (out == a) {
      add_inplace(out, b, n);
    } else if (out == b) {
      add_inplace(out, a, n);  // a + b == b + a exactly
    } else {
      std::memcpy(out, a, static_cast<size_t>(n) * sizeof(float));
      add_inplace(out, b, n);
    }
  }

  void add_rows(float* x, const std::vector<float>& bias, int64_t n_rows) override {
    const int64_t n = static_cast<int64_t>(bias.size());
    for (int64_t r = 0; r < n_rows; ++r) add_inplace(x + r * n, bias.data(), n);
  }

  void deinterleave_heads(float* x, int64_t n_heads_total, int64_t d) override {
    row_.resize(static_cast<size_t>(d));
    float* tmp = row_.data();
    const int64_t half = d / 2;
    for (int64_t h = 0; h < n_heads_total; ++h) {
      float* xh = x + h * d;
      for (int64_t i = 0; i < half; ++i) {
        tmp[i] = xh[2 * i];
        tmp[half + i] = xh[2 * i + 1];
      }
      std::copy_n(tmp, d, xh);
    }
  }

  void glu(GluKind kind, const float* gate, float const* up, float* out, int64_t n) override {
    TQ_CHECK(kind == GluKind::kSwiGlu, "cpu backend: unknown activation");
    if (out != gate) std::memcpy(out, gate, static_cast<size_t>(n) * sizeof(float));
    silu_mul(out, up, n);
  }

  void scatter_add_cols(float* logits, int64_t ld, const std::vector<int32_t>& ids,
                        const float* vals, int64_t n_rows) override {
    const int64_t K = static_cast<int64_t>(ids.size());
    for (int64_t t = 0; t < n_rows; ++t)
      for (int64_t k = 0; k < K; ++k) logits[t * ld + ids[k]] += vals[t * K + k];
  }

 private:
  std::vector<int32_t> tokens_;    // [step_rows]
  std::vector<int64_t> positions_; // [step_rows]
  std::vector<float> row_;         // one row of scratch
};

}  // namespace

Result<std::shared_ptr<Backend>> make_backend(const std::string& device) {
  if (device == "cpu") return std::shared_ptr<Backend>(std::make_shared<CpuBackend>());
  if (device == "cuda" || device.starts_with("cuda:"))
    return unsupported("device '{}': this build has no CUDA backend (the CPU backend is 'cpu')",
                       device);
  return invalid_argument("unknown device '{}' (cpu, cuda, cuda:N)", device);
}

}  // namespace tq

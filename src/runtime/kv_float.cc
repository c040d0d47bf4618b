// f32 and f16 KV stores. Values: rows [n_kv_heads][n_ctx][head_dim]. Keys: the transposed-block
// "kt" layout of kernels/attention.h ([n_kv_heads][n_ctx / 16][head_dim][16]), so scoring a query
// is vertical FMAs over 16 positions at a time. Both: one head's positions are contiguous.
#include <memory>

#include "core/check.h"
#include "core/half.h"
#include "kernels/attention.h"
#include "runtime/kv_format_families.h"

namespace tq {
namespace {

template <class T>
class FloatKvStore final : public KvStore {
 public:
  explicit FloatKvStore(const KvStoreShape& s)
      : s_(s),
        ctx_(s.role == KvRole::kKey ? (s.n_ctx + kKeyBlock - 1) / kKeyBlock * kKeyBlock : s.n_ctx),
        data_(new T[static_cast<size_t>(s.n_kv_heads * ctx_ * s.head_dim)]) {}
  // ^ not value-initialized: pages are committed only when positions are written.

  void write(int64_t pos0, int64_t n_tokens, const float* x) override {
    const int64_t d = s_.head_dim;
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t h = 0; h < s_.n_kv_heads; ++h) {
        const float* src = x + (t * s_.n_kv_heads + h) * d;
        for (int64_t c = 0; c < d; ++c) *at(h, pos0 + t, c) = encode(src[c]);
      }
  }

  void scores(int64_t head, const float* q, int64_t n_q, int64_t n_pos, float* s,
              int64_t lds) const override {
    TQ_CHECK(s_.role == KvRole::kKey, "scores() on a value store");
    if constexpr (std::is_same_v<T, float>)
      attn_scores_kt_f32(q, n_q, head_base(head), n_pos, s_.head_dim, s, lds);
    else
      attn_scores_kt_f16(q, n_q, head_base(head), n_pos, s_.head_dim, s, lds);
  }

  void mix(int64_t head, const float* p, int64_t ldp, int64_t n_q, int64_t n_pos,
           float* out) const override {
    TQ_CHECK(s_.role == KvRole::kValue, "mix() on a key store");
    if constexpr (std::is_same_v<T, float>)
      attn_mix_f32(p, ldp, n_q, head_base(head), n_pos, s_.head_dim, s_.head_dim, out);
    else
      attn_mix_f16(p, ldp, n_q, head_base(head), n_pos, s_.head_dim, s_.head_dim, out);
  }

  void read(int64_t head, int64_t pos0, int64_t n, float* out) const override {
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < s_.head_dim; ++c)
        out[j * s_.head_dim + c] = decode(*const_cast<FloatKvStore*>(this)->at(head, pos0 + j, c));
  }

 private:
  static T encode(float x) {
    if constexpr (std::is_same_v<T, float>)
      return x;
    else
      return f32_to_f16(x);
  }
  static float decode(T x) {
    if constexpr (std::is_same_v<T, float>)
      return x;
    else
      return f16_to_f32(x);
  }
  const T* head_base(int64_t h) const { return data_.get() + h * ctx_ * s_.head_dim; }
  // Element (pos, c) of head h in this store's layout.
  T* at(int64_t h, int64_t pos, int64_t c) {
    T* base = data_.get() + h * ctx_ * s_.head_dim;
    if (s_.role == KvRole::kValue) return base + pos * s_.head_dim + c;
    return base + ((pos / kKeyBlock) * s_.head_dim + c) * kKeyBlock + pos % kKeyBlock;
  }

  KvStoreShape s_;
  int64_t ctx_;  // positions allocated (keys: rounded up to whole blocks)
  std::unique_ptr<T[]>
      data_;  // keys [n_kv_heads, ctx_ / 16, head_dim, 16]; values [n_kv_heads, ctx_, head_dim]
};

template <class T>
double float_bytes_per_token(int64_t n_kv_heads, int64_t head_dim) {
  return static_cast<double>(n_kv_heads * head_dim * sizeof(T));
}

template <class T>
Result<std::unique_ptr<KvStore>> create_float(const KvStoreShape& s) {
  return std::unique_ptr<KvStore>(std::make_unique<FloatKvStore<T>>(s));
}

const KvFormat kFloatKvFormats[] = {
    {"f16", "IEEE half per element (default)", float_bytes_per_token<uint16_t>,
     create_float<uint16_t>},
    {"f32", "float32 per element (debugging; exact)", float_bytes_per_token<float>,
     create_float<float>},
};

}  // namespace

std::span<const KvFormat> float_kv_formats() {
  return kFloatKvFormats;
}

}  // namespace tq

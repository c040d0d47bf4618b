// q4 and q4r KV stores: the baseline users know — ggml's q4_0 (4-bit codes per 32 values with an
// f16 scale, 4.5 bits per element) per head vector, q4r after a seeded randomized Hadamard rotation
// of the head vector (query rotated once, values rotated back once per head). head_dim is padded
// to a multiple of 32 with zeros.
//
// Attention decodes 16 (keys) or 64 (values) positions at a time into a float tile in L1 and runs
// the f32 kernels of kernels/attention.h on it: no copy of the cache is made. These formats are
// quality baselines; the fast code-domain path is runtime/kv_code_store.cc.
#include <algorithm>
#include <optional>

#include "core/check.h"
#include "core/rng.h"
#include "formats/format.h"
#include "kernels/attention.h"
#include "math/rotation.h"
#include "runtime/kv_format_families.h"

namespace tq {
namespace {

constexpr int64_t kGroup = 32;        // q4_0 block
constexpr int64_t kGroupBytes = 18;   // f16 scale + 16 bytes of nibbles
constexpr int64_t kMixTile = 64;      // value positions decoded per tile

int64_t pad32(int64_t d) { return (d + kGroup - 1) / kGroup * kGroup; }

class Q4KvStore final : public KvStore {
 public:
  Q4KvStore(const KvStoreShape& s, bool rotate)
      : s_(s),
        d_pad_(pad32(s.head_dim)),
        row_bytes_(d_pad_ / kGroup * kGroupBytes),
        fmt_(find_format(TypeId::q4_0)),
        data_(new uint8_t[static_cast<size_t>(s.n_kv_heads * s.n_ctx * row_bytes_)]) {
    TQ_CHECK(fmt_ && fmt_->from_float, "q4_0 is not in the format table");
    if (rotate) {
      const uint64_t seed = mix_seed(mix_seed(s.seed, static_cast<uint64_t>(s.layer)),
                                     s.role == KvRole::kKey ? 0x6b34ull : 0x7634ull);
      for (int64_t h = 0; h < s.n_kv_heads; ++h) {
        auto r = HadamardRotation::create(s.head_dim, mix_seed(seed, static_cast<uint64_t>(h)));
        TQ_CHECK(r.ok(), "rotation: {}", r.status().to_string());
        rot_.push_back(std::move(*r));
      }
    }
  }

  void write(int64_t pos0, int64_t n_tokens, const float* x) override {
    std::vector<float> y(static_cast<size_t>(d_pad_), 0.0f);
    const int64_t d = s_.head_dim;
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t h = 0; h < s_.n_kv_heads; ++h) {
        const float* src = x + (t * s_.n_kv_heads + h) * d;
        if (rot_.empty()) std::copy_n(src, d, y.data()); else rot_[h].forward(src, y.data());
        fmt_->from_float(y.data(), row(h, pos0 + t), d_pad_);
      }
  }

  void scores(int64_t head, const float* q, int64_t n_q, int64_t n_pos, float* s,
              int64_t lds) const override {
    TQ_CHECK(s_.role == KvRole::kKey, "scores() on a value store");
    thread_local std::vector<float> qr, tile, rows;
    prepare_queries(head, q, n_q, &qr);
    tile.resize(static_cast<size_t>(d_pad_ * kKeyBlock));
    rows.resize(static_cast<size_t>(d_pad_ * kKeyBlock));
    for (int64_t j0 = 0; j0 < n_pos; j0 += kKeyBlock) {
      const int64_t nb = std::min(kKeyBlock, n_pos - j0);
      for (int64_t j = 0; j < nb; ++j) fmt_->to_float(row(head, j0 + j), rows.data() + j * d_pad_, d_pad_);
      for (int64_t c = 0; c < d_pad_; ++c)  // transpose into the kt layout of one block
        for (int64_t j = 0; j < kKeyBlock; ++j)
          tile[c * kKeyBlock + j] = j < nb ? rows[j * d_pad_ + c] : 0.0f;
      attn_scores_kt_f32(qr.data(), n_q, tile.data(), nb, d_pad_, s + j0, lds);
    }
  }

  void mix(int64_t head, const float* p, int64_t ldp, int64_t n_q, int64_t n_pos,
           float* out) const override {
    TQ_CHECK(s_.role == KvRole::kValue, "mix() on a key store");
    thread_local std::vector<float> tile, part, acc;
    tile.resize(static_cast<size_t>(kMixTile * d_pad_));
    part.resize(static_cast<size_t>(n_q * d_pad_));
    acc.assign(static_cast<size_t>(n_q * d_pad_), 0.0f);
    for (int64_t j0 = 0; j0 < n_pos; j0 += kMixTile) {
      const int64_t nb = std::min(kMixTile, n_pos - j0);
      for (int64_t j = 0; j < nb; ++j) fmt_->to_float(row(head, j0 + j), tile.data() + j * d_pad_, d_pad_);
      attn_mix_f32(p + j0, ldp, n_q, tile.data(), nb, d_pad_, d_pad_, part.data());
      for (size_t k = 0; k < part.size(); ++k) acc[k] += part[k];
    }
    const int64_t d = s_.head_dim;
    for (int64_t i = 0; i < n_q; ++i) {
      if (rot_.empty()) std::copy_n(acc.data() + i * d_pad_, d, out + i * d);
      else rot_[head].inverse(acc.data() + i * d_pad_, out + i * d);
    }
  }

  void read(int64_t head, int64_t pos0, int64_t n, float* out) const override {
    std::vector<float> y(static_cast<size_t>(d_pad_));
    const int64_t d = s_.head_dim;
    for (int64_t j = 0; j < n; ++j) {
      fmt_->to_float(row(head, pos0 + j), y.data(), d_pad_);
      if (rot_.empty()) std::copy_n(y.data(), d, out + j * d); else rot_[head].inverse(y.data(), out + j * d);
    }
  }

 private:
  uint8_t* row(int64_t h, int64_t pos) const {
    return data_.get() + (h * s_.n_ctx + pos) * row_bytes_;
  }
  // Rotated (q4r) and zero-padded queries: qr [n_q, d_pad].
  void prepare_queries(int64_t head, const float* q, int64_t n_q, std::vector<float>* qr) const {
    const int64_t d = s_.head_dim;
    qr->assign(static_cast<size_t>(n_q * d_pad_), 0.0f);
    for (int64_t i = 0; i < n_q; ++i) {
      if (rot_.empty()) std::copy_n(q + i * d, d, qr->data() + i * d_pad_);
      else rot_[head].forward(q + i * d, qr->data() + i * d_pad_);
    }
  }

  KvStoreShape s_;
  int64_t d_pad_, row_bytes_;
  const FormatTraits* fmt_;
  std::vector<HadamardRotation> rot_;  // [n_kv_heads] q4r only
  std::unique_ptr<uint8_t[]> data_;    // [n_kv_heads, n_ctx, d_pad / 32 q4_0 blocks]
};

double q4_bytes_per_token(int64_t n_kv_heads, int64_t head_dim) {
  return static_cast<double>(n_kv_heads * pad32(head_dim) / kGroup * kGroupBytes);
}
Result<std::unique_ptr<KvStore>> create_q4(const KvStoreShape& s) {
  return std::unique_ptr<KvStore>(std::make_unique<Q4KvStore>(s, false));
}
Result<std::unique_ptr<KvStore>> create_q4r(const KvStoreShape& s) {
  return std::unique_ptr<KvStore>(std::make_unique<Q4KvStore>(s, true));
}

const KvFormat kQ4KvFormats[] = {
    {"q4", "ggml q4_0 per head vector: 4-bit codes per 32 values + f16 scale (4.5 bits)",
     q4_bytes_per_token, create_q4},
    {"q4r", "q4 after a randomized Hadamard rotation of each head vector (4.5 bits)",
     q4_bytes_per_token, create_q4r},
};

}  // namespace

std::span<const KvFormat> q4_kv_formats() {
  return kQ4KvFormats;
}

}  // namespace tq

#include "runtime/kv_code_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>

#include "core/check.h"
#include "core/half.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "kernels/kv_codes.h"
#include "math/lloyd_max.h"
#include "math/qjl.h"
#include "math/rotation.h"
#include "runtime/kv_channel_stats.h"

namespace tq {
namespace {

float round_f16(float s) { return f16_to_f32(f32_to_f16(std::min(s, 65504.0f))); }

// Levels, their float values (level · unit) and decision boundaries of one part.
struct PartTables {
  KvLevels lv;
  float unit = 1.0f;               // value of level 1 in units of the scale
  std::vector<float> centroids;    // [2^bits] ascending: levels · unit
  std::vector<float> boundaries;   // [2^bits − 1] midpoints
};

Result<PartTables> make_tables(const KvPartSpec& p, int64_t n, const char* name) {
  PartTables t;
  t.lv.bits = p.bits;
  const int L = 1 << p.bits;
  switch (p.levels) {
    case KvLevelRule::kUniform8:
      TQ_CHECK(p.bits == 8, "uniform levels are 8-bit");
      for (int k = 0; k < L; ++k) t.lv.levels[k] = static_cast<int8_t>(k - 128);
      break;
    case KvLevelRule::kSign:
      TQ_CHECK(p.bits == 1, "sign levels are 1-bit");
      t.lv.levels[0] = -1;
      t.lv.levels[1] = 1;
      break;
    case KvLevelRule::kLloydMax: {
      // The sphere codebook of R^n in units of 1/√n (≈ N(0, 1) Lloyd–Max), rounded to int8 levels
      // with the largest at ±127: the rounding adds < 0.5% to the distortion at 5 bits.
      TQ_ASSIGN_OR_RETURN(const Codebook* cb, sphere_codebook(std::max<int64_t>(n, 2), p.bits));
      double mx = 0;
      for (double c : cb->centroids) mx = std::max(mx, std::fabs(c));
      const double L8 = 127.0 / mx;
      for (int k = 0; k < L; ++k)
        t.lv.levels[k] = static_cast<int8_t>(std::lround(cb->centroids[k] * L8));
      for (int k = 1; k < L; ++k)
        if (t.lv.levels[k] <= t.lv.levels[k - 1])
          return invalid_argument("KV type {}: {}-bit levels collide after rounding to int8", name,
                                  p.bits);
      t.unit = static_cast<float>(std::sqrt(static_cast<double>(n)) / L8);
      break;
    }
  }
  t.centroids.resize(L);
  for (int k = 0; k < L; ++k) t.centroids[k] = t.lv.levels[k] * t.unit;
  t.boundaries.resize(L - 1);
  for (int k = 0; k + 1 < L; ++k) t.boundaries[k] = 0.5f * (t.centroids[k] + t.centroids[k + 1]);
  return t;
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// One part of one KV head.
struct HeadPart {
  std::vector<int32_t> channels;          // [n] ascending channel ids of the head vector
  std::optional<HadamardRotation> rot;    // Π of this part (none for q8)
  std::optional<QjlSketch> qjl;           // kQjlResidual part 1: P
  std::unique_ptr<uint8_t, FreeDeleter> codes;  // [n_blocks, block_bytes], zero pages until used
  std::unique_ptr<uint16_t, FreeDeleter> scales;  // [n_ctx] f16
};

class CodeKvStore final : public KvStore {
 public:
  CodeKvStore(const CodeKvSpec& spec, const KvStoreShape& s) : spec_(spec), s_(s) {}

  Status init(const char* name) {
    const int64_t d = s_.head_dim;
    const bool keys = s_.role == KvRole::kKey;
    if (spec_.keys_only && !keys)
      return invalid_argument(
          "KV type {} estimates inner products (TurboQuant_prod) and stores keys only; use it for "
          "--kv-k",
          name);
    // Part channel counts.
    std::vector<int64_t> n(spec_.parts.size(), d);
    if (spec_.split == KvSplit::kOutliers) {
      n[0] = d / spec_.outlier_den;
      n[1] = d - n[0];
      if (n[0] < 2 || n[1] < 2)
        return invalid_argument("KV type {} needs head_dim >= {} (it has {})", name,
                                2 * spec_.outlier_den, d);
      if (!s_.channel_stats)
        return invalid_argument("KV type {} needs per-channel statistics (none given)", name);
    } else if (d < 2) {
      return invalid_argument("KV type {} needs head_dim >= 2", name);
    }
    for (size_t t = 0; t < spec_.parts.size(); ++t) {
      TQ_ASSIGN_OR_RETURN(PartTables tab, make_tables(spec_.parts[t], n[t], name));
      tables_.push_back(std::move(tab));
      n_.push_back(n[t]);
      n_pad_.push_back(kv_pad_dim(n[t]));
    }
    block_ = keys ? kKvKeyBlock : kKvValueBlock;
    n_blocks_ = (s_.n_ctx + block_ - 1) / block_;
    const uint64_t role_seed = mix_seed(mix_seed(s_.seed, static_cast<uint64_t>(s_.layer)),
                                        keys ? 0x6b65ull : 0x7661ull);
    heads_.resize(static_cast<size_t>(s_.n_kv_heads * n_.size()));
    for (int64_t h = 0; h < s_.n_kv_heads; ++h)
      for (size_t t = 0; t < n_.size(); ++t) {
        HeadPart& hp = part(h, t);
        const uint64_t seed = mix_seed(mix_seed(role_seed, static_cast<uint64_t>(h)), t);
        if (spec_.split == KvSplit::kOutliers) {
          const std::vector<int64_t> out =
              s_.channel_stats->outlier_channels(s_.layer, s_.role, h, n_[0]);
          std::vector<bool> is_out(static_cast<size_t>(d), false);
          for (int64_t c : out) is_out[c] = true;
          for (int64_t c = 0; c < d; ++c)
            if (is_out[c] == (t == 0)) hp.channels.push_back(static_cast<int32_t>(c));
        } else {
          for (int64_t c = 0; c < d; ++c) hp.channels.push_back(static_cast<int32_t>(c));
        }
        TQ_CHECK(static_cast<int64_t>(hp.channels.size()) == n_[t], "part size");
        if (spec_.parts[t].rotate) {
          TQ_ASSIGN_OR_RETURN(HadamardRotation r, HadamardRotation::create(n_[t], seed));
          hp.rot.emplace(std::move(r));
        }
        if (spec_.split == KvSplit::kQjlResidual && t == 1) {
          TQ_ASSIGN_OR_RETURN(QjlSketch q, QjlSketch::create(n_[t], seed ^ 0x716a6cull));
          hp.qjl.emplace(std::move(q));
        }
        const size_t code_bytes = static_cast<size_t>(n_blocks_ * block_bytes(t));
        hp.codes.reset(static_cast<uint8_t*>(std::calloc(code_bytes, 1)));
        hp.scales.reset(static_cast<uint16_t*>(std::calloc(static_cast<size_t>(s_.n_ctx), 2)));
        if (!hp.codes || !hp.scales)
          return out_of_range("KV type {}: cannot allocate {} bytes for layer {}", name,
                                    code_bytes, s_.layer);
      }
    return ok_status();
  }

  void write(int64_t pos0, int64_t n_tokens, const float* x) override {
    // Tasks: (head, group of 16 positions): positions of one code block never span two tasks.
    const int64_t g0 = pos0 / kKvKeyBlock, g1 = (pos0 + n_tokens - 1) / kKvKeyBlock + 1;
    const int64_t n_groups = g1 - g0, d = s_.head_dim;
    parallel_for(s_.n_kv_heads * n_groups, [&](int64_t a, int64_t b) {
      for (int64_t task = a; task < b; ++task) {
        const int64_t h = task % s_.n_kv_heads, g = g0 + task / s_.n_kv_heads;
        const int64_t p0 = std::max(pos0, g * kKvKeyBlock);
        const int64_t p1 = std::min(pos0 + n_tokens, (g + 1) * kKvKeyBlock);
        for (int64_t pos = p0; pos < p1; ++pos)
          encode(h, pos, x + ((pos - pos0) * s_.n_kv_heads + h) * d);
      }
    }, n_tokens >= kKvKeyBlock ? 1 : s_.n_kv_heads * n_groups);  // a decode step: inline
  }

  void scores(int64_t head, const float* q, int64_t n_q, int64_t n_pos, float* s,
              int64_t lds) const override {
    TQ_CHECK(s_.role == KvRole::kKey, "scores() on a value store");
    thread_local std::vector<float> qr, tmp;
    thread_local std::vector<int8_t> q8;
    thread_local std::vector<float> qm;
    const int64_t d = s_.head_dim;
    qr.resize(static_cast<size_t>(d));
    tmp.resize(static_cast<size_t>(d));
    qm.resize(static_cast<size_t>(n_q));
    for (size_t t = 0; t < n_.size(); ++t) {
      const HeadPart& hp = part(head, t);
      const int64_t n = n_[t], n_pad = n_pad_[t];
      q8.resize(static_cast<size_t>(n_q * n_pad));
      for (int64_t i = 0; i < n_q; ++i) {
        // QJL part: P·Π·q with Π the rotation of part 0 (its residual lives in that basis).
        const HeadPart& src = spec_.split == KvSplit::kQjlResidual ? part(head, 0) : hp;
        transform_query(src, q + i * d, qr.data());
        if (hp.qjl) {
          hp.qjl->project(qr.data(), tmp.data());
          std::copy_n(tmp.data(), n, qr.data());
        }
        float m = quantize_query_i8(qr.data(), n, n_pad, q8.data() + i * n_pad) * tables_[t].unit;
        if (hp.qjl) m *= static_cast<float>(hp.qjl->scale());
        qm[i] = m;
      }
      kv_scores_codes(q8.data(), qm.data(), n_q, hp.codes.get(), hp.scales.get(), n_pos, n_pad,
                      tables_[t].lv, s, lds, /*accumulate=*/t > 0);
    }
  }

  void mix(int64_t head, const float* p, int64_t ldp, int64_t n_q, int64_t n_pos,
           float* out) const override {
    TQ_CHECK(s_.role == KvRole::kValue, "mix() on a key store");
    thread_local std::vector<float> buf, row;
    const int64_t d = s_.head_dim;
    std::fill(out, out + n_q * d, 0.0f);
    row.resize(static_cast<size_t>(d));
    for (size_t t = 0; t < n_.size(); ++t) {
      const HeadPart& hp = part(head, t);
      const int64_t n = n_[t], n_pad = n_pad_[t];
      buf.resize(static_cast<size_t>(n_q * n_pad));
      kv_mix_codes(p, ldp, n_q, hp.codes.get(), hp.scales.get(), n_pos, n_pad, tables_[t].lv,
                   tables_[t].unit, buf.data());
      for (int64_t i = 0; i < n_q; ++i) {
        float* y = buf.data() + i * n_pad;
        if (hp.rot) hp.rot->inverse(y, row.data()); else std::copy_n(y, n, row.data());
        for (int64_t c = 0; c < n; ++c) out[i * d + hp.channels[c]] += row[c];
      }
    }
  }

  void read(int64_t head, int64_t pos0, int64_t n_read, float* out) const override {
    const int64_t d = s_.head_dim;
    std::vector<float> y(static_cast<size_t>(d)), x(static_cast<size_t>(d));
    for (int64_t j = 0; j < n_read; ++j) {
      float* o = out + j * d;
      std::fill(o, o + d, 0.0f);
      const int64_t pos = pos0 + j;
      std::vector<float> y0;  // part 0's rotated reconstruction (QJL adds to it)
      for (size_t t = 0; t < n_.size(); ++t) {
        const HeadPart& hp = part(head, t);
        const int64_t n = n_[t];
        const float scale = f16_to_f32(hp.scales.get()[pos]);
        for (int64_t c = 0; c < n; ++c)
          y[c] = scale * tables_[t].centroids[code(t, hp, pos, c)];
        if (hp.qjl) {  // r̂ = ‖r‖·κ·Pᵀz, added in part 0's basis
          hp.qjl->project_transpose_signs(sign_bytes(t, hp, pos).data(), x.data());
          for (int64_t c = 0; c < n; ++c)
            y0[c] += scale * static_cast<float>(hp.qjl->scale()) * x[c];
          continue;
        }
        if (spec_.split == KvSplit::kQjlResidual) {
          y0.assign(y.begin(), y.begin() + n);
          continue;
        }
        unrotate_scatter(hp, y.data(), o);
      }
      if (spec_.split == KvSplit::kQjlResidual) unrotate_scatter(part(head, 0), y0.data(), o);
    }
  }

  void clear() override {}

 private:
  HeadPart& part(int64_t h, size_t t) { return heads_[h * n_.size() + t]; }
  const HeadPart& part(int64_t h, size_t t) const { return heads_[h * n_.size() + t]; }
  int64_t block_bytes(size_t t) const {
    return block_ == kKvKeyBlock ? kv_key_block_bytes(n_pad_[t], tables_[t].lv.bits)
                                 : kv_value_block_bytes(n_pad_[t], tables_[t].lv.bits);
  }
  int64_t code_index(int64_t p, int64_t c) const {
    return block_ == kKvKeyBlock ? kv_key_code_index(p, c) : kv_value_code_index(p, c);
  }
  uint32_t code(size_t t, const HeadPart& hp, int64_t pos, int64_t c) const {
    return kv_get_code(hp.codes.get() + (pos / block_) * block_bytes(t), code_index(pos % block_, c),
                       tables_[t].lv.bits);
  }
  std::vector<uint8_t> sign_bytes(size_t t, const HeadPart& hp, int64_t pos) const {
    const int64_t n = n_[t];
    std::vector<uint8_t> b(static_cast<size_t>((n + 7) / 8), 0);
    for (int64_t c = 0; c < n; ++c)
      if (code(t, hp, pos, c)) b[c / 8] |= static_cast<uint8_t>(1u << (c % 8));
    return b;
  }
  void unrotate_scatter(const HeadPart& hp, const float* y, float* o) const {
    const int64_t n = static_cast<int64_t>(hp.channels.size());
    std::vector<float> x(static_cast<size_t>(n));
    if (hp.rot) hp.rot->inverse(y, x.data()); else std::copy_n(y, n, x.data());
    for (int64_t c = 0; c < n; ++c) o[hp.channels[c]] += x[c];
  }
  // Gathers the part's channels of a head vector and rotates them: out[n].
  static void transform_query(const HeadPart& hp, const float* x, float* out) {
    const int64_t n = static_cast<int64_t>(hp.channels.size());
    thread_local std::vector<float> g;
    g.resize(static_cast<size_t>(n));
    for (int64_t c = 0; c < n; ++c) g[c] = x[hp.channels[c]];
    if (hp.rot) hp.rot->forward(g.data(), out); else std::copy_n(g.data(), n, out);
  }

  void put_codes(size_t t, HeadPart& hp, int64_t pos, const uint8_t* idx) {
    uint8_t* block = hp.codes.get() + (pos / block_) * block_bytes(t);
    const int64_t p = pos % block_;
    for (int64_t c = 0; c < n_pad_[t]; ++c)
      kv_put_code(block, code_index(p, c), tables_[t].lv.bits, c < n_[t] ? idx[c] : 0);
  }

  void encode(int64_t h, int64_t pos, const float* x) {
    thread_local std::vector<float> y0, y, r;
    thread_local std::vector<uint8_t> idx;
    for (size_t t = 0; t < n_.size(); ++t) {
      HeadPart& hp = part(h, t);
      const int64_t n = n_[t];
      const PartTables& tab = tables_[t];
      y.resize(static_cast<size_t>(n));
      idx.resize(static_cast<size_t>(n));
      float scale = 0.0f;
      if (hp.qjl) {  // signs of P·r, r = part 0's rotated residual; scale ‖r‖
        r.resize(static_cast<size_t>(n));
        double rr = 0;
        for (int64_t c = 0; c < n; ++c) {
          r[c] = y0[c];
          rr += static_cast<double>(r[c]) * r[c];
        }
        hp.qjl->project(r.data(), y.data());
        for (int64_t c = 0; c < n; ++c) idx[c] = y[c] >= 0.0f ? 1 : 0;
        scale = round_f16(static_cast<float>(std::sqrt(rr)));
      } else {
        transform_query(hp, x, y.data());
        const KvPartSpec& ps = spec_.parts[t];
        if (ps.scale == KvScaleRule::kAbsMax) {
          float mx = 0;
          for (int64_t c = 0; c < n; ++c) mx = std::max(mx, std::fabs(y[c]));
          scale = round_f16(mx / 127.0f);
          const float inv = scale > 0 ? 1.0f / scale : 0.0f;
          for (int64_t c = 0; c < n; ++c)
            idx[c] = static_cast<uint8_t>(
                std::clamp(static_cast<int>(std::nearbyint(y[c] * inv)), -127, 127) + 128);
        } else {
          scale = kv_encode_scaled(y.data(), n, tab.centroids.data(), tab.boundaries.data(),
                                   tab.lv.bits, ps.scale, idx.data());
        }
        if (spec_.split == KvSplit::kQjlResidual && t == 0) {  // keep the residual for part 1
          y0.resize(static_cast<size_t>(n));
          for (int64_t c = 0; c < n; ++c) y0[c] = y[c] - scale * tab.centroids[idx[c]];
        }
      }
      put_codes(t, hp, pos, idx.data());
      hp.scales.get()[pos] = f32_to_f16(scale);
    }
  }

  CodeKvSpec spec_;
  KvStoreShape s_;
  std::vector<PartTables> tables_;  // [parts]
  std::vector<int64_t> n_, n_pad_;  // [parts] channels, padded to kKvDimAlign
  int64_t block_ = 0, n_blocks_ = 0;
  std::vector<HeadPart> heads_;     // [n_kv_heads, parts]
};

}  // namespace

double code_kv_bytes_per_token(const CodeKvSpec& spec, int64_t n_kv_heads, int64_t head_dim) {
  std::vector<int64_t> n(spec.parts.size(), head_dim);
  if (spec.split == KvSplit::kOutliers) {
    n[0] = head_dim / spec.outlier_den;
    n[1] = head_dim - n[0];
  }
  double bytes = 0;
  for (size_t t = 0; t < spec.parts.size(); ++t)
    bytes += static_cast<double>(kv_pad_dim(n[t]) * spec.parts[t].bits) / 8.0 + 2.0;
  return bytes * static_cast<double>(n_kv_heads);
}

Result<std::unique_ptr<KvStore>> make_code_kv_store(const CodeKvSpec& spec, const char* name,
                                                    const KvStoreShape& shape) {
  auto st = std::make_unique<CodeKvStore>(spec, shape);
  TQ_RETURN_IF_ERROR(st->init(name));
  return std::unique_ptr<KvStore>(std::move(st));
}

}  // namespace tq

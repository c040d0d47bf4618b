#include "runtime/kv_code_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <tuple>

#include "core/check.h"
#include "core/half.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "kernels/kv_codes.h"
#include "math/lloyd_max.h"
#include "math/qjl.h"
#include "math/rotation.h"
#include "runtime/kv_channel_stats.h"
#include "runtime/kv_transform.h"

namespace tq {
namespace {

float round_f16(float s) {
  return f16_to_f32(f32_to_f16(std::min(s, 65504.0f)));
}

// Levels, their float values (level · unit) and decision boundaries of one part.
struct PartTables {
  KvLevels lv;
  float unit = 1.0f;              // value of level 1 in units of the scale
  bool uniform = false;           // equally spaced levels (coded by rounding)
  std::vector<float> centroids;   // [2^bits] ascending: levels · unit
  std::vector<float> boundaries;  // [2^bits − 1] midpoints
};

Result<PartTables> make_tables(KvLevelRule rule, int bits, int64_t n, const char* name) {
  PartTables t;
  t.lv.bits = bits;
  const int L = 1 << bits;
  switch (rule) {
    case KvLevelRule::kUniform8:
      TQ_CHECK(bits == 8, "uniform levels are 8-bit");
      for (int k = 0; k < L; ++k) t.lv.levels[k] = static_cast<int8_t>(k - 128);
      t.uniform = true;
      break;
    case KvLevelRule::kSign:
      TQ_CHECK(bits == 1, "sign levels are 1-bit");
      t.lv.levels[0] = -1;
      t.lv.levels[1] = 1;
      break;
    case KvLevelRule::kGaussUniform: {
      // Equally spaced int8 levels (steps of 4, 2, 1 for 6, 7, 8 bits) at the step of the optimal
      // uniform quantizer of N(0, 1) with 2^bits levels (Max 1960: 0.1041, 0.0569, 0.0308).
      TQ_CHECK(bits >= 6 && bits <= 8, "Gaussian uniform levels are 6..8-bit");
      const int step = 1 << (8 - bits);
      for (int k = 0; k < L; ++k)
        t.lv.levels[k] = static_cast<int8_t>(bits == 8 ? k - 128 : -(L - 1) * step / 2 + k * step);
      const double opt[3] = {0.1041, 0.0569, 0.0308};
      t.unit = static_cast<float>(opt[bits - 6] / step);
      t.uniform = true;
      break;
    }
    case KvLevelRule::kLloydMax: {
      // The sphere codebook of R^n in units of 1/√n (≈ N(0, 1) Lloyd–Max), rounded to int8 levels
      // with the largest at ±127: the rounding adds < 0.5% to the distortion at 5 bits.
      TQ_CHECK(bits <= 5, "Lloyd–Max int8 levels go to 5 bits");
      TQ_ASSIGN_OR_RETURN(const Codebook* cb, sphere_codebook(std::max<int64_t>(n, 2), bits));
      double mx = 0;
      for (double c : cb->centroids) mx = std::max(mx, std::fabs(c));
      const double L8 = 127.0 / mx;
      for (int k = 0; k < L; ++k)
        t.lv.levels[k] = static_cast<int8_t>(std::lround(cb->centroids[k] * L8));
      for (int k = 1; k < L; ++k)
        if (t.lv.levels[k] <= t.lv.levels[k - 1])
          return invalid_argument("KV type {}: {}-bit levels collide after rounding to int8", name,
                                  bits);
      t.unit = static_cast<float>(std::sqrt(static_cast<double>(std::max<int64_t>(n, 2))) / L8);
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
template <class T>
using Buffer = std::unique_ptr<T, FreeDeleter>;  // calloc: zero pages, committed when written

// One part of one KV head.
struct HeadPart {
  std::vector<int32_t> channels;  // [n] ids into the head vector (or its transform z)
  int64_t n = 0, n_pad = 0;
  const PartTables* tab = nullptr;
  KvScaleRule rule = KvScaleRule::kLeastSquares;
  float sigma = 1.0f;                   // fixed relative scale (shared-scale layouts)
  std::optional<HadamardRotation> rot;  // Π of this part
  std::optional<QjlSketch> qjl;         // kQjlResidual part 1: P
  Buffer<uint8_t> codes;                // [n_blocks, block_bytes]
  Buffer<uint16_t> scales;              // [n_ctx] f16; null when the head shares one scale
};

struct Head {
  std::vector<HeadPart> parts;
  std::optional<KvTransform> transform;  // kTransform
  Buffer<uint16_t> shared_scales;        // [n_ctx] f16 (kTransform)
};

class CodeKvStore final : public KvStore {
 public:
  CodeKvStore(const CodeKvSpec& spec, const KvStoreShape& s) : spec_(spec), s_(s) {}

  Status init(const char* name) {
    const int64_t d = s_.head_dim;
    keys_ = s_.role == KvRole::kKey;
    if (spec_.keys_only && !keys_)
      return invalid_argument(
          "KV type {} estimates inner products (TurboQuant_prod) and stores keys only; use it for "
          "--kv-k",
          name);
    if (d < 2) return invalid_argument("KV type {} needs head_dim >= 2", name);
    if (spec_.split == KvSplit::kOutliers) {
      if (d / spec_.outlier_den < 2 || d - d / spec_.outlier_den < 2)
        return invalid_argument("KV type {} needs head_dim >= {} (it has {})", name,
                                2 * spec_.outlier_den, d);
      if (!s_.channel_stats)
        return invalid_argument("KV type {} needs per-channel statistics (none given)", name);
    }
    if (spec_.split == KvSplit::kTransform &&
        (!s_.channel_stats || !s_.channel_stats->has_covariances()))
      return invalid_argument(
          "KV type {} needs second-moment statistics (a calibration text or "
          "the model weights)",
          name);
    block_ = keys_ ? kKvKeyBlock : kKvValueBlock;
    n_blocks_ = (s_.n_ctx + block_ - 1) / block_;
    const uint64_t role_seed =
        mix_seed(mix_seed(s_.seed, static_cast<uint64_t>(s_.layer)), keys_ ? 0x6b65ull : 0x7661ull);
    heads_.resize(static_cast<size_t>(s_.n_kv_heads));
    if (spec_.split == KvSplit::kTransform) {  // the eigen-decompositions, one task per head
      transforms_.assign(static_cast<size_t>(s_.n_kv_heads), Result<KvTransform>(KvTransform{}));
      parallel_for(s_.n_kv_heads, [&](int64_t a, int64_t b) {
        for (int64_t h = a; h < b; ++h)
          transforms_[h] =
              make_kv_transform(*s_.channel_stats, s_.layer, s_.role, h, spec_.transform_bits);
      });
    }
    for (int64_t h = 0; h < s_.n_kv_heads; ++h) {
      Head& head = heads_[h];
      const uint64_t head_seed = mix_seed(role_seed, static_cast<uint64_t>(h));
      TQ_RETURN_IF_ERROR(layout(h, name, &head));
      for (size_t t = 0; t < head.parts.size(); ++t) {
        HeadPart& p = head.parts[t];
        const uint64_t seed = mix_seed(head_seed, t);
        if (rotate_part(t)) {
          TQ_ASSIGN_OR_RETURN(HadamardRotation r, HadamardRotation::create(p.n, seed));
          p.rot.emplace(std::move(r));
        }
        if (spec_.split == KvSplit::kQjlResidual && t == 1) {
          TQ_ASSIGN_OR_RETURN(QjlSketch q, QjlSketch::create(p.n, seed ^ 0x716a6cull));
          p.qjl.emplace(std::move(q));
        }
        const size_t code_bytes = static_cast<size_t>(n_blocks_ * block_bytes(p));
        p.codes.reset(static_cast<uint8_t*>(std::calloc(std::max<size_t>(code_bytes, 1), 1)));
        if (!p.codes) return alloc_error(name, code_bytes);
        if (spec_.split != KvSplit::kTransform) {
          p.scales.reset(static_cast<uint16_t*>(std::calloc(static_cast<size_t>(s_.n_ctx), 2)));
          if (!p.scales) return alloc_error(name, static_cast<size_t>(s_.n_ctx) * 2);
        }
      }
      if (spec_.split == KvSplit::kTransform) {
        head.shared_scales.reset(
            static_cast<uint16_t*>(std::calloc(static_cast<size_t>(s_.n_ctx), 2)));
        if (!head.shared_scales) return alloc_error(name, static_cast<size_t>(s_.n_ctx) * 2);
      }
    }
    transforms_.clear();
    return ok_status();
  }

  void write(int64_t pos0, int64_t n_tokens, const float* x) override {
    // Tasks: (head, group of 16 positions): positions of one code block never span two tasks.
    const int64_t g0 = pos0 / kKvKeyBlock, g1 = (pos0 + n_tokens - 1) / kKvKeyBlock + 1;
    const int64_t n_groups = g1 - g0, d = s_.head_dim;
    parallel_for(
        s_.n_kv_heads * n_groups,
        [&](int64_t a, int64_t b) {
          for (int64_t task = a; task < b; ++task) {
            const int64_t h = task % s_.n_kv_heads, g = g0 + task / s_.n_kv_heads;
            const int64_t p0 = std::max(pos0, g * kKvKeyBlock);
            const int64_t p1 = std::min(pos0 + n_tokens, (g + 1) * kKvKeyBlock);
            for (int64_t pos = p0; pos < p1; ++pos)
              encode(h, pos, x + ((pos - pos0) * s_.n_kv_heads + h) * d);
          }
        },
        n_tokens >= kKvKeyBlock ? 1 : s_.n_kv_heads * n_groups);  // a decode step: inline
  }

  void scores(int64_t head, const float* q, int64_t n_q, int64_t n_pos, float* s,
              int64_t lds) const override {
    TQ_CHECK(keys_, "scores() on a value store");
    const Head& hd = heads_[head];
    const int64_t d = s_.head_dim;
    thread_local std::vector<float> qt, qr, tmp, qm;
    thread_local std::vector<int8_t> q8;
    qt.resize(static_cast<size_t>(n_q * d));
    qr.resize(static_cast<size_t>(d));
    tmp.resize(static_cast<size_t>(d));
    qm.resize(static_cast<size_t>(n_q));
    for (int64_t i = 0; i < n_q; ++i) {  // the query transform, once per query
      if (hd.transform)
        matvec(hd.transform->query.data(), q + i * d, d, d, qt.data() + i * d);
      else
        std::copy_n(q + i * d, d, qt.data() + i * d);
    }
    for (size_t t = 0; t < hd.parts.size(); ++t) {
      const HeadPart& p = hd.parts[t];
      q8.resize(static_cast<size_t>(n_q * p.n_pad));
      for (int64_t i = 0; i < n_q; ++i) {
        // QJL part: P·Π·q with Π the rotation of part 0 (its residual lives in that basis).
        const HeadPart& src = spec_.split == KvSplit::kQjlResidual ? hd.parts[0] : p;
        gather_rotate(src, qt.data() + i * d, qr.data());
        if (p.qjl) {
          p.qjl->project(qr.data(), tmp.data());
          std::copy_n(tmp.data(), p.n, qr.data());
        }
        float m = quantize_query_i8(qr.data(), p.n, p.n_pad, q8.data() + i * p.n_pad) *
                  p.tab->unit * p.sigma;
        if (p.qjl) m *= static_cast<float>(p.qjl->scale());
        qm[i] = m;
      }
      kv_scores_codes(q8.data(), qm.data(), n_q, p.codes.get(), scales_of(hd, p), n_pos, p.n_pad,
                      p.tab->lv, s, lds, /*accumulate=*/t > 0);
    }
    if (hd.parts.empty())
      for (int64_t i = 0; i < n_q; ++i) std::fill(s + i * lds, s + i * lds + n_pos, 0.0f);
  }

  void mix(int64_t head, const float* p, int64_t ldp, int64_t n_q, int64_t n_pos,
           float* out) const override {
    TQ_CHECK(!keys_, "mix() on a key store");
    const Head& hd = heads_[head];
    const int64_t d = s_.head_dim;
    thread_local std::vector<float> buf, row, z;
    row.resize(static_cast<size_t>(d));
    z.assign(static_cast<size_t>(n_q * d), 0.0f);  // accumulated in the stored basis
    for (const HeadPart& part : hd.parts) {
      buf.resize(static_cast<size_t>(n_q * part.n_pad));
      kv_mix_codes(p, ldp, n_q, part.codes.get(), scales_of(hd, part), n_pos, part.n_pad,
                   part.tab->lv, part.tab->unit * part.sigma, buf.data());
      for (int64_t i = 0; i < n_q; ++i) {
        const float* y = buf.data() + i * part.n_pad;
        if (part.rot)
          part.rot->inverse(y, row.data());
        else
          std::copy_n(y, part.n, row.data());
        for (int64_t c = 0; c < part.n; ++c) z[i * d + part.channels[c]] += row[c];
      }
    }
    for (int64_t i = 0; i < n_q; ++i) {  // back from the transform, once per query
      if (hd.transform)
        matvec(hd.transform->inv.data(), z.data() + i * d, d, d, out + i * d);
      else
        std::copy_n(z.data() + i * d, d, out + i * d);
    }
  }

  void read(int64_t head, int64_t pos0, int64_t n_read, float* out) const override {
    const Head& hd = heads_[head];
    const int64_t d = s_.head_dim;
    std::vector<float> y(static_cast<size_t>(d)), x(static_cast<size_t>(d)),
        z(static_cast<size_t>(d));
    for (int64_t j = 0; j < n_read; ++j) {
      const int64_t pos = pos0 + j;
      std::fill(z.begin(), z.end(), 0.0f);
      std::vector<float> y0;  // part 0's rotated reconstruction (QJL adds to it)
      for (size_t t = 0; t < hd.parts.size(); ++t) {
        const HeadPart& p = hd.parts[t];
        const float scale = f16_to_f32(scales_of(hd, p)[pos]) * p.sigma;
        for (int64_t c = 0; c < p.n; ++c) y[c] = scale * p.tab->centroids[code(p, pos, c)];
        if (p.qjl) {  // r̂ = ‖r‖·κ·Pᵀz, added in part 0's basis
          std::vector<uint8_t> signs(static_cast<size_t>((p.n + 7) / 8), 0);
          for (int64_t c = 0; c < p.n; ++c)
            if (code(p, pos, c)) signs[c / 8] |= static_cast<uint8_t>(1u << (c % 8));
          p.qjl->project_transpose_signs(signs.data(), x.data());
          for (int64_t c = 0; c < p.n; ++c)
            y0[c] += scale * static_cast<float>(p.qjl->scale()) * x[c];
          continue;
        }
        if (spec_.split == KvSplit::kQjlResidual) {
          y0.assign(y.begin(), y.begin() + p.n);
          continue;
        }
        unrotate_scatter(p, y.data(), z.data());
      }
      if (spec_.split == KvSplit::kQjlResidual) unrotate_scatter(hd.parts[0], y0.data(), z.data());
      if (hd.transform)
        matvec(hd.transform->inv.data(), z.data(), d, d, out + j * d);
      else
        std::copy_n(z.data(), d, out + j * d);
    }
  }

 private:
  static Status alloc_error(const char* name, size_t bytes) {
    return out_of_range("KV type {}: cannot allocate {} bytes", name, bytes);
  }
  bool rotate_part(size_t t) const {
    if (spec_.split == KvSplit::kTransform) return true;
    return spec_.parts[t].rotate;
  }
  const PartTables* tables(KvLevelRule rule, int bits, int64_t n, const char* name, Status* st) {
    const auto key = std::make_tuple(static_cast<int>(rule), bits, n);
    auto it = tables_.find(key);
    if (it != tables_.end()) return it->second.get();
    auto t = make_tables(rule, bits, n, name);
    if (!t.ok()) {
      *st = t.status();
      return nullptr;
    }
    return (tables_[key] = std::make_unique<PartTables>(std::move(*t))).get();
  }

  // Channels, sizes, tables and fixed scales of head h's parts.
  Status layout(int64_t h, const char* name, Head* head) {
    const int64_t d = s_.head_dim;
    Status st;
    auto add = [&](std::vector<int32_t> ch, KvLevelRule rule, int bits, KvScaleRule srule,
                   float sigma) {
      HeadPart p;
      p.n = static_cast<int64_t>(ch.size());
      p.n_pad = kv_pad_dim(p.n);
      p.channels = std::move(ch);
      p.tab = tables(rule, bits, p.n, name, &st);
      p.rule = srule;
      p.sigma = sigma;
      head->parts.push_back(std::move(p));
    };
    std::vector<int32_t> all(static_cast<size_t>(d));
    for (int64_t c = 0; c < d; ++c) all[c] = static_cast<int32_t>(c);
    switch (spec_.split) {
      case KvSplit::kNone:
      case KvSplit::kQjlResidual:
        for (const KvPartSpec& ps : spec_.parts) add(all, ps.levels, ps.bits, ps.scale, 1.0f);
        break;
      case KvSplit::kOutliers: {
        const std::vector<int64_t> out =
            s_.channel_stats->outlier_channels(s_.layer, s_.role, h, d / spec_.outlier_den);
        std::vector<bool> is_out(static_cast<size_t>(d), false);
        for (int64_t c : out) is_out[c] = true;
        for (size_t t = 0; t < 2; ++t) {
          std::vector<int32_t> ch;
          for (int64_t c = 0; c < d; ++c)
            if (is_out[c] == (t == 0)) ch.push_back(static_cast<int32_t>(c));
          const KvPartSpec& ps = spec_.parts[t];
          add(std::move(ch), ps.levels, ps.bits, ps.scale, 1.0f);
        }
        break;
      }
      case KvSplit::kTransform: {
        TQ_ASSIGN_OR_RETURN(KvTransform tr, std::move(transforms_[h]));
        for (const KvTransformPart& tp : tr.parts) {
          std::vector<int32_t> ch;
          for (int64_t c = tp.begin; c < tp.end; ++c) ch.push_back(static_cast<int32_t>(c));
          add(std::move(ch), tp.bits <= 5 ? KvLevelRule::kLloydMax : KvLevelRule::kGaussUniform,
              tp.bits, KvScaleRule::kLeastSquares, tp.sigma);
        }
        head->transform.emplace(std::move(tr));
        break;
      }
    }
    return st;
  }

  int64_t block_bytes(const HeadPart& p) const {
    return keys_ ? kv_key_block_bytes(p.n_pad, p.tab->lv.bits)
                 : kv_value_block_bytes(p.n_pad, p.tab->lv.bits);
  }
  int64_t code_index(int64_t pos_in_block, int64_t c) const {
    return keys_ ? kv_key_code_index(pos_in_block, c) : kv_value_code_index(pos_in_block, c);
  }
  uint32_t code(const HeadPart& p, int64_t pos, int64_t c) const {
    return kv_get_code(p.codes.get() + (pos / block_) * block_bytes(p), code_index(pos % block_, c),
                       p.tab->lv.bits);
  }
  static const uint16_t* scales_of(const Head& hd, const HeadPart& p) {
    return p.scales ? p.scales.get() : hd.shared_scales.get();
  }
  void unrotate_scatter(const HeadPart& p, const float* y, float* z) const {
    thread_local std::vector<float> x;
    x.resize(static_cast<size_t>(p.n));
    if (p.rot)
      p.rot->inverse(y, x.data());
    else
      std::copy_n(y, p.n, x.data());
    for (int64_t c = 0; c < p.n; ++c) z[p.channels[c]] += x[c];
  }
  // Gathers a part's channels of a (transformed) head vector and rotates them: out[n].
  static void gather_rotate(const HeadPart& p, const float* x, float* out) {
    thread_local std::vector<float> g;
    g.resize(static_cast<size_t>(p.n));
    for (int64_t c = 0; c < p.n; ++c) g[c] = x[p.channels[c]];
    if (p.rot)
      p.rot->forward(g.data(), out);
    else
      std::copy_n(g.data(), p.n, out);
  }

  void put_codes(HeadPart& p, int64_t pos, const uint8_t* idx) {
    uint8_t* block = p.codes.get() + (pos / block_) * block_bytes(p);
    const int64_t q = pos % block_;
    for (int64_t c = 0; c < p.n_pad; ++c)
      kv_put_code(block, code_index(q, c), p.tab->lv.bits, c < p.n ? idx[c] : 0);
  }

  void encode(int64_t h, int64_t pos, const float* x) {
    Head& hd = heads_[h];
    const int64_t d = s_.head_dim;
    thread_local std::vector<float> z, y0, r;
    thread_local std::vector<std::vector<float>> ys;
    thread_local std::vector<std::vector<uint8_t>> idx;
    const size_t n_parts = hd.parts.size();
    ys.resize(n_parts);
    idx.resize(n_parts);
    const float* src = x;
    if (hd.transform) {
      z.resize(static_cast<size_t>(d));
      matvec(hd.transform->fwd.data(), x, d, d, z.data());
      src = z.data();
    }
    if (spec_.split == KvSplit::kTransform) {  // one least-squares scale for every part
      thread_local std::vector<KvCodePart> cp;
      cp.clear();
      for (size_t t = 0; t < n_parts; ++t) {
        HeadPart& p = hd.parts[t];
        ys[t].resize(static_cast<size_t>(p.n));
        idx[t].resize(static_cast<size_t>(p.n));
        gather_rotate(p, src, ys[t].data());
        cp.push_back({ys[t].data(), p.n, p.sigma, p.tab->centroids.data(), p.tab->boundaries.data(),
                      p.tab->lv.bits, p.tab->uniform, idx[t].data()});
      }
      const float s = n_parts ? kv_encode_shared(cp.data(), static_cast<int>(n_parts),
                                                 KvScaleRule::kLeastSquares)
                              : 0.0f;
      for (size_t t = 0; t < n_parts; ++t) put_codes(hd.parts[t], pos, idx[t].data());
      hd.shared_scales.get()[pos] = f32_to_f16(s);
      return;
    }
    for (size_t t = 0; t < n_parts; ++t) {
      HeadPart& p = hd.parts[t];
      const int64_t n = p.n;
      std::vector<float>& y = ys[t];
      std::vector<uint8_t>& id = idx[t];
      y.resize(static_cast<size_t>(n));
      id.resize(static_cast<size_t>(n));
      float scale = 0.0f;
      if (p.qjl) {  // signs of P·r, r = part 0's rotated residual; scale ‖r‖
        r.assign(y0.begin(), y0.end());
        double rr = 0;
        for (float v : r) rr += static_cast<double>(v) * v;
        p.qjl->project(r.data(), y.data());
        for (int64_t c = 0; c < n; ++c) id[c] = y[c] >= 0.0f ? 1 : 0;
        scale = round_f16(static_cast<float>(std::sqrt(rr)));
      } else {
        gather_rotate(p, src, y.data());
        if (p.rule == KvScaleRule::kAbsMax) {
          float mx = 0;
          for (int64_t c = 0; c < n; ++c) mx = std::max(mx, std::fabs(y[c]));
          scale = round_f16(mx / 127.0f);
          const float inv = scale > 0 ? 1.0f / scale : 0.0f;
          for (int64_t c = 0; c < n; ++c)
            id[c] = static_cast<uint8_t>(
                std::clamp(static_cast<int>(std::nearbyint(y[c] * inv)), -127, 127) + 128);
        } else {
          scale = kv_encode_scaled(y.data(), n, p.tab->centroids.data(), p.tab->boundaries.data(),
                                   p.tab->lv.bits, p.rule, id.data());
        }
        if (spec_.split == KvSplit::kQjlResidual && t == 0) {  // keep the residual for part 1
          y0.resize(static_cast<size_t>(n));
          for (int64_t c = 0; c < n; ++c) y0[c] = y[c] - scale * p.tab->centroids[id[c]];
        }
      }
      put_codes(p, pos, id.data());
      p.scales.get()[pos] = f32_to_f16(scale);
    }
  }

  CodeKvSpec spec_;
  KvStoreShape s_;
  bool keys_ = true;
  int64_t block_ = 0, n_blocks_ = 0;
  std::map<std::tuple<int, int, int64_t>, std::unique_ptr<PartTables>> tables_;
  std::vector<Head> heads_;                      // [n_kv_heads]
  std::vector<Result<KvTransform>> transforms_;  // [n_kv_heads] tqw, consumed by layout() in init
};

}  // namespace

double code_kv_bytes_per_token(const CodeKvSpec& spec, int64_t n_kv_heads, int64_t head_dim) {
  if (spec.split == KvSplit::kTransform)
    return static_cast<double>(n_kv_heads) *
           (static_cast<double>(kv_transform_code_bits(spec.transform_bits, head_dim)) / 8.0 + 2.0);
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

// StoreKvCache: per layer a key KvStore and a value KvStore of independently chosen formats, with
// the generic attention (scores from the key store, scale + causal mask + softmax here, weighted
// sum from the value store).
#include "runtime/kv_cache.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"
#include "core/parallel.h"
#include "kernels/ops.h"
#include "runtime/kv_channel_stats.h"

namespace tq {
namespace {


class StoreKvCache final : public KvCache {
 public:
  StoreKvCache(const KvCacheShape& shape, std::vector<std::unique_ptr<KvStore>> k,
               std::vector<std::unique_ptr<KvStore>> v, std::vector<const KvFormat*> kf,
               std::vector<const KvFormat*> vf)
      : KvCache(shape),
        k_(std::move(k)),
        v_(std::move(v)),
        kf_(std::move(kf)),
        vf_(std::move(vf)) {}

  void append(int64_t layer, int64_t pos0, int64_t n_tokens, const float* k,
              const float* v) override {
    TQ_CHECK(layer >= 0 && layer < shape_.n_layers, "layer {} out of range", layer);
    TQ_CHECK(pos0 >= 0 && pos0 + n_tokens <= shape_.n_ctx, "positions [{}, {}) exceed capacity {}",
             pos0, pos0 + n_tokens, shape_.n_ctx);
    k_[layer]->write(pos0, n_tokens, k);
    v_[layer]->write(pos0, n_tokens, v);
  }

  void attend(int64_t layer, const float* q, int64_t n_tokens, int64_t pos0, float* out) override {
    TQ_CHECK(layer >= 0 && layer < shape_.n_layers, "layer {} out of range", layer);
    TQ_CHECK(pos0 >= 0 && pos0 + n_tokens <= shape_.n_ctx, "positions exceed capacity");
    const int64_t d = shape_.head_dim, G = shape_.n_heads / shape_.n_kv_heads;
    const int64_t q_stride = shape_.n_heads * d;
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    const int64_t n_blocks = (n_tokens + kKvAttentionQueryBlock - 1) / kKvAttentionQueryBlock;
    const KvStore& ks = *k_[layer];
    const KvStore& vs = *v_[layer];
    // Split over threads only when each gets >= ~512K multiply-adds (scores + mix): waking a
    // sleeping worker costs more than a short-context decode step's attention.
    const int64_t macs_per_task = 2 * std::min(kKvAttentionQueryBlock, n_tokens) * G * (pos0 + n_tokens) * d;
    const int64_t min_tasks = std::max<int64_t>(1, (int64_t{512} << 10) / std::max<int64_t>(1, macs_per_task));
    parallel_for(shape_.n_kv_heads * n_blocks, [&](int64_t task0, int64_t task1) {
      thread_local std::vector<float> qbuf, sbuf, obuf;
      for (int64_t task = task0; task < task1; ++task) {
        const int64_t h = task % shape_.n_kv_heads, b = task / shape_.n_kv_heads;
        const int64_t t0 = b * kKvAttentionQueryBlock, t1 = std::min(n_tokens, t0 + kKvAttentionQueryBlock);
        const int64_t m = (t1 - t0) * G, n_pos = pos0 + t1;
        qbuf.resize(static_cast<size_t>(m * d));
        sbuf.resize(static_cast<size_t>(m * n_pos));
        obuf.resize(static_cast<size_t>(m * d));
        // Gather the queries of this KV head: row (t, g) = q[t, h * G + g].
        for (int64_t t = t0; t < t1; ++t)
          for (int64_t g = 0; g < G; ++g)
            std::copy_n(q + t * q_stride + (h * G + g) * d, d,
                        qbuf.data() + ((t - t0) * G + g) * d);
        ks.scores(h, qbuf.data(), m, n_pos, sbuf.data(), n_pos);
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t n_valid = pos0 + t + 1;  // causal: positions [0, pos0 + t]
          for (int64_t g = 0; g < G; ++g) {
            float* s = sbuf.data() + ((t - t0) * G + g) * n_pos;
            for (int64_t j = 0; j < n_valid; ++j) s[j] *= scale;
            softmax(s, n_valid);
            std::fill(s + n_valid, s + n_pos, 0.0f);
          }
        }
        vs.mix(h, sbuf.data(), n_pos, m, n_pos, obuf.data());
        for (int64_t t = t0; t < t1; ++t)
          for (int64_t g = 0; g < G; ++g)
            std::copy_n(obuf.data() + ((t - t0) * G + g) * d, d,
                        out + t * q_stride + (h * G + g) * d);
      }
    }, min_tasks);
  }

  void clear() override {
    for (auto& s : k_) s->clear();
    for (auto& s : v_) s->clear();
  }

  double bytes_per_token() const override {
    double total = 0;
    for (int64_t l = 0; l < shape_.n_layers; ++l)
      total += kf_[l]->bytes_per_token(shape_.n_kv_heads, shape_.head_dim) +
               vf_[l]->bytes_per_token(shape_.n_kv_heads, shape_.head_dim);
    return total;
  }

  std::string describe() const override {
    return "k " + describe_types(kf_) + ", v " + describe_types(vf_);
  }

 private:
  // "f16", or "tq4 (layers 0, 31: f16)" when some layers differ from the most common type.
  static std::string describe_types(const std::vector<const KvFormat*>& f) {
    const KvFormat* common = f.empty() ? nullptr : f[0];
    size_t best = 0;
    for (const KvFormat* c : f) {
      const size_t n = static_cast<size_t>(std::count(f.begin(), f.end(), c));
      if (n > best) best = n, common = c;
    }
    std::string s = common ? common->name : "?";
    std::string extra;
    for (size_t l = 0; l < f.size(); ++l)
      if (f[l] != common)
        extra += fmt::format("{}{}: {}", extra.empty() ? "" : ", ", l, f[l]->name);
    if (!extra.empty()) s += " (layers " + extra + ")";
    return s;
  }

  std::vector<std::unique_ptr<KvStore>> k_, v_;  // [n_layers]
  std::vector<const KvFormat*> kf_, vf_;         // [n_layers]
};

std::string known_kv_formats() {
  std::string s;
  for (const auto& f : kv_formats()) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

Result<const KvFormat*> lookup(const std::string& name, const char* role) {
  const KvFormat* f = find_kv_format(name);
  if (!f)
    return invalid_argument("unknown KV cache {} type '{}' (known: {})", role, name,
                            known_kv_formats());
  return f;
}

}  // namespace

Result<KvLayerFormats> resolve_kv_formats(int64_t n_layers, const KvCacheConfig& cfg) {
  TQ_ASSIGN_OR_RETURN(const KvFormat* kdef, lookup(cfg.k_type, "key"));
  TQ_ASSIGN_OR_RETURN(const KvFormat* vdef, lookup(cfg.v_type, "value"));
  KvLayerFormats f;
  f.k.assign(static_cast<size_t>(n_layers), kdef);
  f.v.assign(static_cast<size_t>(n_layers), vdef);
  for (const auto& o : cfg.overrides) {
    const int64_t l = o.layer < 0 ? n_layers + o.layer : o.layer;
    if (l < 0 || l >= n_layers)
      return invalid_argument("KV type override for layer {}: the model has layers 0..{} (or -1..-{} from the end)",
                              o.layer, n_layers - 1, n_layers);
    if (!o.k_type.empty()) {
      TQ_ASSIGN_OR_RETURN(f.k[l], lookup(o.k_type, "key"));
    }
    if (!o.v_type.empty()) {
      TQ_ASSIGN_OR_RETURN(f.v[l], lookup(o.v_type, "value"));
    }
  }
  return f;
}

bool kv_needs_channel_stats(const KvLayerFormats& f) {
  for (const auto* x : f.k)
    if (x->needs_channel_stats) return true;
  for (const auto* x : f.v)
    if (x->needs_channel_stats) return true;
  return false;
}

bool kv_needs_covariance(const KvLayerFormats& f) {
  for (const auto* x : f.k)
    if (x->needs_covariance) return true;
  for (const auto* x : f.v)
    if (x->needs_covariance) return true;
  return false;
}

Result<std::unique_ptr<KvCache>> make_kv_cache(const KvCacheShape& shape,
                                               const KvCacheConfig& cfg) {
  if (shape.n_layers <= 0 || shape.n_ctx <= 0 || shape.n_heads <= 0 || shape.n_kv_heads <= 0 ||
      shape.head_dim <= 0 || shape.n_heads % shape.n_kv_heads != 0)
    return invalid_argument("bad KV cache shape: {} layers, ctx {}, heads {}/{}, head_dim {}",
                            shape.n_layers, shape.n_ctx, shape.n_heads, shape.n_kv_heads,
                            shape.head_dim);
  TQ_ASSIGN_OR_RETURN(KvLayerFormats f, resolve_kv_formats(shape.n_layers, cfg));
  if (cfg.channel_stats) {
    TQ_RETURN_IF_ERROR(cfg.channel_stats->check_shape(shape));
  }
  std::vector<std::unique_ptr<KvStore>> k, v;
  for (int64_t l = 0; l < shape.n_layers; ++l) {
    for (const KvFormat* fmt_ : {f.k[l], f.v[l]})
      if (fmt_->needs_channel_stats && !cfg.channel_stats)
        return invalid_argument(
            "KV type {} (layer {}) splits outlier channels and needs per-channel statistics: give "
            "a calibration text (--kv-calib FILE) or use Session::create, which derives them from "
            "the model's weights",
            fmt_->name, l);
    KvStoreShape s{KvRole::kKey, shape.n_ctx, shape.n_kv_heads, shape.head_dim, l, cfg.seed,
                   cfg.channel_stats.get()};
    KvStoreShape sv = s;
    sv.role = KvRole::kValue;
    TQ_ASSIGN_OR_RETURN(auto ks, f.k[l]->create(s));
    TQ_ASSIGN_OR_RETURN(auto vs, f.v[l]->create(sv));
    k.push_back(std::move(ks));
    v.push_back(std::move(vs));
  }
  return std::unique_ptr<KvCache>(std::make_unique<StoreKvCache>(shape, std::move(k), std::move(v),
                                                                 std::move(f.k), std::move(f.v)));
}

}  // namespace tq

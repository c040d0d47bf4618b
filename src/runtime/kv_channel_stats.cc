#include "runtime/kv_channel_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "core/check.h"
#include "core/file_util.h"
#include "io/tokenizer.h"
#include "core/rng.h"
#include "runtime/session.h"

namespace tq {
namespace {

KvChannelStats empty_stats(const Model& m, std::string source) {
  const HParams& hp = m.hp;
  KvChannelStats s;
  s.n_layers = hp.n_layer;
  s.n_kv_heads = hp.n_head_kv;
  s.head_dim = hp.head_dim;
  s.rope_half = hp.rope.n_rot / 2;
  s.source = std::move(source);
  const size_t n = static_cast<size_t>(hp.n_layer * hp.n_head_kv * hp.head_dim);
  s.k_energy.assign(n, 0.0);
  s.v_energy.assign(n, 0.0);
  return s;
}

// A cache that records K² and V² per (layer, KV head, channel) and forwards to an f32 cache.
class RecordingKvCache final : public KvCache {
 public:
  RecordingKvCache(std::unique_ptr<KvCache> inner, KvChannelStats* stats)
      : KvCache(inner->shape()), inner_(std::move(inner)), stats_(stats) {}
  void append(int64_t layer, int64_t pos0, int64_t n_tokens, const float* k,
              const float* v) override {
    const int64_t kvd = shape_.n_kv_heads * shape_.head_dim;
    double* ek = stats_->k_energy.data() + layer * kvd;
    double* ev = stats_->v_energy.data() + layer * kvd;
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t c = 0; c < kvd; ++c) {
        ek[c] += static_cast<double>(k[t * kvd + c]) * k[t * kvd + c];
        ev[c] += static_cast<double>(v[t * kvd + c]) * v[t * kvd + c];
      }
    if (layer == 0) n_tokens_ += n_tokens;
    inner_->append(layer, pos0, n_tokens, k, v);
  }
  void attend(int64_t layer, const float* q, int64_t n_tokens, int64_t pos0, float* out) override {
    inner_->attend(layer, q, n_tokens, pos0, out);
  }
  void clear() override { inner_->clear(); }
  double bytes_per_token() const override { return inner_->bytes_per_token(); }
  std::string describe() const override { return inner_->describe(); }
  int64_t n_tokens() const { return n_tokens_; }

 private:
  std::unique_ptr<KvCache> inner_;
  KvChannelStats* stats_;
  int64_t n_tokens_ = 0;
};

}  // namespace

std::vector<int64_t> KvChannelStats::outlier_channels(int64_t layer, KvRole role, int64_t head,
                                                      int64_t count) const {
  TQ_CHECK(layer >= 0 && layer < n_layers && head >= 0 && head < n_kv_heads && count >= 1 &&
               count < head_dim,
           "outlier_channels({}, {}, {})", layer, head, count);
  const double* e = (role == KvRole::kKey ? k_energy : v_energy).data() +
                    (layer * n_kv_heads + head) * head_dim;
  // Units: RoPE pairs for keys, single channels otherwise; ranked by mean energy per channel.
  struct Unit {
    int64_t a, b;  // b = -1 for a single channel
    double mean;
  };
  std::vector<Unit> units;
  const int64_t half = role == KvRole::kKey ? rope_half : 0;
  for (int64_t c = 0; c < head_dim; ++c) {
    if (c < half)
      units.push_back({c, c + half, (e[c] + e[c + half]) / 2});
    else if (c >= 2 * half)
      units.push_back({c, -1, e[c]});
  }
  std::stable_sort(units.begin(), units.end(),
                   [](const Unit& x, const Unit& y) { return x.mean > y.mean; });
  std::vector<int64_t> out;
  for (const Unit& u : units) {
    if (static_cast<int64_t>(out.size()) == count) break;
    if (u.b < 0) {
      out.push_back(u.a);
    } else if (static_cast<int64_t>(out.size()) + 2 <= count) {
      out.push_back(u.a);
      out.push_back(u.b);
    } else {  // one slot left: the stronger channel of this pair
      out.push_back(e[u.a] >= e[u.b] ? u.a : u.b);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status KvChannelStats::check_shape(const KvCacheShape& shape) const {
  if (shape.n_layers != n_layers || shape.n_kv_heads != n_kv_heads || shape.head_dim != head_dim)
    return invalid_argument(
        "KV channel statistics ({}) are for {} layers x {} KV heads x head_dim {}, the cache has "
        "{} x {} x {}",
        source, n_layers, n_kv_heads, head_dim, shape.n_layers, shape.n_kv_heads, shape.head_dim);
  return ok_status();
}

Result<KvChannelStats> kv_channel_stats_from_weights(const Model& m) {
  const HParams& hp = m.hp;
  KvChannelStats s = empty_stats(m, "weights");
  const int64_t d = hp.head_dim, E = hp.n_embd;
  std::vector<float> row(static_cast<size_t>(E));
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    const LayerWeights& L = m.layers[l];
    for (int role = 0; role < 2; ++role) {
      const WeightView& w = role == 0 ? L.wk : L.wv;
      const std::vector<float>& bias = role == 0 ? L.bk : L.bv;
      double* out = (role == 0 ? s.k_energy : s.v_energy).data() + l * hp.kv_dim();
      for (int64_t r = 0; r < hp.kv_dim(); ++r) {
        weight_row_to_float(w, r, row.data());
        double e = 0;
        for (int64_t i = 0; i < E; ++i) {
          const double x = static_cast<double>(row[i]) * L.attn_norm[i];
          e += x * x;
        }
        if (!bias.empty()) e += static_cast<double>(bias[r]) * bias[r];
        // GGUF llama keys: row 2i + s of a head is channel s·d/2 + i after de-interleaving.
        int64_t c = r;
        if (role == 0 && m.qk_interleaved) {
          const int64_t h = r / d, i = (r % d) / 2, sgn = r % 2;
          c = h * d + sgn * (d / 2) + i;
        }
        out[c] = e;
      }
      if (role == 0 && !L.k_norm.empty())  // qwen3: RMSNorm per head, then the k_norm weight
        for (int64_t h = 0; h < hp.n_head_kv; ++h) {
          double mean = 0;
          for (int64_t c = 0; c < d; ++c) mean += out[h * d + c] / static_cast<double>(d);
          for (int64_t c = 0; c < d; ++c)
            out[h * d + c] = out[h * d + c] / std::max(mean, 1e-30) * L.k_norm[c] * L.k_norm[c];
        }
    }
  }
  return s;
}

KvChannelStats kv_channel_stats_random(const Model& m, uint64_t seed) {
  KvChannelStats s = empty_stats(m, fmt::format("random (seed {})", seed));
  Rng rng(seed);
  for (auto& x : s.k_energy) x = rng.uniform();
  for (auto& x : s.v_energy) x = rng.uniform();
  return s;
}

Result<KvChannelStats> kv_channel_stats_from_tokens(const Model& m,
                                                    std::span<const int32_t> tokens,
                                                    int64_t window, const std::string& label) {
  if (tokens.empty()) return invalid_argument("KV calibration ({}): no tokens", label);
  if (window <= 0) return invalid_argument("KV calibration: window {} must be positive", window);
  const HParams& hp = m.hp;
  window = std::min<int64_t>(window, static_cast<int64_t>(tokens.size()));
  KvChannelStats s = empty_stats(m, "");
  const KvCacheShape shape{hp.n_layer, window, hp.n_head, hp.n_head_kv, hp.head_dim};
  KvCacheConfig f32;
  f32.k_type = f32.v_type = "f32";
  TQ_ASSIGN_OR_RETURN(auto inner, make_kv_cache(shape, f32));
  auto rec = std::make_unique<RecordingKvCache>(std::move(inner), &s);
  RecordingKvCache* recorder = rec.get();
  SessionOptions so;
  so.n_batch = std::min<int64_t>(window, 512);
  TQ_ASSIGN_OR_RETURN(auto session, Session::create(m, std::move(rec), so));
  for (size_t t0 = 0; t0 + static_cast<size_t>(window) <= tokens.size();
       t0 += static_cast<size_t>(window)) {
    session->reset();
    TQ_RETURN_IF_ERROR(
        session->eval(tokens.subspan(t0, static_cast<size_t>(window)), LogitsMode::kNone));
  }
  const double n = static_cast<double>(recorder->n_tokens());
  for (auto& x : s.k_energy) x /= n;
  for (auto& x : s.v_energy) x /= n;
  s.source = fmt::format("calibration ({}, {} tokens)", label, recorder->n_tokens());
  return s;
}

Result<std::shared_ptr<const KvChannelStats>> kv_channel_stats_from_source(const Model& m,
                                                                           const std::string& source,
                                                                           int64_t max_tokens) {
  if (source == "weights") {
    TQ_ASSIGN_OR_RETURN(KvChannelStats s, kv_channel_stats_from_weights(m));
    return std::make_shared<const KvChannelStats>(std::move(s));
  }
  if (source == "random") return std::make_shared<const KvChannelStats>(kv_channel_stats_random(m, 1));
  constexpr int64_t kWindow = 512;
  TQ_ASSIGN_OR_RETURN(std::string text, read_file(source));
  TQ_ASSIGN_OR_RETURN(auto tok, Tokenizer::from_model_file(m.file));
  std::vector<int32_t> ids = tok->encode(text, /*add_special=*/true);
  const int64_t n = std::min<int64_t>(static_cast<int64_t>(ids.size()), max_tokens) / kWindow * kWindow;
  if (n < kWindow)
    return invalid_argument("KV calibration text {}: {} tokens, need at least {} (or max tokens "
                            "{} is too small)",
                            source, ids.size(), kWindow, max_tokens);
  ids.resize(static_cast<size_t>(n));
  TQ_ASSIGN_OR_RETURN(KvChannelStats s, kv_channel_stats_from_tokens(m, ids, kWindow, source));
  return std::make_shared<const KvChannelStats>(std::move(s));
}

}  // namespace tq

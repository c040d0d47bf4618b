#include "runtime/kv_channel_stats.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "core/check.h"
#include "core/file_util.h"
#include "core/rng.h"
#include "io/tokenizer.h"
#include "runtime/session.h"

namespace tq {
namespace {

KvChannelStats empty_stats(const Model& m, std::string source, bool covariances = false) {
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
  if (covariances)
    for (auto* c : {&s.k_cov, &s.v_cov, &s.q_cov, &s.o_gram})
      c->assign(n * static_cast<size_t>(hp.head_dim), 0.0);
  return s;
}

// Fills the lower triangles from the upper ones.
void symmetrize(std::vector<double>& m, int64_t d) {
  for (size_t b = 0; b < m.size(); b += static_cast<size_t>(d * d))
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < i; ++j) m[b + i * d + j] = m[b + j * d + i];
}

// E over RoPE angles of R·Σ·Rᵀ: pairs (i, i + half) of different frequencies decorrelate and each
// pair becomes isotropic; channels >= 2·half keep their block. m: [d, d].
void rope_average(double* m, int64_t d, int64_t half) {
  std::vector<double> out(static_cast<size_t>(d * d), 0.0);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j)
      if (i >= 2 * half && j >= 2 * half) out[i * d + j] = m[i * d + j];
  for (int64_t i = 0; i < half; ++i) {
    const double e = 0.5 * (m[i * d + i] + m[(i + half) * d + i + half]);
    out[i * d + i] = out[(i + half) * d + i + half] = e;
  }
  std::copy(out.begin(), out.end(), m);
}

// The attn_output Gram blocks: for each KV head, Σ over its query heads g of W_o,gᵀ·W_o,g where
// W_o,g = attn_output[:, g·d : (g+1)·d].
void fill_o_gram(const Model& m, KvChannelStats* s) {
  const HParams& hp = m.hp;
  const int64_t d = hp.head_dim, G = hp.n_gqa();
  std::vector<float> row(static_cast<size_t>(hp.q_dim()));
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    const WeightView& wo = m.layers[l].wo;  // [n_embd, q_dim]
    for (int64_t r = 0; r < wo.n_rows; ++r) {
      weight_row_to_float(wo, r, row.data());
      for (int64_t h = 0; h < hp.n_head; ++h) {
        double* g = const_cast<double*>(s->block(s->o_gram, l, h / G));
        const float* w = row.data() + h * d;
        for (int64_t i = 0; i < d; ++i)
          for (int64_t j = i; j < d; ++j) g[i * d + j] += static_cast<double>(w[i]) * w[j];
      }
    }
  }
  symmetrize(s->o_gram, d);
}

// A cache that records K² and V² per (layer, KV head, channel) and forwards to an f32 cache.
class RecordingKvCache final : public KvCache {
 public:
  RecordingKvCache(std::unique_ptr<KvCache> inner, KvChannelStats* stats)
      : KvCache(inner->shape()), inner_(std::move(inner)), stats_(stats) {}
  // Adds x·xᵀ (upper triangle) of n vectors x: [n, stride] at offset `off` into m: [d, d].
  static void add_outer(double* m, const float* x, int64_t n, int64_t stride, int64_t d) {
    for (int64_t t = 0; t < n; ++t) {
      const float* v = x + t * stride;
      for (int64_t i = 0; i < d; ++i) {
        const double vi = v[i];
        double* row = m + i * d;
        for (int64_t j = i; j < d; ++j) row[j] += vi * v[j];
      }
    }
  }
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
    if (stats_->has_covariances()) {
      const int64_t d = shape_.head_dim;
      for (int64_t h = 0; h < shape_.n_kv_heads; ++h) {
        add_outer(const_cast<double*>(stats_->block(stats_->k_cov, layer, h)), k + h * d, n_tokens,
                  kvd, d);
        add_outer(const_cast<double*>(stats_->block(stats_->v_cov, layer, h)), v + h * d, n_tokens,
                  kvd, d);
      }
    }
    inner_->append(layer, pos0, n_tokens, k, v);
  }
  void attend(int64_t layer, const float* q, int64_t n_tokens, int64_t pos0, float* out) override {
    if (stats_->has_covariances()) {
      const int64_t d = shape_.head_dim, G = shape_.n_heads / shape_.n_kv_heads;
      for (int64_t h = 0; h < shape_.n_heads; ++h)
        add_outer(const_cast<double*>(stats_->block(stats_->q_cov, layer, h / G)), q + h * d,
                  n_tokens, shape_.n_heads * d, d);
    }
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
  const double* e =
      (role == KvRole::kKey ? k_energy : v_energy).data() + (layer * n_kv_heads + head) * head_dim;
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

Result<KvChannelStats> kv_channel_stats_from_weights(const Model& m, bool covariances) {
  const HParams& hp = m.hp;
  KvChannelStats s = empty_stats(m, "weights", covariances);
  const int64_t d = hp.head_dim, E = hp.n_embd, G = hp.n_gqa();
  // Row r of a K/Q projection holds channel c of its head after de-interleaving (GGUF llama).
  auto channel_of_row = [&](int64_t r, bool rope) {
    if (!rope || !m.qk_interleaved) return r;
    const int64_t h = r / d, i = (r % d) / 2, sgn = r % 2;
    return h * d + sgn * (d / 2) + i;
  };
  std::vector<float> row(static_cast<size_t>(E));
  std::vector<double> rows(
      static_cast<size_t>(d * E));  // one head's rows times g, HF channel order
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    const LayerWeights& L = m.layers[l];
    for (int role = 0; role < 3; ++role) {  // k, v, q
      if (role == 2 && !covariances) break;
      const WeightView& w = role == 0 ? L.wk : role == 1 ? L.wv : L.wq;
      const std::vector<float>& bias = role == 0 ? L.bk : role == 1 ? L.bv : L.bq;
      const bool rope = role != 1;
      const int64_t n_heads = role == 2 ? hp.n_head : hp.n_head_kv;
      for (int64_t h = 0; h < n_heads; ++h) {
        for (int64_t r = h * d; r < (h + 1) * d; ++r) {
          weight_row_to_float(w, r, row.data());
          const int64_t c = channel_of_row(r, rope) - h * d;
          for (int64_t i = 0; i < E; ++i)
            rows[c * E + i] = static_cast<double>(row[i]) * L.attn_norm[i];
        }
        const int64_t kh = role == 2 ? h / G : h;
        double* energy = role == 0 ? s.k_energy.data() : role == 1 ? s.v_energy.data() : nullptr;
        double* cov = !covariances ? nullptr
                                   : const_cast<double*>(s.block(role == 0   ? s.k_cov
                                                                 : role == 1 ? s.v_cov
                                                                             : s.q_cov,
                                                                 l, kh));
        const double wgt = role == 2 ? 1.0 / static_cast<double>(G) : 1.0;
        for (int64_t i = 0; i < d; ++i)
          for (int64_t j = i; j < (cov ? d : i + 1); ++j) {
            double acc = 0;
            for (int64_t e = 0; e < E; ++e) acc += rows[i * E + e] * rows[j * E + e];
            if (!bias.empty()) acc += static_cast<double>(bias[h * d + i]) * bias[h * d + j];
            if (j == i && energy) energy[(l * hp.n_head_kv + kh) * d + i] = acc;
            if (cov) cov[i * d + j] += wgt * acc;
          }
      }
    }
    for (int role = 0; role < 2; ++role)
      if (!L.k_norm.empty() && role == 0)  // qwen3: RMSNorm per head, then the k_norm weight
        for (int64_t h = 0; h < hp.n_head_kv; ++h) {
          double* out = s.k_energy.data() + (l * hp.n_head_kv + h) * d;
          double mean = 0;
          for (int64_t c = 0; c < d; ++c) mean += out[c] / static_cast<double>(d);
          for (int64_t c = 0; c < d; ++c)
            out[c] = out[c] / std::max(mean, 1e-30) * L.k_norm[c] * L.k_norm[c];
        }
  }
  if (covariances) {
    for (auto* c : {&s.k_cov, &s.v_cov, &s.q_cov}) symmetrize(*c, d);
    for (int64_t l = 0; l < hp.n_layer; ++l)
      for (int64_t h = 0; h < hp.n_head_kv; ++h) {
        rope_average(const_cast<double*>(s.block(s.k_cov, l, h)), d, hp.rope.n_rot / 2);
        rope_average(const_cast<double*>(s.block(s.q_cov, l, h)), d, hp.rope.n_rot / 2);
      }
    fill_o_gram(m, &s);
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

Result<KvChannelStats> kv_channel_stats_from_tokens(const Model& m, std::span<const int32_t> tokens,
                                                    int64_t window, const std::string& label,
                                                    bool covariances) {
  if (tokens.empty()) return invalid_argument("KV calibration ({}): no tokens", label);
  if (window <= 0) return invalid_argument("KV calibration: window {} must be positive", window);
  const HParams& hp = m.hp;
  window = std::min<int64_t>(window, static_cast<int64_t>(tokens.size()));
  KvChannelStats s = empty_stats(m, "", covariances);
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
  if (covariances) {
    for (auto* c : {&s.k_cov, &s.v_cov}) {
      symmetrize(*c, hp.head_dim);
      for (auto& x : *c) x /= n;
    }
    symmetrize(s.q_cov, hp.head_dim);
    for (auto& x : s.q_cov) x /= n * static_cast<double>(hp.n_gqa());
    fill_o_gram(m, &s);
  }
  s.source = fmt::format("calibration ({}, {} tokens)", label, recorder->n_tokens());
  return s;
}

Result<std::shared_ptr<const KvChannelStats>> kv_channel_stats_from_source(
    const Model& m, const std::string& source, int64_t max_tokens, bool covariances) {
  if (source == "weights") {
    TQ_ASSIGN_OR_RETURN(KvChannelStats s, kv_channel_stats_from_weights(m, covariances));
    return std::make_shared<const KvChannelStats>(std::move(s));
  }
  if (source == "random") {
    if (covariances)
      return invalid_argument(
          "--kv-calib random gives channel energies only; the tqw KV types "
          "need second moments (a calibration text or 'weights')");
    return std::make_shared<const KvChannelStats>(kv_channel_stats_random(m, 1));
  }
  constexpr int64_t kWindow = 512;
  TQ_ASSIGN_OR_RETURN(std::string text, read_file(source));
  TQ_ASSIGN_OR_RETURN(auto tok, Tokenizer::from_model_file(m.file));
  std::vector<int32_t> ids = tok->encode(text, /*add_special=*/true);
  const int64_t n =
      std::min<int64_t>(static_cast<int64_t>(ids.size()), max_tokens) / kWindow * kWindow;
  if (n < kWindow)
    return invalid_argument(
        "KV calibration text {}: {} tokens, need at least {} (or max tokens "
        "{} is too small)",
        source, ids.size(), kWindow, max_tokens);
  ids.resize(static_cast<size_t>(n));
  TQ_ASSIGN_OR_RETURN(KvChannelStats s,
                      kv_channel_stats_from_tokens(m, ids, kWindow, source, covariances));
  return std::make_shared<const KvChannelStats>(std::move(s));
}

}  // namespace tq

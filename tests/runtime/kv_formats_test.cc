// Every quantized KV format: bytes per token, reconstruction error of read() in pinned ranges, and
// attention on the codes equal to attention over the decoded cache (dequantize, then attend) within
// the stated tolerance — on every SIMD target, at awkward sizes, for prefill then decode.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "../kernels/kernel_test_util.h"
#include "core/half.h"
#include "runtime/kv_cache.h"
#include "runtime/kv_channel_stats.h"
#include "../common/test_result.h"

namespace tq {
namespace {

std::shared_ptr<const KvChannelStats> random_stats(const KvCacheShape& s, Rng& rng) {
  auto st = std::make_shared<KvChannelStats>();
  st->n_layers = s.n_layers;
  st->n_kv_heads = s.n_kv_heads;
  st->head_dim = s.head_dim;
  st->rope_half = s.head_dim / 2;
  st->source = "test";
  const size_t n = static_cast<size_t>(s.n_layers * s.n_kv_heads * s.head_dim);
  for (size_t i = 0; i < n; ++i) {
    st->k_energy.push_back(rng.uniform());
    st->v_energy.push_back(rng.uniform());
  }
  // Second moments for the tqw types: g·gᵀ/d + I/4 per (layer, head), g [d, d] Gaussian.
  const int64_t d = s.head_dim;
  for (auto* m : {&st->k_cov, &st->v_cov, &st->q_cov, &st->o_gram}) {
    m->assign(n * static_cast<size_t>(d), 0.0);
    for (int64_t b = 0; b < s.n_layers * s.n_kv_heads; ++b) {
      std::vector<double> g(static_cast<size_t>(d * d));
      for (auto& x : g) x = rng.normal();
      double* blk = m->data() + b * d * d;
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j) {
          double a = i == j ? 0.25 : 0.0;
          for (int64_t k = 0; k < d; ++k) a += g[i * d + k] * g[j * d + k] / static_cast<double>(d);
          blk[i * d + j] = a;
        }
    }
  }
  return st;
}

// Keys/values with a few strong channels (like real K/V), [n, n_kv_heads * d].
std::vector<float> kv_like(Rng& rng, int64_t n, int64_t n_kv, int64_t d) {
  std::vector<float> x(static_cast<size_t>(n * n_kv * d));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t h = 0; h < n_kv; ++h)
      for (int64_t c = 0; c < d; ++c)
        x[(t * n_kv + h) * d + c] = static_cast<float>(rng.normal() * (c % 9 == 0 ? 4.0 : 1.0));
  return x;
}

// Causal GQA attention in double over explicit K/V rows [n_pos, n_kv * d].
std::vector<float> attend_dense(const KvCacheShape& s, const std::vector<float>& K,
                                const std::vector<float>& V, const std::vector<float>& q,
                                int64_t n_tokens, int64_t pos0) {
  const int64_t d = s.head_dim, G = s.n_heads / s.n_kv_heads, kvd = s.n_kv_heads * d;
  std::vector<float> out(static_cast<size_t>(n_tokens * s.n_heads * d));
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t h = 0; h < s.n_heads; ++h) {
      const int64_t kh = h / G, n = pos0 + t + 1;
      std::vector<double> p(static_cast<size_t>(n));
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c)
          dot += static_cast<double>(q[(t * s.n_heads + h) * d + c]) * K[j * kvd + kh * d + c];
        p[j] = dot / std::sqrt(static_cast<double>(d));
        mx = std::max(mx, p[j]);
      }
      for (auto& x : p) sum += x = std::exp(x - mx);
      for (int64_t c = 0; c < d; ++c) {
        double o = 0;
        for (int64_t j = 0; j < n; ++j) o += p[j] / sum * V[j * kvd + kh * d + c];
        out[(t * s.n_heads + h) * d + c] = static_cast<float>(o);
      }
    }
  return out;
}

// The decoded cache of one layer as rows [n_pos, n_kv * d] (KvStore::read through a fresh store
// would need the internals; StoreKvCache exposes nothing, so formats are checked via stores).
struct Stores {
  std::unique_ptr<KvStore> k, v;
};
Stores make_stores(const KvFormat& kf, const KvFormat& vf, const KvStoreShape& s) {
  KvStoreShape sv = s;
  sv.role = KvRole::kValue;
  auto k = kf.create(s);
  auto v = vf.create(sv);
  testing::ok_or_throw(k.status());
  testing::ok_or_throw(v.status());
  return {std::move(*k), std::move(*v)};
}

std::vector<float> decode_all(const KvStore& st, int64_t n_pos, int64_t n_kv, int64_t d) {
  std::vector<float> rows(static_cast<size_t>(n_pos * n_kv * d)),
      tmp(static_cast<size_t>(n_pos * d));
  for (int64_t h = 0; h < n_kv; ++h) {
    st.read(h, 0, n_pos, tmp.data());
    for (int64_t j = 0; j < n_pos; ++j)
      std::copy_n(tmp.data() + j * d, d, rows.data() + (j * n_kv + h) * d);
  }
  return rows;
}

double rel_err(const std::vector<float>& x, const std::vector<float>& y) {
  double e = 0, n = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    e += (static_cast<double>(x[i]) - y[i]) * (static_cast<double>(x[i]) - y[i]);
    n += static_cast<double>(x[i]) * x[i];
  }
  return e / n;
}

// Reconstruction error E‖x − x̂‖² / E‖x‖² of Gaussian-like head vectors at d = 128, pinned. The
// TurboQuant rows sit near the Lloyd–Max distortion (0.1175, 0.0345, 0.0095 at 2, 3, 4 bits) and
// below it thanks to the least-squares scale; tq3.5 / tq2.5 spend an extra bit on a quarter of the
// channels; tq4p / tq3p add an unbiased (noisier) QJL term to a (b−1)-bit code.
TEST(KvFormats, ReconstructionErrorPinned) {
  const std::map<std::string, std::pair<double, double>> want = {
      {"f16", {0, 1e-6}},        {"q8", {2e-5, 1e-4}},       {"q4", {0.005, 0.012}},
      {"q4r", {0.005, 0.012}},   {"tq4", {0.0075, 0.0100}},  {"tq4n", {0.0085, 0.0110}},
      {"tq5", {0.0019, 0.0028}}, {"tq3", {0.028, 0.036}},    {"tq3n", {0.031, 0.039}},
      {"tq2", {0.10, 0.125}},    {"tq4.5", {0.005, 0.0075}}, {"tq3.5", {0.020, 0.028}},
      {"tq2.5", {0.070, 0.095}}, {"tq4p", {0.014, 0.022}},   {"tq3p", {0.055, 0.075}},
  };
  const uint64_t seed = ::tq::testing::test_seed();
  Rng rng(seed);
  const KvCacheShape shape{1, 600, 4, 2, 128};
  auto stats = random_stats(shape, rng);
  for (const auto& [name, range] : want) {
    SCOPED_TRACE(name);
    const KvFormat* f = find_kv_format(name);
    ASSERT_NE(f, nullptr);
    KvStoreShape s{KvRole::kKey, shape.n_ctx, shape.n_kv_heads, shape.head_dim, 0, 7, stats.get()};
    auto st = f->create(s);
    ASSERT_TRUE(st.ok()) << st.status().to_string();
    std::vector<float> x(static_cast<size_t>(600 * 2 * 128));
    for (auto& v : x) v = static_cast<float>(rng.normal());
    (*st)->write(0, 600, x.data());
    const double e = rel_err(x, decode_all(**st, 600, 2, 128));
    std::printf("%-6s relative error %.5f\n", name.c_str(), e);
    EXPECT_GE(e, range.first);
    EXPECT_LE(e, range.second);
  }
}

TEST(KvFormats, BytesPerTokenCountsCodesAndScales) {
  auto bpt = [](const char* n, int64_t d) { return find_kv_format(n)->bytes_per_token(2, d); };
  EXPECT_DOUBLE_EQ(bpt("tq4", 128), 2 * (64 + 2));
  EXPECT_DOUBLE_EQ(bpt("tq3", 128), 2 * (48 + 2));
  EXPECT_DOUBLE_EQ(bpt("tq3", 64), 2 * (24 + 2));
  EXPECT_DOUBLE_EQ(bpt("tq3.5", 128), 2 * (32 * 4 / 8 + 96 * 3 / 8 + 4));  // 3.5 bits
  EXPECT_DOUBLE_EQ(bpt("tq2.5", 128), 2 * (32 * 3 / 8 + 96 * 2 / 8 + 4));  // 2.5 bits
  EXPECT_DOUBLE_EQ(bpt("tq3p", 128), 2 * (128 * 2 / 8 + 128 / 8 + 4));
  EXPECT_DOUBLE_EQ(bpt("q8", 128), 2 * (128 + 2));
  EXPECT_DOUBLE_EQ(bpt("q4", 128), 2 * 4 * 18);
  EXPECT_DOUBLE_EQ(bpt("tq4", 7), 2 * (16 * 4 / 8 + 2));  // padded to 16 coordinates
}

// attend() on the codes against dense attention over the decoded rows: the only differences are the
// int8 query and u8 weight rounding of kernels/kv_codes.h (and f16 vs double for f16).
TEST(KvFormats, CodeAttentionMatchesDequantizedAttention) {
  const uint64_t seed = ::tq::testing::test_seed();
  struct Case {
    const char *k, *v;
    int64_t d, n_heads, n_kv;
  };
  const Case cases[] = {
      {"tq4", "tq4", 128, 4, 2},       {"tq3", "tq2", 64, 6, 2},     {"tq3.5", "tq2.5", 128, 4, 1},
      {"tq3p", "tq4", 32, 2, 2},       {"q8", "q8", 128, 8, 2},      {"q4r", "q4", 64, 4, 2},
      {"tq4", "tq3", 7, 3, 3},         {"tq4.5", "tq3.5", 48, 4, 2}, {"tq4n", "q4r", 24, 2, 1},
      {"tqw3.5", "tqw3.5", 128, 4, 2}, {"tqw4", "tqw2.5", 64, 6, 2}, {"tqw3", "tq3", 48, 2, 1},
  };
  test::for_each_target([&](const char*) {
    for (const Case& c : cases) {
      SCOPED_TRACE(::testing::Message() << c.k << "/" << c.v << " d " << c.d);
      Rng rng(seed);
      const KvCacheShape s{2, 80, c.n_heads, c.n_kv, c.d};
      KvCacheConfig cfg{c.k, c.v, {}, 11, random_stats(s, rng)};
      auto kv = make_kv_cache(s, cfg);
      ASSERT_TRUE(kv.ok()) << kv.status().to_string();
      // The same stores (same seed, layer 1) decode what the cache holds.
      KvStoreShape ks{KvRole::kKey, s.n_ctx, c.n_kv, c.d, 1, 11, cfg.channel_stats.get()};
      Stores ref = make_stores(*find_kv_format(c.k), *find_kv_format(c.v), ks);
      const int64_t n_total = 70, n_prefill = 37, kvd = c.n_kv * c.d;
      std::vector<float> K = kv_like(rng, n_total, c.n_kv, c.d),
                         V = kv_like(rng, n_total, c.n_kv, c.d);
      for (auto& x : K) x *= 0.5f;  // realistic score spread (attention neither flat nor one-hot)
      (*kv)->append(1, 0, n_prefill, K.data(), V.data());
      ref.k->write(0, n_prefill, K.data());
      ref.v->write(0, n_prefill, V.data());
      std::vector<float> q = test::normal_vec(rng, n_prefill * c.n_heads * c.d), out(q.size());
      (*kv)->attend(1, q.data(), n_prefill, 0, out.data());
      double max_rel = 0, pooled_dd = 0, pooled_n = 0;
      auto check = [&](const std::vector<float>& got, const std::vector<float>& qq, int64_t n_tok,
                       int64_t pos0) {
        const int64_t n_pos = pos0 + n_tok;
        const std::vector<float> Kd = decode_all(*ref.k, n_pos, c.n_kv, c.d);
        const std::vector<float> Vd = decode_all(*ref.v, n_pos, c.n_kv, c.d);
        const std::vector<float> want = attend_dense(s, Kd, Vd, qq, n_tok, pos0);
        // The int8 query moves each logit by ~6e-4·‖q‖‖k‖/√d and the u8 weights move each weight
        // by <= 1/510 of its chunk's largest: the output moves by a small fraction of the values'
        // spread. Observed rms(difference) ~0.2% of rms(V), pooled over a case's checks; the bound
        // is 0.5%. One decode step of a small head is few numbers (3 heads × d 7 = 21), so its own
        // rms is noisy (50 seeds: up to 0.5%; seed 42957093372548: 0.62%); each check alone only
        // has to stay below 2%, which any wrong code, scale or position still breaks.
        double vv = 0, dd = 0;
        for (float x : Vd) vv += static_cast<double>(x) * x;
        const double v_ms = vv / static_cast<double>(Vd.size());
        for (size_t i = 0; i < got.size(); ++i)
          dd += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
        const double rel = std::sqrt(dd / static_cast<double>(got.size()) / v_ms);
        EXPECT_LT(rel, 0.02) << "pos0 " << pos0;
        max_rel = std::max(max_rel, rel);
        pooled_dd += dd / v_ms;
        pooled_n += static_cast<double>(got.size());
      };
      check(out, q, n_prefill, 0);
      for (int64_t pos = n_prefill; pos < n_total; pos += 11) {
        (*kv)->append(1, pos, 1, K.data() + pos * kvd, V.data() + pos * kvd);
        ref.k->write(pos, 1, K.data() + pos * kvd);
        ref.v->write(pos, 1, V.data() + pos * kvd);
        // positions between decode steps stay unwritten in both: fill them the same way
        for (int64_t p = pos + 1; p < std::min(n_total, pos + 11); ++p) {
          (*kv)->append(1, p, 1, K.data() + p * kvd, V.data() + p * kvd);
          ref.k->write(p, 1, K.data() + p * kvd);
          ref.v->write(p, 1, V.data() + p * kvd);
        }
        const int64_t last = std::min(n_total, pos + 11) - 1;
        std::vector<float> q1 = test::normal_vec(rng, c.n_heads * c.d), o1(q1.size());
        (*kv)->attend(1, q1.data(), 1, last, o1.data());
        check(o1, q1, 1, last);
      }
      const double pooled = std::sqrt(pooled_dd / pooled_n);
      EXPECT_LT(pooled, 0.005);
      std::printf("%s/%s d %lld: code vs dequantized attention, rms difference %.4f of rms(V) (largest check %.4f)\n",
                  c.k, c.v, static_cast<long long>(c.d), pooled, max_rel);
    }
  });
}

// Decode attention on the codes against the dequantize-then-attend reference for EVERY KV type
// (keys-only TurboQuant_prod types with tq4 values), GQA ratios 1, 4 and 8, head_dim 64 and 128, at
// awkward context lengths (1, 7, 33, 1000): the kernels' query groups (up to 8 per pass), partial
// key / value blocks and mix chunks, on the target the runtime dispatches to.
TEST(KvFormats, DecodeAttentionEveryTypeGqaAndLength) {
  const uint64_t seed = ::tq::testing::test_seed();
  constexpr int64_t kNkv = 2, kCtx = 1000;
  for (const KvFormat& f : kv_formats())
    for (int64_t d : {64, 128})
      for (int64_t G : {1, 4, 8}) {
        SCOPED_TRACE(::testing::Message() << f.name << " d " << d << " G " << G);
        Rng rng(seed + static_cast<uint64_t>(d * 10 + G));
        const KvCacheShape s{1, kCtx, G * kNkv, kNkv, d};
        KvCacheConfig cfg{f.name, f.name, {}, 11, random_stats(s, rng)};
        auto kv = make_kv_cache(s, cfg);
        if (!kv.ok()) {  // keys-only (TurboQuant_prod): pair with tq4 values
          cfg.v_type = "tq4";
          kv = make_kv_cache(s, cfg);
        }
        ASSERT_TRUE(kv.ok()) << kv.status().to_string();
        KvStoreShape ks{KvRole::kKey, s.n_ctx, kNkv, d, 0, 11, cfg.channel_stats.get()};
        Stores ref = make_stores(*find_kv_format(cfg.k_type), *find_kv_format(cfg.v_type), ks);
        std::vector<float> K = kv_like(rng, kCtx, kNkv, d), V = kv_like(rng, kCtx, kNkv, d);
        for (auto& x : K) x *= 0.5f;
        (*kv)->append(0, 0, kCtx, K.data(), V.data());
        ref.k->write(0, kCtx, K.data());
        ref.v->write(0, kCtx, V.data());
        const std::vector<float> Kd = decode_all(*ref.k, kCtx, kNkv, d);
        const std::vector<float> Vd = decode_all(*ref.v, kCtx, kNkv, d);
        double vv = 0;
        for (float x : Vd) vv += static_cast<double>(x) * x;
        const double rms_v = std::sqrt(vv / static_cast<double>(Vd.size()));
        // As in CodeAttentionMatchesDequantizedAttention: one decode step is few numbers (G·2·d),
        // so the 0.5% bound applies to the rms pooled over the case's four lengths, 2% to each
        // (6 seeds: single steps up to 0.47% (it failed once in a merge run), pooled up to 0.24%).
        double pooled_dd = 0, pooled_n = 0, max_rel = 0;
        for (int64_t n_pos : {1, 7, 33, 1000}) {
          std::vector<float> q = test::normal_vec(rng, s.n_heads * d), got(q.size());
          (*kv)->attend(0, q.data(), 1, n_pos - 1, got.data());
          const std::vector<float> want = attend_dense(s, Kd, Vd, q, 1, n_pos - 1);
          double dd = 0;
          for (size_t i = 0; i < got.size(); ++i)
            dd += (static_cast<double>(got[i]) - want[i]) * (static_cast<double>(got[i]) - want[i]);
          const double rel = std::sqrt(dd / static_cast<double>(got.size())) / rms_v;
          EXPECT_LT(rel, 0.02) << "n_pos " << n_pos;
          max_rel = std::max(max_rel, rel);
          pooled_dd += dd;
          pooled_n += static_cast<double>(got.size());
        }
        const double pooled = std::sqrt(pooled_dd / pooled_n) / rms_v;
        EXPECT_LT(pooled, 0.005) << "largest single step " << max_rel;
      }
}

// The K/V types each layer gets are the ones asked for: per-layer bytes and errors differ.
TEST(KvFormats, PerLayerOverridesAreHonoured) {
  const KvCacheShape s{4, 32, 4, 2, 64};
  KvCacheConfig cfg;
  cfg.k_type = cfg.v_type = "tq3";
  cfg.overrides = {{0, "q8", "q8"}, {-1, "", "tq4"}};
  auto kv = make_kv_cache(s, cfg);
  ASSERT_TRUE(kv.ok()) << kv.status().to_string();
  EXPECT_EQ((*kv)->describe(), "k tq3 (layers 0: q8), v tq3 (layers 0: q8, 3: tq4)");
  const double q8 = 2 * (64 + 2), tq3 = 2 * (24 + 2), tq4 = 2 * (32 + 2);
  EXPECT_DOUBLE_EQ((*kv)->bytes_per_token(), 2 * q8 + 5 * tq3 + tq4);
  // Attention output error per layer follows the layer's types: q8 << tq3 > tq3/tq4.
  Rng rng(3);
  std::vector<float> K = kv_like(rng, 20, 2, 64), V = kv_like(rng, 20, 2, 64);
  std::vector<float> q = test::normal_vec(rng, 20 * 4 * 64);
  const std::vector<float> exact = attend_dense(s, K, V, q, 20, 0);
  double err[4];
  for (int64_t l = 0; l < 4; ++l) {
    (*kv)->append(l, 0, 20, K.data(), V.data());
    std::vector<float> out(q.size());
    (*kv)->attend(l, q.data(), 20, 0, out.data());
    err[l] = rel_err(exact, out);
  }
  EXPECT_LT(err[0] * 50, err[1]) << err[0] << " " << err[1];
  EXPECT_LT(err[1], 2 * err[2]);  // same types (rotation seeds differ per layer)
  EXPECT_LT(err[2], 2 * err[1]);
  EXPECT_LT(err[3], err[1]) << err[3] << " " << err[1];  // tq4 values in the last layer
}

TEST(KvFormats, ClearErrors) {
  const KvCacheShape s{2, 16, 4, 2, 64};
  auto msg = [&](KvCacheConfig cfg) {
    auto r = make_kv_cache(s, cfg);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message();
  };
  KvCacheConfig c;
  c.v_type = "tq3p";
  EXPECT_NE(msg(c).find("keys only"), std::string::npos) << msg(c);
  c = {};
  c.k_type = "tq3.5";
  EXPECT_NE(msg(c).find("needs per-channel statistics"), std::string::npos) << msg(c);
  c = {};
  c.k_type = "tq9";
  EXPECT_NE(msg(c).find("unknown KV cache key type 'tq9'"), std::string::npos) << msg(c);
  EXPECT_NE(msg(c).find("tq3.5"), std::string::npos);  // lists the known types
  c = {};
  c.overrides = {{-3, "q8", ""}};
  EXPECT_NE(msg(c).find("layer -3"), std::string::npos) << msg(c);
  Rng rng(1);
  KvCacheConfig small{"tq3.5", "f16", {}, 1, random_stats({1, 16, 2, 2, 4}, rng)};
  auto r = make_kv_cache({1, 16, 2, 2, 4}, small);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("head_dim >= 8"), std::string::npos) << r.status().message();
  KvCacheConfig wrong{"tq3.5", "f16", {}, 1, random_stats({3, 16, 4, 2, 64}, rng)};
  r = make_kv_cache(s, wrong);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("3 layers"), std::string::npos) << r.status().message();
}

TEST(KvChannelStats, OutlierChannelsKeepRopePairs) {
  KvChannelStats st;
  st.n_layers = 1;
  st.n_kv_heads = 1;
  st.head_dim = 16;
  st.rope_half = 8;
  st.k_energy.assign(16, 1.0);
  st.v_energy.assign(16, 1.0);
  st.k_energy[3] = 9;  // pair (3, 11) strongest
  st.k_energy[11] = 7;
  st.k_energy[5] = 6;  // pair (5, 13) mean 3.5
  st.k_energy[13] = 1;
  st.k_energy[0] = 5;  // pair (0, 8) mean 3 + single best
  st.v_energy[2] = 3;
  st.v_energy[9] = 2;
  EXPECT_EQ(st.outlier_channels(0, KvRole::kKey, 0, 4), (std::vector<int64_t>{3, 5, 11, 13}));
  EXPECT_EQ(st.outlier_channels(0, KvRole::kKey, 0, 5), (std::vector<int64_t>{0, 3, 5, 11, 13}));
  EXPECT_EQ(st.outlier_channels(0, KvRole::kValue, 0, 2), (std::vector<int64_t>{2, 9}));
}

}  // namespace
}  // namespace tq

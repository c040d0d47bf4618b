// Per-channel energy of a model's cached keys and values: what the outlier-split KV formats (tq2.5,
// tq3.5, tq4.5) use to choose, per layer and KV head, the channels that get one more bit. The split
// happens BEFORE the rotation (each part is rotated on its own), so it has to know which channels
// carry the energy; a rotation alone spreads outliers but cannot spend bits unevenly.
//
// Three sources (docs/RESULTS.md measures them against each other):
//   calibration  mean squares of K (after RoPE) and V over a text, run through the model with an
//                f32 cache (kv_channel_stats_from_tokens; `--kv-calib FILE`);
//   weights      data-free: E[k_c²] ≈ ‖W_k[c, :] ⊙ g‖² (+ b_c²) with g the attention RMSNorm weight
//                (a whitened input); the default when no calibration is given;
//   random       seeded random energies (an ablation: how much choosing channels matters).
// Keys: the channels c and c + n_rot/2 (c < n_rot/2) are one RoPE pair — rotated into each other as
// the position advances — so they are chosen together.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "runtime/kv_cache.h"
#include "tq/status.h"

namespace tq {

struct Model;

struct KvChannelStats {
  int64_t n_layers = 0, n_kv_heads = 0, head_dim = 0;
  int64_t rope_half = 0;  // keys: channel c < rope_half pairs with c + rope_half (0: no pairs)
  std::string source;     // "weights", "random", "calibration (FILE, N tokens)"
  std::vector<double> k_energy, v_energy;  // [n_layers, n_kv_heads, head_dim] mean squares
  // Second moments for the transform-coded formats (tqw*); empty unless asked for:
  //   k_cov, v_cov  E[k·kᵀ], E[v·vᵀ] per KV head (keys after RoPE)
  //   q_cov         E[q·qᵀ] of the query heads sharing the KV head (after RoPE)
  //   o_gram        Σ_g W_o,gᵀ·W_o,g over those query heads' column blocks of attn_output
  std::vector<double> k_cov, v_cov, q_cov, o_gram;  // [n_layers, n_kv_heads, head_dim, head_dim]
  bool has_covariances() const { return !k_cov.empty(); }
  // One (layer, head) block of one of the matrices above.
  const double* block(const std::vector<double>& m, int64_t layer, int64_t head) const {
    return m.data() + (layer * n_kv_heads + head) * head_dim * head_dim;
  }

  // The `count` channels (1 <= count < head_dim) of (layer, role, head) with the largest energy,
  // ascending. Keys take RoPE pairs whole (ranked by their mean energy); an odd count ends with the
  // best single channel of the next pair.
  std::vector<int64_t> outlier_channels(int64_t layer, KvRole role, int64_t head, int64_t count) const;
  // Shape check against a cache; errors name both shapes.
  Status check_shape(const KvCacheShape& shape) const;
};

// Data-free estimate from the K/V projection weights (see above); with `covariances`, also the
// second moments (Σ = W·diag(g²)·Wᵀ, averaged over RoPE angles for K and Q) and o_gram.
Result<KvChannelStats> kv_channel_stats_from_weights(const Model& model, bool covariances = false);
// Seeded random energies (ablation).
KvChannelStats kv_channel_stats_random(const Model& model, uint64_t seed);
// Runs `tokens` through the model in windows of `window` tokens (each from an empty f32 cache) and
// averages K² / V² per channel; `label` names the source in `source`. Errors: no tokens, eval errors.
Result<KvChannelStats> kv_channel_stats_from_tokens(const Model& model,
                                                    std::span<const int32_t> tokens,
                                                    int64_t window, const std::string& label,
                                                    bool covariances = false);

// What --kv-calib accepts: "weights", "random" (seed 1), or a text file whose first `max_tokens`
// tokens (whole windows of 512, at least one) are run through the model. Errors: unreadable file,
// too few tokens.
Result<std::shared_ptr<const KvChannelStats>> kv_channel_stats_from_source(const Model& model,
                                                                           const std::string& source,
                                                                           int64_t max_tokens,
                                                                           bool covariances = false);

}  // namespace tq

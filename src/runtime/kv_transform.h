// Transform coding of KV head vectors (the tqw* formats): a fixed linear transform per layer, role
// and KV head, computed from second-moment statistics, under which the coordinates are decorrelated
// and sorted by how much their error costs; bits are then water-filled over blocks of 16
// coordinates (high-variance blocks get more bits, the weakest none) and each run of equal-bit
// blocks is coded by the TurboQuant codec (own Hadamard rotation, Lloyd–Max or uniform levels),
// all parts sharing one f16 least-squares scale per vector with fixed relative scales.
//
// What the error costs (the metric the transform whitens):
//   keys    the score error of the queries that read them: E_q[(q·(k − k̂))²] = eᵀ·Σ_q·e.
//           With A = Σ_q^(1/2): z = Uᵀ·A·k where U diagonalizes A·Σ_k·A; the query is coded as
//           q̃ = Uᵀ·A⁻¹·q, so q̃·z = q·k exactly and ‖z − ẑ‖² is the score error.
//   values  the attention output after attn_output: ‖W_o·e‖² = eᵀ·(Σ_g W_o,gᵀ·W_o,g)·e. With
//           B = that Gram matrix, A = B^(1/2), z = Uᵀ·A·v; the output is A⁻¹·U·ẑ.
// (Σ + 1e-3·tr(Σ)/d·I regularizes the square roots.) A random rotation alone (plain TurboQuant)
// spreads the coordinates evenly and so cannot give any of them fewer bits; measured on tq-ref-m,
// whitened PCA concentrates 3–20 dB of the error-weighted energy (docs/RESULTS.md).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/kv_cache.h"
#include "tq/status.h"

namespace tq {

struct KvChannelStats;

struct KvTransformPart {
  int64_t begin = 0, end = 0;  // coordinate range of z (multiples of 16)
  int bits = 0;                // 1..8
  float sigma = 1.0f;          // rms of those coordinates (the part's fixed relative scale)
};

struct KvTransform {
  int64_t dim = 0;
  std::vector<float> fwd;              // [d, d] z = fwd·x (the stored coordinates)
  std::vector<float> query;            // [d, d] keys: q̃ = query·q with q̃·z = q·x
  std::vector<float> inv;              // [d, d] x = inv·z
  std::vector<double> variance;        // [d] E[z_i²], descending
  std::vector<KvTransformPart> parts;  // coded ranges, ascending; blocks with 0 bits are dropped
};

// Code bits per head vector of a tqw format of `total_bits` per element at head_dim d (one f16
// scale included): 16·floor((total_bits·d − 16) / 16).
int64_t kv_transform_code_bits(double total_bits, int64_t head_dim);

// The transform of (layer, role, head) from stats (which must have covariances). head_dim must be
// a multiple of 16. Bits per block: greedy water-filling of the Gaussian Lloyd–Max distortion
// D(b) (1, 0.363, 0.118, 0.0345, 0.0095, 0.0025, 6.5e-4, 1.7e-4, 4.2e-5 for b = 0..8) weighted by
// each block's variance, capped at 8 bits.
Result<KvTransform> make_kv_transform(const KvChannelStats& stats, int64_t layer, KvRole role,
                                      int64_t head, double total_bits);

}  // namespace tq

// Scalar oracles of kernels/kv_codes.h: code by code, exact integer dot products (int64), then the
// same float operations as the fast paths.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/half.h"
#include "kernels/kv_codes.h"

namespace tq::ref {
namespace {

float round_f16(float s) { return f16_to_f32(f32_to_f16(std::min(s, 65504.0f))); }

// The number of boundaries below v (binary search over the ascending boundaries).
uint8_t nearest(const float* boundaries, int bits, float v) {
  int lo = 0;
  for (int step = 1 << (bits - 1); step >= 1; step >>= 1)
    if (v > boundaries[lo + step - 1]) lo += step;
  return static_cast<uint8_t>(lo);
}

}  // namespace

float kv_encode_scaled(const float* y, int64_t n, const float* centroids, const float* boundaries,
                       int bits, KvScaleRule rule, uint8_t* idx) {
  double yy = 0;
  for (int64_t c = 0; c < n; ++c) yy += static_cast<double>(y[c]) * y[c];
  const float s0 = static_cast<float>(std::sqrt(yy / static_cast<double>(n)));
  if (!(s0 > 0.0f)) {
    const uint8_t z = nearest(boundaries, bits, 0.0f);
    std::fill(idx, idx + n, z);
    return 0.0f;
  }
  auto codes_for = [&](float s, uint8_t* out, double* yc, double* cc) {
    const float inv = 1.0f / s;
    double a = 0, b = 0;
    for (int64_t c = 0; c < n; ++c) {
      const uint8_t k = nearest(boundaries, bits, y[c] * inv);
      if (out) out[c] = k;
      a += static_cast<double>(y[c]) * centroids[k];
      b += static_cast<double>(centroids[k]) * centroids[k];
    }
    *yc = a;
    *cc = b;
  };
  if (rule == KvScaleRule::kNorm) {
    const float s = round_f16(s0);
    double a, b;
    codes_for(s, idx, &a, &b);
    return s;
  }
  // Least squares: alternate nearest codes and s = <y, c>/<c, c> from three starts (0.9, 1, 1.1 of
  // the norm scale), round s to f16, keep the start with the smallest error.
  thread_local std::vector<uint8_t> cand;
  cand.resize(static_cast<size_t>(n));
  double best = std::numeric_limits<double>::infinity();
  float best_s = round_f16(s0);
  for (float f : {0.9f, 1.0f, 1.1f}) {
    float s = f * s0;
    for (int it = 0; it < 4; ++it) {
      double a, b;
      codes_for(s, nullptr, &a, &b);
      const float next = b > 0 ? static_cast<float>(a / b) : s0;
      s = next > 0.0f ? next : s0;
    }
    s = round_f16(s);
    if (!(s > 0.0f)) continue;
    double a, b;
    codes_for(s, cand.data(), &a, &b);
    const double err = yy - 2.0 * s * a + static_cast<double>(s) * s * b;
    if (err < best) {
      best = err;
      best_s = s;
      std::copy_n(cand.data(), n, idx);
    }
  }
  if (!(best < std::numeric_limits<double>::infinity())) {  // every start underflowed f16
    double a, b;
    codes_for(best_s > 0 ? best_s : 1.0f, idx, &a, &b);
  }
  return best_s;
}


void kv_scores_codes(const int8_t* q8, const float* q_mul, int64_t n_q, const uint8_t* codes,
                     const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                     float* s, int64_t lds, bool accumulate) {
  const int64_t block_bytes = kv_key_block_bytes(n_pad, lv.bits);
  for (int64_t j = 0; j < n_pos; ++j) {
    const uint8_t* block = codes + (j / kKvKeyBlock) * block_bytes;
    const int64_t p = j % kKvKeyBlock;
    const float scale = f16_to_f32(scales[j]);
    for (int64_t i = 0; i < n_q; ++i) {
      int64_t dot = 0;
      for (int64_t c = 0; c < n_pad; ++c)
        dot += static_cast<int64_t>(q8[i * n_pad + c]) *
               lv.levels[kv_get_code(block, kv_key_code_index(p, c), lv.bits)];
      const float v = (q_mul[i] * scale) * static_cast<float>(dot);
      s[i * lds + j] = accumulate ? s[i * lds + j] + v : v;
    }
  }
}

void kv_mix_codes(const float* p, int64_t ldp, int64_t n_q, const uint8_t* codes,
                  const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                  float out_mul, float* out) {
  const int64_t block_bytes = kv_value_block_bytes(n_pad, lv.bits);
  const float k = out_mul / 255.0f;
  std::vector<uint8_t> w8(kKvMixChunk);
  std::vector<int64_t> acc(n_pad);
  for (int64_t i = 0; i < n_q; ++i) {
    float* o = out + i * n_pad;
    std::fill(o, o + n_pad, 0.0f);
    for (int64_t j0 = 0; j0 < n_pos; j0 += kKvMixChunk) {
      const int64_t j1 = std::min(n_pos, j0 + kKvMixChunk);
      const float wmax = kv_quantize_weights(p + i * ldp, scales, j0, j1, w8.data());
      if (wmax <= 0.0f) continue;
      std::fill(acc.begin(), acc.end(), 0);
      for (int64_t j = j0; j < j1; ++j) {
        const uint8_t* block = codes + (j / kKvValueBlock) * block_bytes;
        for (int64_t c = 0; c < n_pad; ++c)
          acc[c] += static_cast<int64_t>(w8[j - j0]) *
                    lv.levels[kv_get_code(block, kv_value_code_index(j % kKvValueBlock, c), lv.bits)];
      }
      const float m = wmax * k;
      for (int64_t c = 0; c < n_pad; ++c) o[c] += static_cast<float>(acc[c]) * m;
    }
  }
}

}  // namespace tq::ref

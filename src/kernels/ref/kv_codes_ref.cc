// Scalar oracles of kernels/kv_codes.h: code by code, exact integer dot products (int64), then the
// same float operations as the fast paths.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/half.h"
#include "kernels/kv_codes.h"
#include "kernels/kv_encode.h"

namespace tq::ref {
namespace {

// The number of boundaries below v (binary search over the ascending boundaries).
uint8_t nearest(const float* boundaries, int bits, float v) {
  int lo = 0;
  for (int step = 1 << (bits - 1); step >= 1; step >>= 1)
    if (v > boundaries[lo + step - 1]) lo += step;
  return static_cast<uint8_t>(lo);
}

}  // namespace

void kv_code_pass(const float* y, int64_t n, float s, const float* centroids,
                  const float* boundaries, int bits, bool uniform, uint8_t* idx, double* a,
                  double* b) {
  const float inv = 1.0f / s;
  const float c0 = centroids[0], inv_step = 1.0f / (centroids[1] - centroids[0]);
  const float top = static_cast<float>((1 << bits) - 1);
  double sa = 0, sb = 0;
  for (int64_t c = 0; c < n; ++c) {
    const uint8_t k = uniform ? static_cast<uint8_t>(std::clamp(
                                    std::nearbyint((y[c] * inv - c0) * inv_step), 0.0f, top))
                              : nearest(boundaries, bits, y[c] * inv);
    if (idx) idx[c] = k;
    sa += static_cast<double>(y[c]) * centroids[k];
    sb += static_cast<double>(centroids[k]) * centroids[k];
  }
  *a = sa;
  *b = sb;
}

float kv_encode_shared(const KvCodePart* parts, int n_parts, KvScaleRule rule) {
  return kv_encode_shared_with(parts, n_parts, rule, &ref::kv_code_pass);
}

float kv_encode_scaled(const float* y, int64_t n, const float* centroids, const float* boundaries,
                       int bits, KvScaleRule rule, uint8_t* idx) {
  const KvCodePart p{y, n, 1.0f, centroids, boundaries, bits, false, idx};
  return ref::kv_encode_shared(&p, 1, rule);
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
          acc[c] +=
              static_cast<int64_t>(w8[j - j0]) *
              lv.levels[kv_get_code(block, kv_value_code_index(j % kKvValueBlock, c), lv.bits)];
      }
      const float m = wmax * k;
      for (int64_t c = 0; c < n_pad; ++c) o[c] += static_cast<float>(acc[c]) * m;
    }
  }
}

}  // namespace tq::ref

// Scalar references (double accumulation) for kernels/ops.h and kernels/attention.h.
#include <algorithm>
#include <cmath>

#include "core/half.h"
#include "kernels/attention.h"
#include "kernels/ops.h"

namespace tq::ref {

void rmsnorm(const float* x, const float* w, int64_t n_rows, int64_t n, float eps, float* out) {
  for (int64_t r = 0; r < n_rows; ++r) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[r * n + i]) * x[r * n + i];
    const double scale = 1.0 / std::sqrt(ss / static_cast<double>(n) + eps);
    for (int64_t i = 0; i < n; ++i)
      out[r * n + i] = static_cast<float>(x[r * n + i] * scale * w[i]);
  }
}

void softmax(float* x, int64_t n) {
  const float mx = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  for (int64_t i = 0; i < n; ++i)
    x[i] = static_cast<float>(std::exp(static_cast<double>(x[i]) - mx) / sum);
}

void silu_mul(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const double g = gate[i];
    gate[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * up[i]);
  }
}

double logsumexp(const float* x, int64_t n) {
  const double mx = *std::max_element(x, x + n);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - mx);
  return mx + std::log(sum);
}

namespace {
template <class Load>
void scores(const float* q, int64_t n_q, int64_t n_pos, int64_t d, float* s, int64_t lds,
            Load load) {
  for (int64_t i = 0; i < n_q; ++i)
    for (int64_t j = 0; j < n_pos; ++j) {
      double acc = 0.0;
      for (int64_t c = 0; c < d; ++c) acc += static_cast<double>(q[i * d + c]) * load(j, c);
      s[i * lds + j] = static_cast<float>(acc);
    }
}
template <class Load>
void mix(const float* p, int64_t ldp, int64_t n_q, int64_t n_pos, int64_t d, float* out,
         Load load) {
  for (int64_t i = 0; i < n_q; ++i)
    for (int64_t c = 0; c < d; ++c) {
      double acc = 0.0;
      for (int64_t j = 0; j < n_pos; ++j) acc += static_cast<double>(p[i * ldp + j]) * load(j, c);
      out[i * d + c] = static_cast<float>(acc);
    }
}
}  // namespace

void attn_scores_f32(const float* q, int64_t n_q, const float* k, int64_t n_pos, int64_t d,
                     int64_t stride, float* s, int64_t lds) {
  scores(q, n_q, n_pos, d, s, lds, [&](int64_t j, int64_t c) { return k[j * stride + c]; });
}
void attn_scores_f16(const float* q, int64_t n_q, const uint16_t* k, int64_t n_pos, int64_t d,
                     int64_t stride, float* s, int64_t lds) {
  scores(q, n_q, n_pos, d, s, lds,
         [&](int64_t j, int64_t c) { return f16_to_f32(k[j * stride + c]); });
}
void attn_mix_f32(const float* p, int64_t ldp, int64_t n_q, const float* v, int64_t n_pos,
                  int64_t d, int64_t stride, float* out) {
  mix(p, ldp, n_q, n_pos, d, out, [&](int64_t j, int64_t c) { return v[j * stride + c]; });
}
void attn_mix_f16(const float* p, int64_t ldp, int64_t n_q, const uint16_t* v, int64_t n_pos,
                  int64_t d, int64_t stride, float* out) {
  mix(p, ldp, n_q, n_pos, d, out,
      [&](int64_t j, int64_t c) { return f16_to_f32(v[j * stride + c]); });
}

}  // namespace tq::ref

#include "quantize/scale_param.h"

#include <cmath>

#include "core/parallel.h"

namespace tq {
namespace {

// The codebook of input group g of t.
const float* group_codebook(const TqTensor& t, int64_t g) {
  return tq_codec(t.group_bits(g), t.group).codebook.data();
}

}  // namespace

void Adam::step(float* x, const float* g, int64_t n, double lr, int64_t step) {
  const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  const float bc1 = 1.0f - std::pow(b1, static_cast<float>(step));
  const float bc2 = 1.0f - std::pow(b2, static_cast<float>(step));
  const float a = static_cast<float>(lr);
  for (int64_t i = 0; i < n; ++i) {
    m1_[i] = b1 * m1_[i] + (1 - b1) * g[i];
    m2_[i] = b2 * m2_[i] + (1 - b2) * g[i] * g[i];
    x[i] -= a * (m1_[i] / bc1) / (std::sqrt(m2_[i] / bc2) + eps);
  }
}

ScaleParam::ScaleParam(TqTensor* t)
    : t_(t),
      mult_(t->scales.size(), 1.0f),
      w_(t->codes.size()),
      gm_(t->scales.size()),
      adam_(static_cast<int64_t>(t->scales.size())) {
  build(true);
}

void ScaleParam::build(bool round) {
  const TqTensor& t = *t_;
  const TqCodec& codec = tq_codec(t.bits, t.group);  // the rotation depends on the group only
  const int64_t ng = t.n_groups();
  parallel_for(t.n_rows * ng, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float s = t.scales[i] * mult_[i];
      if (round) s = round_fp16(s);
      const float* cb = group_codebook(t, i % ng);
      const uint8_t* idx = t.codes.data() + i * t.group;
      float* o = w_.data() + i * t.group;
      for (int k = 0; k < t.group; ++k) o[k] = s * cb[idx[k]];
      codec.unrotate(o);
    }
  }, 64);
}

void ScaleParam::mult_grad(const float* grad_w, float* grad_m, bool accumulate) const {
  const TqTensor& t = *t_;
  const TqCodec& codec = tq_codec(t.bits, t.group);
  const int64_t ng = t.n_groups();
  // Ŵ = Rᵀ Ŵ_rot per group, so ∂L/∂Ŵ_rot = R ∂L/∂Ŵ; Ŵ_rot = m·s·c[idx].
  parallel_for(t.n_rows * ng, [&](int64_t b, int64_t e) {
    std::vector<float> g(static_cast<size_t>(t.group));
    for (int64_t i = b; i < e; ++i) {
      std::copy_n(grad_w + i * t.group, t.group, g.data());
      codec.rotate(g.data());
      const float* cb = group_codebook(t, i % ng);
      const uint8_t* idx = t.codes.data() + i * t.group;
      double d = 0;
      for (int k = 0; k < t.group; ++k) d += static_cast<double>(g[k]) * cb[idx[k]];
      const float v = static_cast<float>(d) * t.scales[i];
      grad_m[i] = accumulate ? grad_m[i] + v : v;
    }
  }, 64);
}

void ScaleParam::adam_step(const std::vector<float>& grad_w, double lr, int64_t step) {
  mult_grad(grad_w.data(), gm_.data());
  adam_.step(mult_.data(), gm_.data(), static_cast<int64_t>(mult_.size()), lr, step);
  build(false);
}

void ScaleParam::commit() {
  for (size_t k = 0; k < t_->scales.size(); ++k) t_->scales[k] = round_fp16(t_->scales[k] * mult_[k]);
}

}  // namespace tq

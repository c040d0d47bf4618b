// QJL sign sketches: the signed-sum kernel per SIMD target + the QjlSketch object.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "math/qjl.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <hwy/highway.h>

#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace tq {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

float SignedSumKernel(const float* HWY_RESTRICT x, const uint8_t* HWY_RESTRICT signs, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t n_lanes = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  float total = 0.0f;
  if (n_lanes >= 8) {  // LoadMaskBits needs the chunk to start on a byte
    auto pos = hn::Zero(d), all = hn::Zero(d);
    for (; i + n_lanes <= n; i += n_lanes) {
      const auto v = hn::LoadU(d, x + i);
      const auto m = hn::LoadMaskBits(d, signs + i / 8);
      pos = hn::Add(pos, hn::IfThenElseZero(m, v));
      all = hn::Add(all, v);
    }
    // Σ z·x = 2·Σ_{z=+1} x − Σ x
    total = 2.0f * hn::GetLane(hn::SumOfLanes(d, pos)) - hn::GetLane(hn::SumOfLanes(d, all));
  }
  for (; i < n; ++i) total += ((signs[i / 8] >> (i % 8)) & 1) ? x[i] : -x[i];
  return total;
}

}  // namespace HWY_NAMESPACE
}  // namespace tq
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <cmath>
#include <numbers>

#include "core/rng.h"
#include "math/qjl.h"

namespace tq {

HWY_EXPORT(SignedSumKernel);

float signed_sum(const float* x, const uint8_t* signs, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(SignedSumKernel)(x, signs, n);
}

namespace ref {
float signed_sum(const float* x, const uint8_t* signs, int64_t n) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += ((signs[i / 8] >> (i % 8)) & 1) ? x[i] : -x[i];
  return static_cast<float>(total);
}
}  // namespace ref

const char* qjl_kind_name(QjlKind k) {
  switch (k) {
    case QjlKind::kStructured: return "structured";
    case QjlKind::kGaussian: return "gaussian";
  }
  return "unknown";
}

double sphere_mean_abs_coordinate(int64_t dim) {
  // E|u₁| = R(d)/√π with R(d) = Γ(d/2)/Γ((d+1)/2). lgamma differences lose ~1e-10 at large d, so:
  // exact recurrence R(d+2) = R(d)·d/(d+1) from R(1) = √π, R(2) = 2/√π for d <= 1000, and the
  // asymptotic series Γ(x+½)/Γ(x) = √x·(1 − 1/(8x) + 1/(128x²) + 5/(1024x³) − 21/(32768x⁴)), x = d/2,
  // beyond (truncation error < 1e-16 there).
  const double sqrt_pi = std::sqrt(std::numbers::pi);
  if (dim <= 1000) {
    double r = dim % 2 ? sqrt_pi : 2.0 / sqrt_pi;
    for (int64_t k = dim % 2 ? 1 : 2; k < dim; k += 2) r *= static_cast<double>(k) / static_cast<double>(k + 1);
    return r / sqrt_pi;
  }
  const double x = 0.5 * static_cast<double>(dim), ix = 1.0 / x;
  const double ratio = std::sqrt(x) * (1.0 + ix * (-1.0 / 8 + ix * (1.0 / 128 + ix * (5.0 / 1024 - ix * 21.0 / 32768))));
  return 1.0 / (sqrt_pi * ratio);
}

Result<QjlSketch> QjlSketch::create(int64_t dim, uint64_t seed, QjlKind kind) {
  if (dim < 1) return invalid_argument("QJL dimension must be >= 1, got {}", dim);
  QjlSketch s;
  s.dim_ = dim;
  s.kind_ = kind;
  switch (kind) {
    case QjlKind::kStructured: {
      TQ_ASSIGN_OR_RETURN(HadamardRotation r, HadamardRotation::create(dim, seed));
      s.rotation_ = std::move(r);
      s.scale_ = 1.0 / (static_cast<double>(dim) * sphere_mean_abs_coordinate(dim));
      break;
    }
    case QjlKind::kGaussian: {
      s.gaussian_.resize(static_cast<size_t>(dim * dim));
      Rng rng(seed);
      for (auto& g : s.gaussian_) g = static_cast<float>(rng.normal());
      s.scale_ = std::sqrt(std::numbers::pi / 2.0) / static_cast<double>(dim);
      break;
    }
    default:
      return invalid_argument("unknown QJL kind {}", static_cast<int>(kind));
  }
  return s;
}

void QjlSketch::project(const float* v, float* out) const {
  if (kind_ == QjlKind::kStructured) {
    rotation_.forward(v, out);
    return;
  }
  std::vector<float> tmp(v, v + dim_);  // allows v == out
  for (int64_t i = 0; i < dim_; ++i) {
    const float* g = gaussian_.data() + i * dim_;
    double acc = 0.0;
    for (int64_t j = 0; j < dim_; ++j) acc += static_cast<double>(g[j]) * tmp[j];
    out[i] = static_cast<float>(acc);
  }
}

void QjlSketch::project_ref(const float* v, float* out) const {
  if (kind_ == QjlKind::kStructured) {
    rotation_.forward_ref(v, out);
    return;
  }
  project(v, out);  // the Gaussian product is scalar code already
}

void QjlSketch::project_transpose_signs_ref(const uint8_t* signs, float* out) const {
  if (kind_ == QjlKind::kStructured) {
    for (int64_t i = 0; i < dim_; ++i) out[i] = ((signs[i / 8] >> (i % 8)) & 1) ? 1.0f : -1.0f;
    rotation_.inverse_ref(out, out);
    return;
  }
  project_transpose_signs(signs, out);
}

void QjlSketch::project_transpose_signs(const uint8_t* signs, float* out) const {
  if (kind_ == QjlKind::kStructured) {
    for (int64_t i = 0; i < dim_; ++i) out[i] = ((signs[i / 8] >> (i % 8)) & 1) ? 1.0f : -1.0f;
    rotation_.inverse(out, out);
    return;
  }
  std::vector<float> z(dim_);
  for (int64_t i = 0; i < dim_; ++i) z[i] = ((signs[i / 8] >> (i % 8)) & 1) ? 1.0f : -1.0f;
  for (int64_t j = 0; j < dim_; ++j) out[j] = 0.0f;
  for (int64_t i = 0; i < dim_; ++i) {
    const float* g = gaussian_.data() + i * dim_;
    for (int64_t j = 0; j < dim_; ++j) out[j] += z[i] * g[j];
  }
}

void QjlSketch::signs_of(const float* pv, uint8_t* signs) const {
  const int64_t n_bytes = sign_bytes();
  for (int64_t b = 0; b < n_bytes; ++b) {
    unsigned byte = 0;
    for (int k = 0; k < 8; ++k) {
      const int64_t i = 8 * b + k;
      if (i < dim_ && pv[i] >= 0.0f) byte |= 1u << k;
    }
    signs[b] = static_cast<uint8_t>(byte);
  }
}

float QjlSketch::dot_signs(const float* pq, const uint8_t* signs) const { return signed_sum(pq, signs, dim_); }

}  // namespace tq

#endif  // HWY_ONCE

// QJL: 1-bit quantized Johnson–Lindenstrauss sketches (TurboQuant_prod's residual step,
// DESIGN.md §1 step 3). For a vector r the sketch is z = sign(P·r) ∈ {±1}^d (packed, 1 bit per
// coordinate; sign(0) = +1) plus ‖r‖; for any query q
//     ⟨q, r⟩ ≈ ‖r‖ · scale() · Σ_i z_i·(P·q)_i
// is unbiased with variance ≤ (π/2d)·‖r‖²·‖q‖².
//
// Two projections P (d×d):
//   kGaussian    P = G with i.i.d. N(0, 1) entries, scale = √(π/2)/d (the paper's S). O(d²).
//   kStructured  P = R, a randomized Hadamard rotation (math/rotation.h, default rounds) with its own
//                seed, i.e. S = √d·R. Each row of a Haar rotation is uniform on the unit sphere, so
//                E[sign(ρ·r)(ρ·q)] = E|u₁|·⟨r, q⟩/‖r‖ exactly, and scale = 1/(d·E|u₁|) with
//                E|u₁| = Γ(d/2)/(√π Γ((d+1)/2)) makes the estimator unbiased; orthogonal rows make
//                its variance no larger than the Gaussian one. O(d log d). The default: bias and
//                variance measured equal to kGaussian within their standard errors (docs/CODEC.md,
//                tests/math/qjl_test.cc).
#pragma once

#include <cstdint>
#include <vector>

#include "math/rotation.h"
#include "tq/status.h"

namespace tq {

enum class QjlKind : uint8_t { kStructured = 1, kGaussian = 2 };
const char* qjl_kind_name(QjlKind k);  // "structured", "gaussian"

class QjlSketch {
 public:
  // dim >= 1. Deterministic in (dim, seed, kind).
  static Result<QjlSketch> create(int64_t dim, uint64_t seed, QjlKind kind = QjlKind::kStructured);

  int64_t dim() const { return dim_; }
  QjlKind kind() const { return kind_; }
  // Bytes of one packed sign sketch: ceil(dim / 8).
  int64_t sign_bytes() const { return (dim_ + 7) / 8; }
  // The estimator's constant (see the header comment).
  double scale() const { return scale_; }
  // R of a kStructured sketch (P = R; other backends, e.g. CUDA, rebuild P from it); nullptr for kGaussian.
  const HadamardRotation* structured_rotation() const { return kind_ == QjlKind::kStructured ? &rotation_ : nullptr; }

  // out = P·v. v, out: [dim]; in place (v == out) allowed. project_ref: scalar reference kernels.
  void project(const float* v, float* out) const;
  void project_ref(const float* v, float* out) const;
  // out = Pᵀ·z with z_i = +1 where bit i of `signs` is set, −1 otherwise. out: [dim].
  void project_transpose_signs(const uint8_t* signs, float* out) const;
  void project_transpose_signs_ref(const uint8_t* signs, float* out) const;
  // signs[0..sign_bytes()) = packed bits (pv_i >= 0) of an already projected vector pv: [dim].
  void signs_of(const float* pv, uint8_t* signs) const;
  // Σ_i z_i·pq_i for the packed signs z and a projected query pq: [dim]. SIMD.
  float dot_signs(const float* pq, const uint8_t* signs) const;

 private:
  int64_t dim_ = 0;
  QjlKind kind_ = QjlKind::kStructured;
  double scale_ = 0.0;
  HadamardRotation rotation_;  // R for kStructured
  std::vector<float> gaussian_;             // [dim, dim] row-major G for kGaussian
};

// E|u₁| for u uniform on the unit sphere of R^d: Γ(d/2) / (√π Γ((d+1)/2)).
double sphere_mean_abs_coordinate(int64_t dim);

// Σ_i z_i·x_i for packed signs (bit i set ⇔ z_i = +1), SIMD with runtime dispatch. x: [n].
float signed_sum(const float* x, const uint8_t* signs, int64_t n);
namespace ref {
float signed_sum(const float* x, const uint8_t* signs, int64_t n);
}  // namespace ref

}  // namespace tq

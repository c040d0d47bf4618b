// Randomized Hadamard rotation: SIMD kernels (compiled once per Highway target, dispatched at run
// time) + the HadamardRotation object. See rotation.h for the math and the decisions.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "math/rotation.cc"
#include <hwy/foreach_target.h>  // IWYU pragma: keep

#include <cmath>
#include <cstdint>

#include <hwy/highway.h>

#include "math/fwht-inl.h"

HWY_BEFORE_NAMESPACE();
namespace tq {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void SignFwhtKernel(float* x, const float* s, int64_t p) { SignFwht(x, s, static_cast<size_t>(p)); }
void FwhtSignKernel(float* x, const float* s, int64_t p) { FwhtSign(x, s, static_cast<size_t>(p)); }

void MatvecKernel(const float* HWY_RESTRICT a, const float* HWY_RESTRICT x, int64_t rows, int64_t cols,
                  float* HWY_RESTRICT y) {
  const hn::ScalableTag<float> d;
  const int64_t n_lanes = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * cols;
    auto acc0 = hn::Zero(d), acc1 = hn::Zero(d);
    int64_t j = 0;
    for (; j + 2 * n_lanes <= cols; j += 2 * n_lanes) {
      acc0 = hn::MulAdd(hn::LoadU(d, ar + j), hn::LoadU(d, x + j), acc0);
      acc1 = hn::MulAdd(hn::LoadU(d, ar + j + n_lanes), hn::LoadU(d, x + j + n_lanes), acc1);
    }
    for (; j + n_lanes <= cols; j += n_lanes) acc0 = hn::MulAdd(hn::LoadU(d, ar + j), hn::LoadU(d, x + j), acc0);
    float total = hn::GetLane(hn::SumOfLanes(d, hn::Add(acc0, acc1)));
    for (; j < cols; ++j) total += ar[j] * x[j];
    y[r] = total;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace tq
HWY_AFTER_NAMESPACE();

#if HWY_ONCE

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "math/rotation.h"

namespace tq {

HWY_EXPORT(SignFwhtKernel);
HWY_EXPORT(FwhtSignKernel);
HWY_EXPORT(MatvecKernel);

void sign_fwht(float* x, const float* s, int64_t p) { HWY_DYNAMIC_DISPATCH(SignFwhtKernel)(x, s, p); }
void fwht_sign(float* x, const float* s, int64_t p) { HWY_DYNAMIC_DISPATCH(FwhtSignKernel)(x, s, p); }
void matvec(const float* a, const float* x, int64_t rows, int64_t cols, float* y) {
  HWY_DYNAMIC_DISPATCH(MatvecKernel)(a, x, rows, cols, y);
}

void fwht_normalized(float* x, int64_t p) {
  thread_local std::vector<float> scale;  // [p] of 1/sqrt(p)
  if (static_cast<int64_t>(scale.size()) != p) scale.assign(p, 1.0f / std::sqrt(static_cast<float>(p)));
  sign_fwht(x, scale.data(), p);
}

namespace ref {

static void fwht(float* x, int64_t p) {
  for (int64_t h = 1; h < p; h <<= 1)
    for (int64_t i = 0; i < p; i += 2 * h)
      for (int64_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
}

void sign_fwht(float* x, const float* s, int64_t p) {
  for (int64_t i = 0; i < p; ++i) x[i] *= s[i];
  fwht(x, p);
}

void fwht_sign(float* x, const float* s, int64_t p) {
  fwht(x, p);
  for (int64_t i = 0; i < p; ++i) x[i] *= s[i];
}

void matvec(const float* a, const float* x, int64_t rows, int64_t cols, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    double acc = 0.0;
    for (int64_t j = 0; j < cols; ++j) acc += static_cast<double>(a[r * cols + j]) * x[j];
    y[r] = static_cast<float>(acc);
  }
}

}  // namespace ref

std::vector<double> haar_orthogonal(int64_t m, uint64_t seed) {
  std::vector<double> q(static_cast<size_t>(m * m));
  Rng rng(seed);
  for (auto& v : q) v = rng.normal();
  // Gram–Schmidt on the rows, twice per row for stability. The QR factor with positive diagonal of
  // a Gaussian matrix is Haar distributed (Mezzadri 2007), and Gram–Schmidt yields exactly that one.
  for (int64_t a = 0; a < m; ++a) {
    double* qa = q.data() + a * m;
    for (int pass = 0; pass < 2; ++pass)
      for (int64_t b = 0; b < a; ++b) {
        const double* qb = q.data() + b * m;
        double dot = 0.0;
        for (int64_t i = 0; i < m; ++i) dot += qa[i] * qb[i];
        for (int64_t i = 0; i < m; ++i) qa[i] -= dot * qb[i];
      }
    double norm = 0.0;
    for (int64_t i = 0; i < m; ++i) norm += qa[i] * qa[i];
    norm = std::sqrt(norm);
    TQ_CHECK(norm > 0.0, "degenerate Gaussian matrix in haar_orthogonal");
    for (int64_t i = 0; i < m; ++i) qa[i] /= norm;
  }
  return q;
}

const char* rotation_form_name(RotationForm f) {
  switch (f) {
    case RotationForm::kHadamard: return "hadamard";
    case RotationForm::kWindows: return "windows";
  }
  return "unknown";
}

Result<HadamardRotation> HadamardRotation::create(int64_t dim, uint64_t seed, int rounds) {
  if (dim < 1) return invalid_argument("rotation dimension must be >= 1, got {}", dim);
  if (dim > (int64_t{1} << 30)) return invalid_argument("rotation dimension {} is too large", dim);
  if (rounds == 0) rounds = default_rotation_rounds(dim);
  if (rounds < 1 || rounds > kMaxRotationRounds)
    return invalid_argument("rotation rounds must be in [0, {}] (0 = default), got {}", kMaxRotationRounds, rounds);
  HadamardRotation r;
  r.dim_ = dim;
  r.rounds_ = rounds;
  r.seed_ = seed;
  r.form_ = is_power_of_two(dim) ? RotationForm::kHadamard : RotationForm::kWindows;
  int64_t p = 1;
  while (2 * p <= dim) p *= 2;
  r.block_ = p;
  const int64_t signs_per_round = r.signs_per_round();
  const float scale = 1.0f / std::sqrt(static_cast<float>(p));
  r.signs_.resize(static_cast<size_t>(rounds * signs_per_round));
  if (r.form_ == RotationForm::kWindows) {
    r.perm_.resize(static_cast<size_t>(rounds) * dim);
    r.iperm_.resize(r.perm_.size());
  }
  for (int k = 0; k < rounds; ++k) {
    Rng rng(mix_seed(seed, 2 * k));
    for (int64_t i = 0; i < signs_per_round; ++i)
      r.signs_[k * signs_per_round + i] = (rng.next_u64() >> 63) ? -scale : scale;
    if (r.form_ == RotationForm::kWindows) {
      int32_t* perm = r.perm_.data() + k * dim;
      for (int64_t i = 0; i < dim; ++i) perm[i] = static_cast<int32_t>(i);
      Rng prng(mix_seed(seed, 2 * k + 1));
      for (int64_t i = dim - 1; i > 0; --i) std::swap(perm[i], perm[prng.below(i + 1)]);  // Fisher–Yates
      for (int64_t i = 0; i < dim; ++i) r.iperm_[k * dim + perm[i]] = static_cast<int32_t>(i);
    }
  }
  return r;
}

namespace {

float* thread_scratch(int64_t n) {
  thread_local std::vector<float> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(n);
  return buf.data();
}

// x[i] ← x[perm[i]] for i < n. tmp: [n].
void permute_inplace(float* x, const int32_t* perm, int64_t n, float* tmp) {
  for (int64_t i = 0; i < n; ++i) tmp[i] = x[perm[i]];
  std::memcpy(x, tmp, sizeof(float) * n);
}

}  // namespace

template <bool kRef>
static void forward_impl(const HadamardRotation& r, const float* x, float* y, float* scratch) {
  const int64_t d = r.dim(), p = r.block();
  if (x != y) std::memcpy(y, x, sizeof(float) * d);
  for (int k = 0; k < r.rounds(); ++k) {
    const float* s = r.scaled_signs(k);
    if (kRef) ref::sign_fwht(y, s, p); else sign_fwht(y, s, p);
    if (r.form() == RotationForm::kWindows) {
      if (kRef) ref::sign_fwht(y + d - p, s + p, p); else sign_fwht(y + d - p, s + p, p);
      permute_inplace(y, r.permutation(k), d, scratch);
    }
  }
}

template <bool kRef>
static void inverse_impl(const HadamardRotation& r, const int32_t* iperm, const float* y, float* x, float* scratch) {
  const int64_t d = r.dim(), p = r.block();
  if (x != y) std::memcpy(x, y, sizeof(float) * d);
  for (int k = r.rounds() - 1; k >= 0; --k) {
    const float* s = r.scaled_signs(k);
    if (r.form() == RotationForm::kWindows) {
      permute_inplace(x, iperm + k * d, d, scratch);
      if (kRef) ref::fwht_sign(x + d - p, s + p, p); else fwht_sign(x + d - p, s + p, p);
    }
    if (kRef) ref::fwht_sign(x, s, p); else fwht_sign(x, s, p);
  }
}

void HadamardRotation::forward(const float* x, float* y, float* scratch) const {
  if (form_ == RotationForm::kWindows && !scratch) scratch = thread_scratch(dim_);
  forward_impl<false>(*this, x, y, scratch);
}

void HadamardRotation::inverse(const float* y, float* x, float* scratch) const {
  if (form_ == RotationForm::kWindows && !scratch) scratch = thread_scratch(dim_);
  inverse_impl<false>(*this, iperm_.data(), y, x, scratch);
}

void HadamardRotation::forward_ref(const float* x, float* y) const {
  std::vector<float> scratch(dim_);
  forward_impl<true>(*this, x, y, scratch.data());
}

void HadamardRotation::inverse_ref(const float* y, float* x) const {
  std::vector<float> scratch(dim_);
  inverse_impl<true>(*this, iperm_.data(), y, x, scratch.data());
}

void HadamardRotation::forward_batch(int64_t n, const float* x, float* y) const {
  const int64_t d = dim_;
  parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        std::vector<float> scratch(d);
        for (int64_t i = begin; i < end; ++i) forward(x + i * d, y + i * d, scratch.data());
      },
      std::max<int64_t>(1, 16384 / d));
}

void HadamardRotation::inverse_batch(int64_t n, const float* y, float* x) const {
  const int64_t d = dim_;
  parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        std::vector<float> scratch(d);
        for (int64_t i = begin; i < end; ++i) inverse(y + i * d, x + i * d, scratch.data());
      },
      std::max<int64_t>(1, 16384 / d));
}

}  // namespace tq

#endif  // HWY_ONCE

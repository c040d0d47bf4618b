// Per-target Highway kernels for the fast Walsh–Hadamard transform (FWHT). Include this from code
// compiled once per SIMD target (after <hwy/foreach_target.h>, or from another -inl.h), then call
// tq::HWY_NAMESPACE::SignFwht / FwhtSign inside your own kernel: no dispatch, no allocation.
// Other code should call the dispatched wrappers in math/rotation.h instead.
//
// Results are bitwise identical to the scalar reference (math/rotation.cc, ref::sign_fwht):
// the sign step is one multiply per element and every butterfly is one add or subtract, done in
// the same order as the textbook radix-2 loop (radix-4 passes fuse two stages without reordering).

// Per-target include guard (Highway idiom): toggled each time foreach_target re-includes us.
#if defined(TQ_MATH_FWHT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef TQ_MATH_FWHT_INL_H_
#undef TQ_MATH_FWHT_INL_H_
#else
#define TQ_MATH_FWHT_INL_H_
#endif

#include <hwy/highway.h>

#include <cstddef>
#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace tq {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

namespace fwht_detail {

// Scalar radix-2 FWHT of x[0..p) (unnormalized). Used when p is smaller than one vector.
HWY_INLINE void ScalarFwht(float* HWY_RESTRICT x, size_t p) {
  for (size_t h = 1; h < p; h <<= 1) {
    for (size_t i = 0; i < p; i += 2 * h) {
      for (size_t j = i; j < i + h; ++j) {
        const float a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
  }
}

// All FWHT stages with h < Lanes(d) on one vector: lane i pairs with lane i^h.
// Lower lane: v[i] + v[i^h]; upper lane: v[i^h] - v[i] == v[i^h] + (-v[i]) exactly.
template <class D>
HWY_INLINE hn::Vec<D> InRegister(D d, hn::Vec<D> v) {
  const hn::RebindToSigned<D> di;
  const size_t n_lanes = hn::Lanes(d);
  const auto iota = hn::Iota(di, 0);
  const auto sign_bit = hn::BitCast(d, hn::Set(di, static_cast<int32_t>(0x80000000u)));
  for (size_t h = 1; h < n_lanes; h <<= 1) {
    const auto hv = hn::Set(di, static_cast<int32_t>(h));
    const auto partner = hn::TableLookupLanes(v, hn::IndicesFromVec(d, hn::Xor(iota, hv)));
    const auto is_upper = hn::RebindMask(d, hn::Ne(hn::And(iota, hv), hn::Zero(di)));
    const auto flipped = hn::IfThenElse(is_upper, hn::Xor(v, sign_bit), v);
    v = hn::Add(partner, flipped);
  }
  return v;
}

// Stages with h >= Lanes(d): butterflies between whole vectors, two stages per pass.
template <class D>
HWY_INLINE void CrossVector(D d, float* HWY_RESTRICT x, size_t p) {
  const size_t n_lanes = hn::Lanes(d);
  size_t h = n_lanes;
  for (; 2 * h < p; h *= 4) {  // radix-4: stages h and 2h fused
    for (size_t i = 0; i < p; i += 4 * h) {
      for (size_t j = i; j < i + h; j += n_lanes) {
        const auto a = hn::LoadU(d, x + j), b = hn::LoadU(d, x + j + h);
        const auto c = hn::LoadU(d, x + j + 2 * h), e = hn::LoadU(d, x + j + 3 * h);
        const auto ab0 = hn::Add(a, b), ab1 = hn::Sub(a, b);
        const auto ce0 = hn::Add(c, e), ce1 = hn::Sub(c, e);
        hn::StoreU(hn::Add(ab0, ce0), d, x + j);
        hn::StoreU(hn::Add(ab1, ce1), d, x + j + h);
        hn::StoreU(hn::Sub(ab0, ce0), d, x + j + 2 * h);
        hn::StoreU(hn::Sub(ab1, ce1), d, x + j + 3 * h);
      }
    }
  }
  if (h < p) {  // one radix-2 stage left
    for (size_t i = 0; i < p; i += 2 * h) {
      for (size_t j = i; j < i + h; j += n_lanes) {
        const auto a = hn::LoadU(d, x + j), b = hn::LoadU(d, x + j + h);
        hn::StoreU(hn::Add(a, b), d, x + j);
        hn::StoreU(hn::Sub(a, b), d, x + j + h);
      }
    }
  }
}

}  // namespace fwht_detail

// x[i] *= s[i] for i < p, then x = H_p·x (unnormalized Walsh–Hadamard, natural order).
// p: a power of two >= 1. s: p floats (a rotation passes ±1/sqrt(p), which makes H·diag(s) an
// orthogonal matrix). x and s must not overlap.
HWY_INLINE void SignFwht(float* HWY_RESTRICT x, const float* HWY_RESTRICT s, size_t p) {
  const hn::ScalableTag<float> d;
  const size_t n_lanes = hn::Lanes(d);
  if (p < n_lanes) {
    for (size_t i = 0; i < p; ++i) x[i] *= s[i];
    fwht_detail::ScalarFwht(x, p);
    return;
  }
  for (size_t i = 0; i < p; i += n_lanes) {
    const auto v = hn::Mul(hn::LoadU(d, x + i), hn::LoadU(d, s + i));
    hn::StoreU(fwht_detail::InRegister(d, v), d, x + i);
  }
  fwht_detail::CrossVector(d, x, p);
}

// x = H_p·x, then x[i] *= s[i]: the inverse of SignFwht when s = ±1/sqrt(p).
HWY_INLINE void FwhtSign(float* HWY_RESTRICT x, const float* HWY_RESTRICT s, size_t p) {
  const hn::ScalableTag<float> d;
  const size_t n_lanes = hn::Lanes(d);
  if (p < n_lanes) {
    fwht_detail::ScalarFwht(x, p);
    for (size_t i = 0; i < p; ++i) x[i] *= s[i];
    return;
  }
  for (size_t i = 0; i < p; i += n_lanes) {
    hn::StoreU(fwht_detail::InRegister(d, hn::LoadU(d, x + i)), d, x + i);
  }
  fwht_detail::CrossVector(d, x, p);
  for (size_t i = 0; i < p; i += n_lanes) {
    hn::StoreU(hn::Mul(hn::LoadU(d, x + i), hn::LoadU(d, s + i)), d, x + i);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace tq
HWY_AFTER_NAMESPACE();

#endif  // TQ_MATH_FWHT_INL_H_

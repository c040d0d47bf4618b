// Overflow-checked arithmetic for sizes computed from untrusted numbers (file headers, shapes,
// command-line options). Every product or sum of counts, dimensions, strides or byte sizes that a
// file or a user controls goes through these, so a huge value becomes an error at the edge instead
// of a wrapped size (a 2^62-element f32 row is 2^64 bytes: 0 after wrapping) deep inside.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <span>

namespace tq {

// a * b, or nullopt when the exact result does not fit T.
template <std::integral T>
constexpr std::optional<T> checked_mul(T a, T b) {
  T r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// a + b, or nullopt when the exact result does not fit T.
template <std::integral T>
constexpr std::optional<T> checked_add(T a, T b) {
  T r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// x rounded up to a multiple of `align` (> 0), or nullopt on overflow.
template <std::unsigned_integral T>
constexpr std::optional<T> checked_align_up(T x, T align) {
  const auto s = checked_add<T>(x, align - 1);
  if (!s) return std::nullopt;
  return *s / align * align;
}

// Number of elements of a shape (every dimension >= 0; an empty shape is a scalar, 1 element),
// or nullopt when a dimension is negative or the product exceeds `limit`.
constexpr std::optional<int64_t> checked_elements(std::span<const int64_t> shape,
                                                  int64_t limit = INT64_MAX) {
  int64_t n = 1;
  for (const int64_t d : shape) {
    if (d < 0) return std::nullopt;
    const auto p = checked_mul<int64_t>(n, d);
    if (!p || *p > limit) return std::nullopt;
    n = *p;
  }
  return n;
}

}  // namespace tq

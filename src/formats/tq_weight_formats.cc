// Format-table entries of the TurboQuant weight formats tq<b>g<G> and tq<b>.5g<G>
// (formats/tq_weight.h): reference to_float (dequantize: per group Rᵀ(s·c[idx])) and from_float
// (the data-free least-squares-scale quantizer). The fractional formats convert rows with their
// tensor's group map (to_float_aux / from_float_aux, aux = const TqGroupMap*); their plain
// to_float / from_float use the identity map (the wide groups are the first half of the row).
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/format_families.h"
#include "formats/tq_weight.h"

namespace tq {
namespace {

// The block of one group, for documentation and size checks; the code reads blocks byte-wise.
template <int B, int G>
struct TqBlock {
  uint16_t scale_f16;      // least-squares scale s (f16)
  uint8_t codes[G * B / 8];  // G codes of B bits, LSB-first bit stream (math/bitpack.h)
};
static_assert(sizeof(TqBlock<2, 32>) == 10 && sizeof(TqBlock<3, 32>) == 14);
static_assert(sizeof(TqBlock<4, 64>) == 34 && sizeof(TqBlock<5, 64>) == 42);
static_assert(sizeof(TqBlock<2, 128>) == 34 && sizeof(TqBlock<3, 128>) == 50);
static_assert(sizeof(TqBlock<4, 128>) == 66 && sizeof(TqBlock<5, 128>) == 82);
static_assert(sizeof(TqBlock<6, 128>) == 98 && sizeof(TqBlock<8, 128>) == 130);

template <int B, int G>
void to_float(const void* src, float* dst, int64_t n) {
  tq_dequantize_row(src, n, B, G, dst);
}

template <int B, int G>
void from_float(const float* src, void* dst, int64_t n) {
  tq_quantize_row(src, n, B, G, dst);
}

template <int B, int G>
bool validate(const void* src, int64_t n, int64_t* bad_block) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t g = 0; g < n / G; ++g) {
    uint16_t h;
    std::memcpy(&h, p + g * sizeof(TqBlock<B, G>), 2);
    if ((h & 0x7c00u) == 0x7c00u) {  // f16 exponent all ones: Inf or NaN
      *bad_block = g;
      return false;
    }
  }
  return true;
}

template <int B, int G>
FormatTraits entry() {
  const TqWeightSpec* s = find_tq_weight(B, G);
  return {s->id,
          s->name,
          G,
          static_cast<int64_t>(sizeof(TqBlock<B, G>)),
          true,
          to_float<B, G>,
          from_float<B, G>,
          "TurboQuant weights: per group of G inputs a seeded Hadamard rotation, Lloyd-Max codes, "
          "f16 least-squares scale",
          0,
          validate<B, G>};
}

// ---- fractional ------------------------------------------------------------------------------
template <int B, int G>
bool validate_fractional(const void* src, int64_t n, int64_t* bad_block) {
  const auto* p = static_cast<const uint8_t*>(src);
  const int64_t n_wide = n / G / 2;
  for (int64_t j = 0; j < n / G; ++j) {
    const int64_t off = j < n_wide ? j * sizeof(TqBlock<B + 1, G>)
                                   : n_wide * sizeof(TqBlock<B + 1, G>) +
                                         (j - n_wide) * sizeof(TqBlock<B, G>);
    uint16_t h;
    std::memcpy(&h, p + off, 2);
    if ((h & 0x7c00u) == 0x7c00u) {
      *bad_block = j;  // storage slot
      return false;
    }
  }
  return true;
}

const TqGroupMap& identity_map(int64_t n_groups) {
  thread_local TqGroupMap m;
  if (static_cast<int64_t>(m.wide.size()) != n_groups) {
    std::vector<uint8_t> wide(n_groups, 0);
    for (int64_t g = 0; g < n_groups / 2; ++g) wide[g] = 1;
    m = *tq_group_map(wide);
  }
  return m;
}

template <int B, int G>
void to_float_aux(const void* src, float* dst, int64_t n, const void* aux) {
  tq_dequantize_row_fractional(src, n, *find_tq_weight_fractional(B, G),
                               *static_cast<const TqGroupMap*>(aux), dst);
}
template <int B, int G>
void from_float_aux(const float* src, void* dst, int64_t n, const void* aux) {
  tq_quantize_row_fractional(src, n, *find_tq_weight_fractional(B, G),
                             *static_cast<const TqGroupMap*>(aux), dst);
}
template <int B, int G>
void to_float_identity(const void* src, float* dst, int64_t n) {
  to_float_aux<B, G>(src, dst, n, &identity_map(n / G));
}
template <int B, int G>
void from_float_identity(const float* src, void* dst, int64_t n) {
  from_float_aux<B, G>(src, dst, n, &identity_map(n / G));
}

template <int B, int G>
FormatTraits fractional_entry() {
  const TqWeightSpec* s = find_tq_weight_fractional(B, G);
  FormatTraits f{s->id,
                 s->name,
                 2 * G,
                 static_cast<int64_t>(sizeof(TqBlock<B, G>) + sizeof(TqBlock<B + 1, G>)),
                 true,
                 to_float_identity<B, G>,
                 from_float_identity<B, G>,
                 "TurboQuant weights, fractional: half of the groups (the tensor's group map) at "
                 "one more bit",
                 0,
                 validate_fractional<B, G>};
  f.to_float_aux = to_float_aux<B, G>;
  f.from_float_aux = from_float_aux<B, G>;
  return f;
}

template <int G>
void add_group(std::vector<FormatTraits>& t) {
  t.push_back(entry<2, G>());
  t.push_back(entry<3, G>());
  t.push_back(entry<4, G>());
  t.push_back(entry<5, G>());
  t.push_back(entry<6, G>());
  t.push_back(entry<8, G>());
}

template <int G>
void add_fractional(std::vector<FormatTraits>& t) {
  t.push_back(fractional_entry<2, G>());
  t.push_back(fractional_entry<3, G>());
  t.push_back(fractional_entry<4, G>());
  t.push_back(fractional_entry<5, G>());
}

std::vector<FormatTraits> build() {
  std::vector<FormatTraits> t;
  add_group<32>(t);
  add_group<64>(t);
  add_group<128>(t);
  for (auto* add : {&add_fractional<32>, &add_fractional<64>, &add_fractional<128>}) add(t);
  return t;
}

}  // namespace

std::span<const FormatTraits> tq_weight_formats() {
  static const std::vector<FormatTraits> t = build();
  return t;
}

}  // namespace tq

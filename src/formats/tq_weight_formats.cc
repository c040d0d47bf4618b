// Format-table entries of the TurboQuant weight formats tq<b>g<G> (formats/tq_weight.h): reference
// to_float (dequantize: per group Rᵀ(s·c[idx])) and from_float (the data-free least-squares-scale
// quantizer).
#include <array>
#include <cstdint>
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
          "f16 least-squares scale"};
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

std::vector<FormatTraits> build() {
  std::vector<FormatTraits> t;
  add_group<32>(t);
  add_group<64>(t);
  add_group<128>(t);
  return t;
}

}  // namespace

std::span<const FormatTraits> tq_weight_formats() {
  static const std::vector<FormatTraits> t = build();
  return t;
}

}  // namespace tq

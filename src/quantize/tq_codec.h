// The numbers of one TurboQuant weight format tq<bits>g<group> as the quantizer needs them: the
// group rotation R and the codebook, exactly as the format's dequantization uses them
// (formats/tq_weight.h owns the definition; this adapter only gathers it in one object), plus the
// group quantizers every method shares.
//
// Dequantized group (WEIGHT_FORMAT.md): w = Rᵀ (s · c[idx]); the rotated group v = R w is what the
// quantizer fits. Codebook units: a group whose rotated coordinates have unit RMS has s ≈ 1, i.e.
// the data-free starting scale is s0 = ‖v‖ / sqrt(G).
#pragma once

#include <cstdint>
#include <vector>

#include "tq/types.h"

namespace tq {

struct TqCodec {
  int bits = 0;
  int group = 0;
  TypeId type{};                  // the format-table id of tq<bits>g<group>
  std::vector<float> codebook;    // [2^bits] ascending, the exact values dequantization uses
  std::vector<float> boundaries;  // [2^bits - 1] midpoints between neighbouring values
  std::vector<float> signs;       // [group] the rotation's ±1/sqrt(group) diagonal

  int levels() const { return 1 << bits; }
  // x := R x, and x := Rᵀ x, for one group x[group].
  void rotate(float* x) const;
  void unrotate(float* x) const;
  // Index of the codebook value nearest to t (ties to the lower index).
  int nearest(float t) const;
};

// The codec of tq<bits>g<group> (built on first use, then shared; thread-safe). TQ_CHECKs that the
// format exists.
const TqCodec& tq_codec(int bits, int group);

// How a group's scale is chosen from its rotated values.
enum class ScaleSearch {
  kNorm,         // s = ‖v‖/sqrt(G) (TurboQuant_mse)
  kLeastSquares, // research step 2: from f·s0, f in {0.9, 1, 1.1}, 4 alternations of nearest codes
                 // and the least-squares scale <v,c>/<c,c>; fp16-rounded; the best of the three
};

// Quantizes one rotated group v[G]: writes idx[G] and returns the fp16-representable scale
// (0 for an all-zero group). Squared error of the result: ‖v − s·c[idx]‖².
float quantize_group(const TqCodec& codec, const float* v, ScaleSearch search, uint8_t* idx);

// Squared error ‖v − s·c[idx]‖² of a group.
double group_error(const TqCodec& codec, const float* v, float s, const uint8_t* idx);

// Rounds to the nearest fp16 value (as stored), as float.
float round_fp16(float x);

}  // namespace tq

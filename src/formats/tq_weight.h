// TurboQuant weight formats tq<b>g<G>: the format definition shared
// by the reference conversions (format table), the quantization pipeline (src/quantize) and the
// fast matmul kernels (src/kernels). Contract: /work/wt/WEIGHT_FORMAT.md; layouts: docs/FORMATS.md.
//
// A weight row of n_cols input features is cut into groups of G consecutive features. Each group
// v ∈ R^G of the row is stored as one block:
//
//   struct { uint16_t scale_f16; uint8_t codes[G·b/8]; }      2 + G·b/8 bytes, b + 16/G bits/weight
//
//   codes: the G b-bit indices idx[0..G) as an LSB-first bit stream (math/bitpack.h): code j is
//          stream bits [j·b, (j+1)·b), stream bit k is bit k%8 of byte k/8.
//   dequantized group:  w = Rᵀ (s · c[idx])      s = f16 scale, c = tq_codebook(b, G)
//   rotation:           R = (1/√G) H_G diag(σ_G) (H_G the ±1 Walsh–Hadamard matrix); σ_G ∈ {±1}^G
//                       depends only on G and the format constant kTqWeightRotationSeed: the same
//                       σ for every group, row and tensor, so a kernel rotates each activation group
//                       once per token: <w, x> = Σ_groups s · <c[idx], R x_group>.
//
// Codebooks (exact; the reference and every kernel use these values):
//   b ≤ 6: the Lloyd–Max codebook of one coordinate of a uniformly random unit vector in R^G
//          (math/lloyd_max.h sphere_codebook(G, b)) times √G — units where the rotated coordinates
//          of a group with s = ‖v‖/√G have unit RMS — rounded to an int8 grid:
//          c[i] = c_int[i] · κ, κ = max|c_LM|/127 (a per-(b, G) float), c_int ∈ [−127, 127].
//          (Rounding to int8 costs < 0.1% MSE for b ≤ 4, ~2% at b = 5, ~4% at b = 6; research
//          WEIGHTS.md §5.)
//   b = 8: a uniform grid c[i] = (i − 128) · κ, κ = 1/32 (range [−4, 3.97] RMS units): at 8 bits
//          the Lloyd–Max shape buys nothing measurable, and the kernels then use the stored byte
//          directly as the unsigned VNNI operand (c_int + 128 = i).
//   Either way the kernels compute Σ c_int[idx]·x_q in int32 and multiply by κ once.
//
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "tq/types.h"

namespace tq {

// The rotation seed: a format constant (σ_G derives from it and G alone). Written to quantized
// files under kTqWeightSeedKey; a file with another value is refused at load.
inline constexpr uint64_t kTqWeightRotationSeed = 0x7157'0000'5eed'0001ull;
inline constexpr const char* kTqWeightSeedKey = "turboquant.weight.rotation_seed";

inline constexpr int kTqWeightBits[] = {2, 3, 4, 5, 6, 8};
inline constexpr int kTqWeightGroups[] = {32, 64, 128};
inline constexpr int kTqDefaultGroup = 128;  // measured best at equal bits (research WEIGHTS.md §4)

struct TqWeightSpec {
  TypeId id;
  const char* name;  // "tq4g128"
  int bits;          // b: the width of every group (of the low half for fractional formats)
  int bits_hi;       // == bits for uniform formats; bits + 1 for fractional ones
  int group;         // G: input features per group (32, 64 or 128)

  bool fractional() const { return bits_hi != bits; }
  // Bytes of one group block at width `b`: 2 + G·b/8.
  int64_t group_bytes(int b) const { return 2 + int64_t{group} * b / 8; }
  // Bits per weight, every scale counted: (bits + bits_hi)/2 + 16/G.
  double bits_per_weight() const { return 0.5 * (bits + bits_hi) + 16.0 / group; }
};

// Every tq weight format (ids kTurboQuantTypeBase + 16·gi + b with gi = 0, 1, 2 for G = 32, 64, 128).
std::span<const TqWeightSpec> tq_weight_specs();
// nullptr when `id` is not a tq weight format.
const TqWeightSpec* find_tq_weight(TypeId id);
// The uniform format tq<bits>g<group>; nullptr for other (bits, group).
const TqWeightSpec* find_tq_weight(int bits, int group);
// By name ("tq4g128"); nullptr when unknown.
const TqWeightSpec* find_tq_weight(std::string_view name);

// Bytes of one block of G codes at b bits: 2 + G·b/8. (bits, group) must be a valid pair (TQ_CHECK).
int64_t tq_group_bytes(int bits, int group);

// ---- codebooks --------------------------------------------------------------------------------
// The exact codebook values c[0..2^bits) (ascending) in the units described at the top:
// c[i] = c_int[i] · κ. Valid (bits, group) only (TQ_CHECK); computed once, thread-safe.
std::span<const float> tq_codebook(int bits, int group);
// The integer grid values c_int[0..2^bits) (ascending, in [−128, 127]).
std::span<const int8_t> tq_codebook_int(int bits, int group);
// κ: c[i] == c_int[i] · κ (float multiply).
float tq_codebook_unit(int bits, int group);
// Index of the codebook value nearest to t (ties to the lower index; NaN → the value nearest 0).
int tq_nearest_code(float t, int bits, int group);

// ---- rotation ---------------------------------------------------------------------------------
// x := R x (in place), x: [group]. Scalar, deterministic.
void tq_rotate_group(float* x, int group);
// x := Rᵀ x (in place), x: [group].
void tq_unrotate_group(float* x, int group);
// σ_G: [group] values ±1.
std::span<const float> tq_rotation_signs(int group);

// ---- blocks -----------------------------------------------------------------------------------
// Writes one block (tq_group_bytes(bits, group) bytes): the f16 of `scale` (round to nearest even)
// and the G codes idx[0..G) (each < 2^bits). block needs no alignment.
void tq_pack_group(const uint8_t* idx, float scale, int bits, int group, void* block);
// Reads one block: idx[0..G) and the scale as float (exactly the stored f16).
void tq_unpack_group(const void* block, int bits, int group, uint8_t* idx, float* scale);

// ---- reference quantizer (data-free; research WEIGHTS.md §9 step 2) ---------------------------
// Least-squares scale search for one ROTATED group v: s0 = ‖v‖/√G; for f in {0.9, 1, 1.1}:
// s = f·s0, 4 times {idx = nearest(v/s); s = <v, c[idx]>/<c[idx], c[idx]>}; s rounded to f16
// (clamped to the largest finite f16), idx recomputed for the rounded s; keeps the f with the
// smallest ‖v − s·c[idx]‖² (first on ties). A zero (or non-finite) group gives s = 0 and the codes
// nearest 0. Writes idx[0..G) and returns s (an f16 value). Deterministic.
float tq_quantize_rotated_group(const float* v, int bits, int group, uint8_t* idx);
// ‖v − s·c[idx]‖² for a rotated group v (double accumulation).
double tq_group_error(const float* v, const uint8_t* idx, float scale, int bits, int group);

// Whole rows (the format table's from_float / to_float for the uniform formats): n a multiple of G.
// dst: n/G blocks. Each group is rotated with R, then tq_quantize_rotated_group.
void tq_quantize_row(const float* src, int64_t n, int bits, int group, void* dst);
// dst[0..n) = the dequantized row: per group Rᵀ(s·c[idx]).
void tq_dequantize_row(const void* src, int64_t n, int bits, int group, float* dst);

}  // namespace tq

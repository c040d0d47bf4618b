// ggml's quantized block layouts, byte for byte as llama.cpp stores them in GGUF files
// (ggml-common.h). Scales are IEEE half (raw uint16_t bits; convert with core/half.h). Kernels use
// these structs too; the static_asserts pin their sizes to the format table's block_bytes.
#pragma once

#include <cstdint>

namespace tq::ggml {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK4_1 = 32;
inline constexpr int kQK5_0 = 32;
inline constexpr int kQK5_1 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK4_NL = 32;
inline constexpr int kQK_K = 256;       // super-block of the k-quants
inline constexpr int kKScaleSize = 12;  // packed 6-bit scales + mins of q4_K / q5_K

// x[j] = d * (q[j] - 8); elements 0..15 in the low nibbles, 16..31 in the high nibbles.
struct BlockQ4_0 {
  uint16_t d;              // f16 scale
  uint8_t qs[kQK4_0 / 2];  // [32] 4-bit codes
};
static_assert(sizeof(BlockQ4_0) == 18);

// x[j] = d * q[j] + m
struct BlockQ4_1 {
  uint16_t d;              // f16 scale
  uint16_t m;              // f16 minimum
  uint8_t qs[kQK4_1 / 2];  // [32] 4-bit codes
};
static_assert(sizeof(BlockQ4_1) == 20);

// x[j] = d * (q[j] - 16); the 5th bit of element j is bit j of qh (little-endian u32).
struct BlockQ5_0 {
  uint16_t d;              // f16 scale
  uint8_t qh[4];           // [32] high bits
  uint8_t qs[kQK5_0 / 2];  // [32] low nibbles
};
static_assert(sizeof(BlockQ5_0) == 22);

struct BlockQ5_1 {
  uint16_t d;              // f16 scale
  uint16_t m;              // f16 minimum
  uint8_t qh[4];           // [32] high bits
  uint8_t qs[kQK5_1 / 2];  // [32] low nibbles
};
static_assert(sizeof(BlockQ5_1) == 24);

// x[j] = d * q[j]
struct BlockQ8_0 {
  uint16_t d;         // f16 scale
  int8_t qs[kQK8_0];  // [32]
};
static_assert(sizeof(BlockQ8_0) == 34);

// x[j] = d * kIq4nlValues[q[j]]; same nibble order as q4_0.
struct BlockIq4Nl {
  uint16_t d;               // f16 scale
  uint8_t qs[kQK4_NL / 2];  // [32] 4-bit indices into the non-linear table
};
static_assert(sizeof(BlockIq4Nl) == 18);

// 16 sub-blocks of 16: x = d * (scale & 15) * q - dmin * (scale >> 4), q in 0..3.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // [16] 4-bit scale | 4-bit min
  uint8_t qs[kQK_K / 4];       // [256] 2-bit codes
  uint16_t d;                  // f16 super-block scale of the scales
  uint16_t dmin;               // f16 super-block scale of the mins
};
static_assert(sizeof(BlockQ2_K) == 84);

// 16 sub-blocks of 16: x = d * (scale - 32) * (q - (hbit ? 0 : 4)), q in 0..3, 6-bit scales.
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];  // [256] high bits
  uint8_t qs[kQK_K / 4];     // [256] low 2 bits
  uint8_t scales[12];        // [16] packed 6-bit scales
  uint16_t d;                // f16 super-block scale
};
static_assert(sizeof(BlockQ3_K) == 110);

// 8 sub-blocks of 32: x = d * sc * q - dmin * m, 6-bit sc and m packed in `scales`.
struct BlockQ4_K {
  uint16_t d;                   // f16 super-block scale of the scales
  uint16_t dmin;                // f16 super-block scale of the mins
  uint8_t scales[kKScaleSize];  // [8 scales + 8 mins] 6-bit packed
  uint8_t qs[kQK_K / 2];        // [256] 4-bit codes
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ5_K {
  uint16_t d;                   // f16 super-block scale of the scales
  uint16_t dmin;                // f16 super-block scale of the mins
  uint8_t scales[kKScaleSize];  // [8 scales + 8 mins] 6-bit packed
  uint8_t qh[kQK_K / 8];        // [256] high bits
  uint8_t qs[kQK_K / 2];        // [256] low nibbles
};
static_assert(sizeof(BlockQ5_K) == 176);

// 16 sub-blocks of 16: x = d * scale * (q - 32), q in 0..63.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // [256] low 4 bits
  uint8_t qh[kQK_K / 4];      // [256] high 2 bits
  int8_t scales[kQK_K / 16];  // [16] 8-bit signed scales
  uint16_t d;                 // f16 super-block scale
};
static_assert(sizeof(BlockQ6_K) == 210);

// Intermediate type of ggml's dot products (activations); float scale, not half.
struct BlockQ8_K {
  float d;                    // scale
  int8_t qs[kQK_K];           // [256]
  int16_t bsums[kQK_K / 16];  // [16] sums of each group of 16 codes
};
static_assert(sizeof(BlockQ8_K) == 292);

// 8 sub-blocks of 32 with 6-bit scales; codes index the iq4_nl table.
struct BlockIq4Xs {
  uint16_t d;                    // f16 super-block scale
  uint16_t scales_h;             // [8] high 2 bits of the 6-bit scales
  uint8_t scales_l[kQK_K / 64];  // [8] low 4 bits of the 6-bit scales
  uint8_t qs[kQK_K / 2];         // [256] 4-bit indices
};
static_assert(sizeof(BlockIq4Xs) == 136);

// The non-linear 4-bit code book of iq4_nl / iq4_xs (ggml's kvalues_iq4nl).
inline constexpr int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// Unpacks the j-th (0..7) 6-bit scale and min of a q4_K / q5_K block (ggml's get_scale_min_k4).
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

}  // namespace tq::ggml

// The integer form of llama.cpp's block formats: what the integer matmul kernels
// (kernels/matmul_ggml.h) compute with, defined once here for the reference and every SIMD path.
//
// Every weight is w = scale · (u − o) + offset with u a small unsigned code:
//
//  legacy formats (q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl): blocks of 32; per block one float scale d
//    and one float offset m:  w = d·(u − o) + m   (iq4_nl: w = d·v[u], v the non-linear table)
//      q4_0  u ∈ [0,16)  o = 8     m = 0          q5_0  u ∈ [0,32)  o = 16   m = 0
//      q4_1  u ∈ [0,16)  o = 0     m = f16 m      q5_1  u ∈ [0,32)  o = 0    m = f16 m
//      q8_0  c = the int8 itself (u = c + 128, o = 128)   iq4_nl  c = v[nibble] ∈ [−127, 113]
//  k-quants (q2_K … q6_K, iq4_xs): super-blocks of 256, sub-blocks of 16 elements with small
//    integer scales sc[16] and mins mn[16] (sub-blocks of 32 repeat theirs), and per super-block
//    the floats D (scale of the scales) and Dmin:  w = D·sc_j·(u − o) − Dmin·mn_j
//      q2_K  u ∈ [0,4)   o = 0   sc = 4-bit, mn = 4-bit      q5_K  u ∈ [0,32) o = 0  6-bit sc, mn
//      q3_K  u ∈ [0,8)   o = 4   sc = 6-bit − 32, no mins     q6_K  u ∈ [0,64) o = 32 sc = int8
//      q4_K  u ∈ [0,16)  o = 0   sc, mn = 6-bit               iq4_xs c = v[nibble], sc = 6-bit − 32
// (c = u − o, the signed code; dequantizing with this form gives the format table's to_float
// exactly up to float rounding.)
#pragma once

#include <cstdint>
#include <span>

#include "tq/types.h"

namespace tq {

// True for the ggml block formats above.
bool is_ggml_int_type(TypeId type);
// True for the k-quants (super-blocks of 256), false for the legacy 32-element formats.
bool is_ggml_kquant(TypeId type);
// Elements per block: 32 or 256.
int ggml_int_block_elems(TypeId type);
// The per-element offset o of the format (0, 4, 8, 16, 32 or 128; iq4 formats: 0).
int ggml_int_offset(TypeId type);

// A legacy block (32 elements): signed codes c[32] (= u − o, or the table value), scale d and
// offset m as floats.
void ggml_int_legacy_block(TypeId type, const uint8_t* block, int16_t* c, float* d, float* m);

// A k-quant super-block (256 elements): signed codes c[256], per 16-element sub-block the integer
// scale sc[16] and min mn[16] (0 without mins), and the floats D, Dmin (0 without mins).
void ggml_int_kquant_block(TypeId type, const uint8_t* block, int16_t* c, int16_t* sc, int16_t* mn,
                           float* D, float* Dmin);

// Byte offsets of the f16 fields (scales, mins) in a block of `type` (every other byte pattern of
// a block is a valid block): for tools that make random blocks. Empty for other types.
std::span<const int> ggml_f16_field_offsets(TypeId type);

// The 6-bit scales and mins of a q4_K / q5_K super-block (12 packed bytes) as bytes sc[8], mn[8].
void ggml_unpack_k4_scales(const uint8_t* packed, uint8_t* sc, uint8_t* mn);
// The 16 6-bit scales of a q3_K super-block (12 packed bytes), minus 32.
void ggml_unpack_q3k_scales(const uint8_t* packed, int8_t* sc);

}  // namespace tq

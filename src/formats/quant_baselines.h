// Baseline weight formats users compare TurboQuant against (issue 4), in the TurboQuant id range:
//
//   q8    per-output-channel symmetric int8: each row = f32 scale d (row header), then n_cols int8
//         values q;  w = d·q,  d = max|w|/127.  8 + 32/n_cols bits per weight.
//         block_elems = 32 (rows must be a multiple of 32 long; the kernels quantize activations in
//         groups of 32).
//   rtn4  asymmetric int4 in groups of 128: block = {f16 d, f16 m, 64 bytes of 4-bit codes q (LSB-
//         first bit stream: code 2j is the low nibble of byte j)};  w = d·q + m, q ∈ [0, 15].
//         4.25 bits per weight. from_float is round-to-nearest with m = min, d = (max − min)/15
//         (both rounded to f16 first); `gptq4` (GPTQ-chosen codes and scales) uses the same blocks.
#pragma once

#include <cstdint>

#include "tq/types.h"

namespace tq {

inline constexpr TypeId kTypeQ8 = static_cast<TypeId>(kTurboQuantTypeBase + 0x80);
inline constexpr TypeId kTypeRtn4 = static_cast<TypeId>(kTurboQuantTypeBase + 0x81);

inline constexpr int64_t kQ8BlockElems = 32;
inline constexpr int64_t kRtn4Group = 128;

struct Rtn4Block {
  uint16_t d_f16;    // scale d
  uint16_t m_f16;    // offset m (the group minimum for RTN)
  uint8_t codes[64];  // 128 codes, 4 bits each, LSB-first
};
static_assert(sizeof(Rtn4Block) == 68);

// rtn4: one block from codes q[0..128) (each < 16), scale and offset (rounded to f16).
void rtn4_pack_group(const uint8_t* q, float scale, float min, void* block);
// rtn4: codes q[0..128), scale and offset (exactly the stored f16 values) of one block.
void rtn4_unpack_group(const void* block, uint8_t* q, float* scale, float* min);

}  // namespace tq

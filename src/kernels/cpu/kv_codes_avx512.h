// The AVX-512 VNNI + VBMI path of kernels/kv_codes.h (Zen 4, Ice Lake and later): raw intrinsics in
// functions compiled for those extensions, called only from Highway's AVX3_DL target code when
// kv_avx512_vnni_supported(). Contracts: as kv_scores_codes / kv_mix_codes.
#pragma once

#include <cstdint>

#include "kernels/kv_codes.h"

namespace tq {

// Both return false (and do nothing) for 8-bit levels other than code − 128, which they cannot
// look up in registers; the caller then takes the float path.
// True when the CPU has AVX-512 F/BW/VL, VNNI and VBMI (checked once).
bool kv_avx512_vnni_supported();

bool kv_scores_codes_avx512(const int8_t* q8, const float* q_mul, int64_t n_q, const uint8_t* codes,
                            const uint16_t* scales, int64_t n_pos, int64_t n_pad,
                            const KvLevels& lv, float* s, int64_t lds, bool accumulate);
bool kv_mix_codes_avx512(const float* p, int64_t ldp, int64_t n_q, const uint8_t* codes,
                         const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                         float out_mul, float* out);

}  // namespace tq

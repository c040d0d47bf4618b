// The AVX2 path of kernels/kv_codes.h (kv_codes_avx2.cc): raw intrinsics in functions compiled for
// AVX2 (and a copy for AVX2 + AVX-VNNI), called from Highway's AVX2 and AVX3 target code.
// Contracts: as kv_scores_codes / kv_mix_codes. Internal to src/kernels.
#pragma once

#include <cstdint>

#include "kernels/kv_codes.h"

namespace tq::x86 {

// Both return false (and do nothing) for 7-bit codes and for 8-bit levels other than code − 128;
// the caller then takes the float path. `vnni`: use AVX-VNNI (the caller checked the CPU).
bool kv_scores_codes_avx2(const int8_t* q8, const float* q_mul, int64_t n_q, const uint8_t* codes,
                          const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                          float* s, int64_t lds, bool accumulate, bool vnni);
bool kv_mix_codes_avx2(const float* p, int64_t ldp, int64_t n_q, const uint8_t* codes,
                       const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                       float out_mul, float* out, bool vnni);

}  // namespace tq::x86

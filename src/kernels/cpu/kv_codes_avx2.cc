// AVX2 kernels of attention on KV codes (kernels/kv_codes.h), compiled twice from
// kv_codes_avx2-inl.h: plain AVX2 and AVX2 + AVX-VNNI. Every function carries its own target
// attribute (see matmul_quant_avx2.cc for why).
#include "kernels/cpu/kv_codes_avx2.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#define TQ_AVX2_NS avx2
#define TQ_AVX2_VNNI 0
#define TQ_AVX2_ATTR __attribute__((target("avx,avx2,fma,f16c,bmi,bmi2")))
#include "kernels/cpu/kv_codes_avx2-inl.h"
#undef TQ_AVX2_NS
#undef TQ_AVX2_VNNI
#undef TQ_AVX2_ATTR

#define TQ_AVX2_NS avxvnni
#define TQ_AVX2_VNNI 1
#define TQ_AVX2_ATTR __attribute__((target("avx,avx2,fma,f16c,bmi,bmi2,avxvnni")))
#include "kernels/cpu/kv_codes_avx2-inl.h"
#undef TQ_AVX2_NS
#undef TQ_AVX2_VNNI
#undef TQ_AVX2_ATTR

namespace tq::x86 {

bool kv_scores_codes_avx2(const int8_t* q8, const float* q_mul, int64_t n_q, const uint8_t* codes,
                          const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                          float* s, int64_t lds, bool accumulate, bool vnni) {
  return vnni ? avxvnni::Scores(q8, q_mul, n_q, codes, scales, n_pos, n_pad, lv, s, lds, accumulate)
              : avx2::Scores(q8, q_mul, n_q, codes, scales, n_pos, n_pad, lv, s, lds, accumulate);
}

bool kv_mix_codes_avx2(const float* p, int64_t ldp, int64_t n_q, const uint8_t* codes,
                       const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                       float out_mul, float* out, bool vnni) {
  return vnni ? avxvnni::Mix(p, ldp, n_q, codes, scales, n_pos, n_pad, lv, out_mul, out)
              : avx2::Mix(p, ldp, n_q, codes, scales, n_pos, n_pad, lv, out_mul, out);
}

}  // namespace tq::x86

#endif  // x86-64

// AVX2 kernels of the integer matmul (kernels/matmul_quant.h), compiled twice from
// matmul_quant_avx2-inl.h: plain AVX2 (Haswell … Zen 3 and every later x86) and AVX2 + AVX-VNNI
// (vpdpbusd on ymm: Alder Lake and later, Sapphire Rapids, Zen 5). The Highway AVX2 and AVX3 targets
// of kernels/cpu/matmul_quant.cc call them (AVX3: AVX-512 CPUs without VBMI, e.g. Cascade Lake).
// Every function carries its own target attribute, so nothing here needs AVX2 to be the compile
// baseline and no inline function of a shared header is compiled for AVX2 by accident.
#include "kernels/cpu/matmul_quant_x86.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "formats/quant_baselines.h"

#ifndef TQ_PREFETCH_BYTES
#define TQ_PREFETCH_BYTES 24576
#endif

#define TQ_AVX2_NS avx2
#define TQ_AVX2_VNNI 0
#define TQ_AVX2_ATTR __attribute__((target("avx,avx2,fma,f16c,bmi,bmi2")))
#include "kernels/cpu/matmul_quant_avx2-inl.h"
#undef TQ_AVX2_NS
#undef TQ_AVX2_VNNI
#undef TQ_AVX2_ATTR

#define TQ_AVX2_NS avxvnni
#define TQ_AVX2_VNNI 1
#define TQ_AVX2_ATTR __attribute__((target("avx,avx2,fma,f16c,bmi,bmi2,avxvnni")))
#include "kernels/cpu/matmul_quant_avx2-inl.h"
#undef TQ_AVX2_NS
#undef TQ_AVX2_VNNI
#undef TQ_AVX2_ATTR

namespace tq::x86 {

void matmul_avx2(const QuantLayout& L, const WeightView& w, const float* x, int64_t n_tokens,
                 float* y, bool unit_scales, int64_t min_rows, QuantizeActsFn quantize, bool vnni) {
  if (vnni)
    avxvnni::Matmul(L, w, x, n_tokens, y, unit_scales, min_rows, quantize);
  else
    avx2::Matmul(L, w, x, n_tokens, y, unit_scales, min_rows, quantize);
}

void matmul_multi_avx2(const QuantLayout* Ls, const WeightView* const* ws, int64_t n,
                       const float* x, int64_t n_tokens, float* const* ys, int64_t min_tiles,
                       QuantizeActsFn quantize, bool vnni) {
  if (vnni)
    avxvnni::MatmulMulti(Ls, ws, n, x, n_tokens, ys, min_tiles, quantize);
  else
    avx2::MatmulMulti(Ls, ws, n, x, n_tokens, ys, min_tiles, quantize);
}

}  // namespace tq::x86

#endif  // x86-64

// AVX2 kernels of the integer matmul over llama.cpp's block formats (kernels/matmul_ggml.h),
// compiled twice from matmul_ggml_avx2-inl.h: plain AVX2 and AVX2 + AVX-VNNI. Every function
// carries its own target attribute (see matmul_quant_avx2.cc for why).
#include "kernels/cpu/matmul_ggml_x86.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "formats/format.h"
#include "formats/ggml_blocks.h"
#include "formats/ggml_int.h"

#define TQ_AVX2_NS avx2
#define TQ_AVX2_VNNI 0
#define TQ_AVX2_ATTR __attribute__((target("avx,avx2,fma,f16c,bmi,bmi2")))
#include "kernels/cpu/matmul_ggml_avx2-inl.h"
#undef TQ_AVX2_NS
#undef TQ_AVX2_VNNI
#undef TQ_AVX2_ATTR

#define TQ_AVX2_NS avxvnni
#define TQ_AVX2_VNNI 1
#define TQ_AVX2_ATTR __attribute__((target("avx,avx2,fma,f16c,bmi,bmi2,avxvnni")))
#include "kernels/cpu/matmul_ggml_avx2-inl.h"
#undef TQ_AVX2_NS
#undef TQ_AVX2_VNNI
#undef TQ_AVX2_ATTR

namespace tq::x86 {

void matmul_ggml_avx2(const WeightView& w, const GgmlActs& acts, int64_t n_tokens, float* y,
                      int64_t min_rows, bool vnni) {
  if (vnni)
    avxvnni::Matmul(w, acts, n_tokens, y, min_rows);
  else
    avx2::Matmul(w, acts, n_tokens, y, min_rows);
}

}  // namespace tq::x86

#endif  // x86-64

// The AVX2 kernels of kernels/matmul_ggml.h (matmul_ggml_avx2.cc: plain AVX2 and AVX2 + AVX-VNNI
// copies), called by matmul_ggml when the dispatch target is AVX2 or better. Internal to
// src/kernels.
#pragma once

#include <cstdint>

#include "kernels/matmul_ggml.h"

namespace tq::x86 {

// y = x · Wᵀ from activations prepared by ggml_quantize_acts; threads over 4-row tiles with at
// least `min_rows` rows per thread. `vnni`: AVX-VNNI (the caller checked the CPU has it).
void matmul_ggml_avx2(const WeightView& w, const GgmlActs& acts, int64_t n_tokens, float* y,
                      int64_t min_rows, bool vnni);

}  // namespace tq::x86

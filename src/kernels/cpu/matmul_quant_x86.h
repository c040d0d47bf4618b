// Interface between the per-target dispatch of the integer matmul (kernels/cpu/matmul_quant.cc,
// Highway) and the x86 kernels written with intrinsics in their own files (function target
// attributes, no Highway): the AVX2 kernels (matmul_quant_avx2.cc; also run by the AVX3 target,
// i.e. AVX-512 CPUs without VBMI such as Skylake-X / Cascade Lake). Arithmetic:
// kernels/matmul_quant.h. Internal to src/kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/matmul_quant.h"

namespace tq {

// Step 1 of the arithmetic for a whole call: every activation group quantized, natural order.
// Depends only on (group, rotate, unit_scales) of the layout, so one GroupActs serves every weight
// of a matmul_multi call with that grouping.
struct GroupActs {
  std::vector<int8_t> q;      // [n_tokens, n_groups, G] natural order
  std::vector<float> a;       // [n_tokens, n_groups]
  std::vector<int32_t> qsum;  // [n_tokens, n_groups]
};

// Fills `acts` for x [n_tokens, n_cols] under layout L (the caller's per-target step 1).
using QuantizeActsFn = void (*)(const QuantLayout& L, const float* x, int64_t n_cols,
                                int64_t n_tokens, bool unit_scales, GroupActs& acts);

namespace x86 {

// y = x · Wᵀ with the AVX2 kernels; `vnni`: with AVX-VNNI (the caller checked the CPU has it).
// Threads over rows with at least `min_rows` rows per thread (parallel_for).
void matmul_avx2(const QuantLayout& L, const WeightView& w, const float* x, int64_t n_tokens,
                 float* y, bool unit_scales, int64_t min_rows, QuantizeActsFn quantize, bool vnni);

// Several weights over the same x (kernels/matmul_quant.h matmul_quant_multi): activations
// quantized once per grouping and arranged once per layout, one parallel region over the 4-row
// tiles of all the weights, at least `min_tiles` tiles per thread.
void matmul_multi_avx2(const QuantLayout* Ls, const WeightView* const* ws, int64_t n,
                       const float* x, int64_t n_tokens, float* const* ys, int64_t min_tiles,
                       QuantizeActsFn quantize, bool vnni);

}  // namespace x86
}  // namespace tq

// Integer matmul kernels for llama.cpp's block formats (q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl,
// q2_K … q6_K, iq4_xs), the form users' GGUF files come in. Internal to the kernels layer and its
// tests/benchmarks; everything else calls matmul() (kernels/matmul.h).
//
// Arithmetic (the reference and every fast path; weights in the integer form of formats/ggml_int.h):
//  1. Activations, once per call and token, rounded to int8 per block of A inputs (A = 32 for the
//     legacy formats, 256 for the k-quants, as llama.cpp's q8_0 / q8_K): amax = max|x|,
//     q = nearbyint(x·127/amax), a = amax/127; plus the sum of every 16 codes (int16). A non-finite
//     block gets q = 0 and a = NaN.
//  2. Exact integer sums: legacy block g: isum = Σ c·q (c = u − o); k-quant super-block s:
//     isum = Σ_j sc_j·Σ_{16} c·q over its 16 sub-blocks j, msum = Σ_j mn_j·Σ_{16} q.
//  3. Float combination per row and token: legacy y = Σ_g (d_g·a_g)·isum_g + m_g·(a_g·S_g) (S = Σq
//     over the block; the fast kernels sum these terms in SIMD-lane order: equal to float rounding);
//     k-quants, super-blocks in order: y += (D·a)·isum − (Dmin·a)·msum (every path bit-identical).
// Prefill runs the decode arithmetic per token (row tiles stay in L1 while the tokens pass), so a
// token's outputs do not depend on the batch it came in.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/matmul.h"

namespace tq {

// True for the types these kernels handle (formats/ggml_int.h is_ggml_int_type).
bool is_ggml_matmul_type(TypeId type);

// The fast kernel (matmul table entry): y = x · Wᵀ, threads over rows.
void matmul_ggml(const WeightView& w, const float* x, int64_t n_tokens, float* y);

// Which kernels matmul_ggml runs on this CPU now: "avx2-vnni", "avx2" or "portable".
const char* matmul_ggml_path();

// Step 1 of the arithmetic (shared by every path, so they round identically).
struct GgmlActs {
  int block = 32;              // A: inputs per activation scale (32 or 256)
  std::vector<int8_t> q;       // [n_tokens, n_cols]
  std::vector<float> a;        // [n_tokens, n_cols / A]
  std::vector<int16_t> sums;   // [n_tokens, n_cols / 16] Σ of every 16 codes
};
void ggml_quantize_acts(int block, const float* x, int64_t n_cols, int64_t n_tokens,
                        GgmlActs& acts);

namespace ref {
// Scalar reference of the same arithmetic, rows [r0, r1) (all rows: r0 = 0, r1 = w.n_rows), from
// prepared activations; y: [n_tokens, w.n_rows].
void matmul_ggml_rows(const WeightView& w, const GgmlActs& acts, int64_t n_tokens, float* y,
                      int64_t r0, int64_t r1);
// Whole product, single-threaded.
void matmul_ggml(const WeightView& w, const float* x, int64_t n_tokens, float* y);
}  // namespace ref

}  // namespace tq

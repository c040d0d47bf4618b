// Dense linear algebra for the quantizers (OpenBLAS / its LAPACK): row-major GEMM, the GPTQ
// inverse-Hessian factor, small symmetric positive-definite solves. Called from one thread at a
// time; BLAS itself uses num_threads() threads.
#pragma once

#include <cstdint>
#include <vector>

#include "tq/status.h"

namespace tq {

// C[m, n] = alpha · op(A) · op(B) + beta · C, row-major; op(A) is [m, k], op(B) is [k, n].
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc);

// Sets BLAS threads to the runtime's thread count (core/parallel.h); call after set_num_threads.
void sync_blas_threads();

// GPTQ's factor: given a symmetric positive semi-definite H [n, n] (double, row-major), replaces
// zero-diagonal ("dead") entries by 1, adds damp · mean(diag H) to the diagonal, and returns U
// [n, n] (row-major, float) upper triangular with H⁻¹ = Uᵀ·U. `dead` (optional, [n]) receives
// which columns were dead. Error when H is not positive definite even after damping.
Result<std::vector<float>> gptq_inverse_factor(std::vector<double> H, int64_t n, double damp,
                                               std::vector<uint8_t>* dead = nullptr);

// Solves A x = b in place for a symmetric positive-definite A [n, n] (double, row-major; its
// lower triangle is overwritten). Returns false when A is not positive definite.
bool solve_spd(double* a, double* b, int64_t n);

}  // namespace tq

#include "quantize/linalg.h"

#include <cblas.h>

#include <cmath>

#include "core/parallel.h"

extern "C" {
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dpotri_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void openblas_set_num_threads(int n);
}

namespace tq {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc) {
  if (m == 0 || n == 0) return;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
              static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
              beta, c, static_cast<int>(ldc));
}

void sync_blas_threads() { openblas_set_num_threads(num_threads()); }

Result<std::vector<float>> gptq_inverse_factor(std::vector<double> H, int64_t n, double damp,
                                               std::vector<uint8_t>* dead) {
  if (dead) dead->assign(static_cast<size_t>(n), 0);
  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i) {
    double& d = H[i * n + i];
    if (d == 0) {
      d = 1;
      if (dead) (*dead)[i] = 1;
    }
    mean_diag += d;
  }
  mean_diag /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) H[i * n + i] += damp * mean_diag;
  // Row-major H seen by column-major LAPACK is Hᵀ = H. 'L' in LAPACK's view = upper in ours.
  const int nn = static_cast<int>(n);
  int info = 0;
  dpotrf_("L", &nn, H.data(), &nn, &info);
  if (info != 0)
    return invalid_argument("Hessian [{} x {}] is not positive definite (LAPACK info {})", n, n,
                            info);
  dpotri_("L", &nn, H.data(), &nn, &info);
  if (info != 0) return invalid_argument("Hessian inverse failed (LAPACK info {})", info);
  // H now holds H⁻¹ in LAPACK's lower triangle (= our upper). Mirror to full, then Cholesky again
  // as 'U' in LAPACK's view: H⁻¹ = Lᵀ... we want row-major upper U with H⁻¹ = UᵀU, which is
  // LAPACK's column-major lower L (H⁻¹ = L Lᵀ) read row-major.
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) H[j * n + i] = H[i * n + j];
  dpotrf_("L", &nn, H.data(), &nn, &info);
  if (info != 0)
    return invalid_argument("inverse Hessian is not positive definite (LAPACK info {})", info);
  // Column-major L (lower) read row-major is Lᵀ, upper: U = Lᵀ, H⁻¹ = L Lᵀ = Uᵀ U.
  std::vector<float> u(static_cast<size_t>(n * n), 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i; j < n; ++j) u[i * n + j] = static_cast<float>(H[i * n + j]);
  return u;
}

bool solve_spd(double* a, double* b, int64_t n) {
  // Cholesky A = L Lᵀ (lower, in place), then two triangular solves.
  for (int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) return false;
    d = std::sqrt(d);
    a[j * n + j] = d;
    for (int64_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (int64_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / d;
    }
  }
  for (int64_t i = 0; i < n; ++i) {
    double s = b[i];
    for (int64_t k = 0; k < i; ++k) s -= a[i * n + k] * b[k];
    b[i] = s / a[i * n + i];
  }
  for (int64_t i = n - 1; i >= 0; --i) {
    double s = b[i];
    for (int64_t k = i + 1; k < n; ++k) s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
  return true;
}

}  // namespace tq

#include "math/sym_eigen.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/rng.h"
#include "../common/test_seed.h"

namespace tq {
namespace {

TEST(SymEigen, ReconstructsRandomSymmetricMatrices) {
  Rng rng(testing::test_seed("sym_eigen"));
  for (int64_t n : {1, 2, 7, 33, 128}) {
    SCOPED_TRACE(n);
    std::vector<double> g(static_cast<size_t>(n * n)), a(static_cast<size_t>(n * n), 0.0);
    for (auto& x : g) x = rng.normal();
    for (int64_t i = 0; i < n; ++i)  // a = g·gᵀ + a rank-1 spike: PSD with spread eigenvalues
      for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < n; ++k) a[i * n + j] += g[i * n + k] * g[j * n + k];
    const SymEigen e = symmetric_eigen(n, a);
    for (int64_t j = 1; j < n; ++j) EXPECT_GE(e.values[j - 1], e.values[j]);
    double err = 0, norm = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double r = 0, o = 0;
        for (int64_t k = 0; k < n; ++k) {
          r += e.vectors[i * n + k] * e.values[k] * e.vectors[j * n + k];
          o += e.vectors[k * n + i] * e.vectors[k * n + j];
        }
        err += (r - a[i * n + j]) * (r - a[i * n + j]);
        norm += a[i * n + j] * a[i * n + j];
        EXPECT_NEAR(o, i == j ? 1.0 : 0.0, 1e-12);  // orthonormal
      }
    EXPECT_LT(std::sqrt(err / norm), 1e-12);
    const auto h = symmetric_power(n, a, 0.5, 0.0), hi = symmetric_power(n, a, -0.5, 1e-300);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double hh = 0, id = 0;
        for (int64_t k = 0; k < n; ++k) {
          hh += h[i * n + k] * h[k * n + j];
          id += h[i * n + k] * hi[k * n + j];
        }
        EXPECT_NEAR(hh, a[i * n + j], 1e-9 * std::sqrt(norm));
        EXPECT_NEAR(id, i == j ? 1.0 : 0.0, 1e-8);
      }
  }
}

TEST(SymEigen, KnownSpectrum) {
  // [[2, 1], [1, 2]]: eigenvalues 3 and 1, eigenvectors (1, 1)/√2 and (1, −1)/√2.
  const SymEigen e = symmetric_eigen(2, {2, 1, 1, 2});
  EXPECT_NEAR(e.values[0], 3, 1e-15);
  EXPECT_NEAR(e.values[1], 1, 1e-15);
  EXPECT_NEAR(std::fabs(e.vectors[0]), std::sqrt(0.5), 1e-15);
  EXPECT_NEAR(e.vectors[0] * e.vectors[2], 0.5, 1e-15);
}

}  // namespace
}  // namespace tq

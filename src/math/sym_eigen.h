// Eigen-decomposition of a real symmetric matrix (cyclic Jacobi rotations, double precision):
// the KV transform coder (runtime/kv_transform.h) diagonalizes d×d second-moment matrices (d <= a
// few hundred) once per layer and head, where Jacobi's accuracy matters more than its O(d³) per
// sweep.
#pragma once

#include <cstdint>
#include <vector>

namespace tq {

struct SymEigen {
  std::vector<double> values;   // [n] descending
  std::vector<double> vectors;  // [n, n] row-major; column j is the unit eigenvector of values[j]
  int sweeps = 0;               // Jacobi sweeps taken
};

// a: [n, n] row-major, symmetric (only the average of a and aᵀ is used). Converges to an
// off-diagonal norm below 1e-14 of the Frobenius norm (at most 100 sweeps).
SymEigen symmetric_eigen(int64_t n, const std::vector<double>& a);

// The symmetric square root S^(p) = V·diag(λ^p)·Vᵀ of a positive semi-definite matrix, eigenvalues
// clamped below at `floor` first (p = 0.5 or −0.5). a: [n, n].
std::vector<double> symmetric_power(int64_t n, const std::vector<double>& a, double p, double floor);
// The same from a decomposition already computed (e = symmetric_eigen(n, a)).
std::vector<double> symmetric_power(const SymEigen& e, double p, double floor);

}  // namespace tq

#include "math/sym_eigen.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/check.h"

namespace tq {

SymEigen symmetric_eigen(int64_t n, const std::vector<double>& a_in) {
  TQ_CHECK(n >= 1 && static_cast<int64_t>(a_in.size()) == n * n, "symmetric_eigen: size");
  std::vector<double> a(a_in.size()), v(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) a[i * n + j] = 0.5 * (a_in[i * n + j] + a_in[j * n + i]);
  for (int64_t i = 0; i < n; ++i) v[i * n + i] = 1.0;
  double fro = 0;
  for (double x : a) fro += x * x;
  SymEigen r;
  for (r.sweeps = 0; r.sweeps < 100; ++r.sweeps) {
    double off = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) off += 2 * a[i * n + j] * a[i * n + j];
    if (off <= 1e-28 * fro || off == 0) break;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = a[p * n + q];
        if (apq == 0) continue;
        const double app = a[p * n + p], aqq = a[q * n + q];
        // Rotation that zeroes a[p][q] (Golub & Van Loan, sym.schur2).
        const double tau = (aqq - app) / (2 * apq);
        const double t = (tau >= 0 ? 1.0 : -1.0) / (std::fabs(tau) + std::sqrt(1 + tau * tau));
        const double c = 1 / std::sqrt(1 + t * t), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // columns p, q of a
          const double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int64_t k = 0; k < n; ++k) {  // rows p, q
          const double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (int64_t k = 0; k < n; ++k) {
          const double vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t x, int64_t y) { return a[x * n + x] > a[y * n + y]; });
  r.values.resize(static_cast<size_t>(n));
  r.vectors.resize(static_cast<size_t>(n * n));
  for (int64_t j = 0; j < n; ++j) {
    r.values[j] = a[order[j] * n + order[j]];
    for (int64_t k = 0; k < n; ++k) r.vectors[k * n + j] = v[k * n + order[j]];
  }
  return r;
}

std::vector<double> symmetric_power(int64_t n, const std::vector<double>& a, double p,
                                    double floor) {
  return symmetric_power(symmetric_eigen(n, a), p, floor);
}

std::vector<double> symmetric_power(const SymEigen& e, double p, double floor) {
  const int64_t n = static_cast<int64_t>(e.values.size());
  std::vector<double> out(static_cast<size_t>(n * n), 0.0);
  for (int64_t k = 0; k < n; ++k) {
    const double w = std::pow(std::max(e.values[k], floor), p);
    for (int64_t i = 0; i < n; ++i) {
      const double vi = e.vectors[i * n + k] * w;
      for (int64_t j = 0; j < n; ++j) out[i * n + j] += vi * e.vectors[j * n + k];
    }
  }
  return out;
}

}  // namespace tq

#include "math/stats.h"

#include <algorithm>

namespace tq {

double dot_f64(const float* a, const float* b, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

double squared_norm_f64(const float* a, int64_t n) { return dot_f64(a, a, n); }

double squared_error(const float* a, const float* b, int64_t n) {
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double e = static_cast<double>(a[i]) - b[i];
    s += e * e;
  }
  return s;
}

double mse(const float* a, const float* b, int64_t n) {
  return n > 0 ? squared_error(a, b, n) / static_cast<double>(n) : 0.0;
}

double max_abs_error(const float* a, const float* b, int64_t n) {
  double m = 0.0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]));
  return m;
}

double relative_squared_error(const float* a, const float* b, int64_t n) {
  const double ref = squared_norm_f64(b, n);
  const double err = squared_error(a, b, n);
  return ref > 0.0 ? err / ref : (err > 0.0 ? INFINITY : 0.0);
}

}  // namespace tq

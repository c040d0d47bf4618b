// Error statistics for tests, evaluation and reports. Accumulate in double.
#pragma once

#include <cmath>
#include <cstdint>

namespace tq {

// Running mean / variance (Welford), numerically stable for millions of samples.
class RunningStats {
 public:
  void add(double x) {
    ++n_;
    const double delta = x - mean_;
    mean_ += delta / static_cast<double>(n_);
    m2_ += delta * (x - mean_);
    if (x < min_ || n_ == 1) min_ = x;
    if (x > max_ || n_ == 1) max_ = x;
  }
  int64_t count() const { return n_; }
  double mean() const { return mean_; }
  // Unbiased sample variance (n − 1 in the denominator); 0 for fewer than 2 samples.
  double variance() const { return n_ > 1 ? m2_ / static_cast<double>(n_ - 1) : 0.0; }
  double stddev() const { return std::sqrt(variance()); }
  // Standard error of the mean: stddev / sqrt(n).
  double std_error() const { return n_ > 0 ? stddev() / std::sqrt(static_cast<double>(n_)) : 0.0; }
  double min() const { return min_; }
  double max() const { return max_; }

 private:
  int64_t n_ = 0;
  double mean_ = 0.0, m2_ = 0.0, min_ = 0.0, max_ = 0.0;
};

// Σ a_i·b_i in double. a, b: [n].
double dot_f64(const float* a, const float* b, int64_t n);
// Σ a_i² in double. a: [n].
double squared_norm_f64(const float* a, int64_t n);
// Σ (a_i − b_i)² in double (the squared L2 error of one vector). a, b: [n].
double squared_error(const float* a, const float* b, int64_t n);
// Mean over elements of (a_i − b_i)². a, b: [n]; 0 for n = 0.
double mse(const float* a, const float* b, int64_t n);
// max_i |a_i − b_i|. a, b: [n].
double max_abs_error(const float* a, const float* b, int64_t n);
// Σ (a_i − b_i)² / Σ b_i² (0/0 = 0): the error relative to the reference b's energy. a, b: [n].
double relative_squared_error(const float* a, const float* b, int64_t n);

}  // namespace tq

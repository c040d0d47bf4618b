// Learned multipliers of a TurboQuant tensor's group scales: the trainable parameter of the
// block-output (quantize/block_tune.h) and end-to-end (quantize/model_tune.h) tuning steps.
// With every code fixed, Ŵ(m) = Rᵀ(m[r,g] · s[r,g] · c[idx]) per (row, group); a fractional
// tensor's groups each use their own width's codebook (TqTensor::group_bits). The codebook values
// are read from the codes on the fly, so a parameter costs one f32 per weight (the current Ŵ)
// plus three per group (multiplier and Adam moments).
#pragma once

#include <cstdint>
#include <vector>

#include "quantize/tensor_quant.h"

namespace tq {

// Adam (β 0.9 / 0.999, ε 1e-8) on a flat parameter vector.
class Adam {
 public:
  explicit Adam(int64_t n) : m1_(static_cast<size_t>(n), 0.0f), m2_(static_cast<size_t>(n), 0.0f) {}
  // x[i] -= lr · m̂/(√v̂ + ε) for i in [0, n) from the gradient g[n]; `step` counts from 1.
  void step(float* x, const float* g, int64_t n, double lr, int64_t step);

 private:
  std::vector<float> m1_, m2_;  // [n] first / second moments
};

class ScaleParam {
 public:
  // Starts at m = 1 for tensor t (kept by pointer; its codes and scales must not change until
  // commit()). Builds the fp16-rounded weights.
  explicit ScaleParam(TqTensor* t);
  // The current Ŵ [n_rows, n_cols] in the original basis.
  const std::vector<float>& weights() const { return w_; }
  std::vector<float>& multipliers() { return mult_; }  // [n_rows, n_groups], start 1
  // Ŵ from the multipliers (scales m·s, fp16-rounded when `round`, as they would be stored).
  void build(bool round);
  // ∂L/∂m [n_rows, n_groups] from ∂L/∂Ŵ [n_rows, n_cols] (original basis): per group
  // ∂L/∂m = s · <R ∂L/∂Ŵ, c[idx]>. Adds into grad_m when `accumulate`, else overwrites.
  void mult_grad(const float* grad_w, float* grad_m, bool accumulate = false) const;
  // One Adam step on the multipliers from ∂L/∂Ŵ; rebuilds Ŵ (unrounded). `step` counts from 1.
  void adam_step(const std::vector<float>& grad_w, double lr, int64_t step);
  // Writes s := fp16(m·s) into the tensor.
  void commit();
  TqTensor* tensor() const { return t_; }

 private:
  TqTensor* t_;
  std::vector<float> mult_;  // [n_rows, n_groups]
  std::vector<float> w_;     // [n_rows, n_cols] current Ŵ
  std::vector<float> gm_;    // [n_rows, n_groups] scratch of adam_step
  Adam adam_;
};

}  // namespace tq

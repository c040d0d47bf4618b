// GPTQ error feedback (Frantar et al. 2022) on float arrays, with a pluggable column quantizer:
// columns are quantized one at a time and each column's error, weighted by the inverse Hessian,
// is pushed onto the columns not yet quantized, minimizing tr(E H Eᵀ) = ‖(W − Ŵ) X‖² greedily.
// Lazy batches of `block` columns; the trailing update is one GEMM per batch.
//
// Layout: the weights are passed TRANSPOSED, wt[n_cols, n_rows] (column j of W is the contiguous
// row j of wt), because the sweep works column by column. H is [n_cols, n_cols] (double).
#pragma once

#include <cstdint>
#include <vector>

#include "tq/status.h"

namespace tq {

// Quantizes columns of W for GPTQ. Implementations keep whatever they store (codes, scales).
class ColumnQuantizer {
 public:
  virtual ~ColumnQuantizer() = default;
  // Natural order only: called when the sweep reaches the first column of group g (columns
  // [g·G, (g+1)·G), G = group_size()), with those columns' current error-updated values:
  // cols[c · n_rows + r] for c < G, rows [r0, r1) valid. Lets the quantizer set the group's
  // parameters from the weights as GPTQ has updated them.
  virtual void begin_group(int64_t g, const float* cols, int64_t n_rows, int64_t r0, int64_t r1) {}
  // Column j (original index): w[r] for rows [r0, r1) -> q[r], the dequantized values.
  virtual void quantize_column(int64_t j, const float* w, float* q, int64_t r0, int64_t r1) = 0;
  // Group size for begin_group calls; 0 = never call begin_group.
  virtual int64_t group_size() const { return 0; }
};

struct GptqOptions {
  double damp = 0.01;      // λ = damp · mean(diag H) added to the diagonal
  int64_t block = 128;     // lazy-batch width (a multiple of the quantizer's group size)
  bool act_order = false;  // columns in order of decreasing diag(H) (then no begin_group calls)
};

// Runs GPTQ on wt[n_cols, n_rows] in place: on return wt holds the dequantized Ŵᵀ. Columns whose
// H diagonal is zero are set to zero before quantizing. Errors: H not positive definite after
// damping. Uses the runtime's threads (rows are split over threads; the trailing update is BLAS).
Status gptq_quantize(float* wt, int64_t n_rows, int64_t n_cols, const std::vector<double>& H,
                     ColumnQuantizer& quantizer, const GptqOptions& opt = {});

// tr(E H Eᵀ) for E = W − Ŵ, both row-major [n_rows, n_cols]: the summed squared output error of
// the linear over the calibration inputs whose Gram matrix is H ([n_cols, n_cols]).
double hessian_weighted_error(const float* w, const float* w_hat, int64_t n_rows, int64_t n_cols,
                              const std::vector<double>& H);

}  // namespace tq

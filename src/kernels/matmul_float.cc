// Table entries for the float weight formats: threads split the rows, matmul_rows_float (Highway)
// does the arithmetic.
#include <algorithm>

#include "core/parallel.h"
#include "kernels/matmul_families.h"

namespace tq {
namespace {

constexpr int64_t kRowGrain = 4;  // rows per task unit (the GEMM tile height)

void matmul_float(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  const int64_t n_units = (w.n_rows + kRowGrain - 1) / kRowGrain;
  // Keep at least ~64K multiply-adds per thread so tiny products do not pay for threading.
  const int64_t macs_per_unit = std::max<int64_t>(1, kRowGrain * w.n_cols * n_tokens);
  const int64_t min_units = std::max<int64_t>(1, (int64_t{1} << 16) / macs_per_unit);
  parallel_for(
      n_units,
      [&](int64_t u0, int64_t u1) {
        matmul_rows_float(w, x, n_tokens, y, w.n_rows, u0 * kRowGrain,
                          std::min(w.n_rows, u1 * kRowGrain));
      },
      min_units);
}

const MatmulKernel kFloatKernels[] = {
    {TypeId::f32, "f32 (highway)", matmul_float},
    {TypeId::bf16, "bf16 (highway)", matmul_float},
    {TypeId::f16, "f16 (highway)", matmul_float},
};

}  // namespace

std::span<const MatmulKernel> float_matmul_kernels() {
  return kFloatKernels;
}

}  // namespace tq

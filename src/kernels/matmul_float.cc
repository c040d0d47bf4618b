// Table entries for the float weight formats: threads split the rows, matmul_rows_float (Highway)
// does the arithmetic.
#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "kernels/matmul_families.h"
#include "kernels/matmul_quant.h"

namespace tq {
namespace {

constexpr int64_t kRowGrain = 4;  // rows per task unit (the GEMM tile height)

// The least work worth a thread. Waking a sleeping worker (OMP_WAIT_POLICY=PASSIVE) costs tens of
// microseconds, so each thread should stream >= 1 MiB of weights (decode) or do >= 2M
// multiply-adds (prefill); smaller products run on the calling thread. Measured on tq-ref-m (whose
// matrices are 0.25-8 MB): decode 452 t/s with every product split over 2 threads, 868 t/s single
// threaded.
int64_t min_units_per_thread(int64_t weight_bytes, int64_t macs, int64_t n_units, int64_t n_tokens) {
  const int64_t per_unit = n_tokens == 1 ? std::max<int64_t>(1, weight_bytes / n_units)
                                         : std::max<int64_t>(1, macs / n_units);
  const int64_t want = n_tokens == 1 ? (int64_t{1} << 20) : (int64_t{2} << 20);
  return std::max<int64_t>(1, (want + per_unit - 1) / per_unit);
}

void matmul_float(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  const int64_t n_units = (w.n_rows + kRowGrain - 1) / kRowGrain;
  const int64_t min_units = min_units_per_thread(static_cast<int64_t>(w.row_bytes) * w.n_rows,
                                                 w.n_rows * w.n_cols * n_tokens, n_units, n_tokens);
  parallel_for(
      n_units,
      [&](int64_t u0, int64_t u1) {
        matmul_rows_float(w, x, n_tokens, y, w.n_rows, u0 * kRowGrain,
                          std::min(w.n_rows, u1 * kRowGrain));
      },
      min_units);
}

}  // namespace

bool is_float_weight(TypeId t) { return t == TypeId::f32 || t == TypeId::bf16 || t == TypeId::f16; }

void matmul_multi(std::span<const WeightView* const> ws, const float* x, int64_t n_tokens,
                  std::span<float* const> ys) {
  bool all_float = !force_reference_kernels(), all_quant = all_float;
  for (const WeightView* w : ws) {
    all_float = all_float && is_float_weight(w->type);
    all_quant = all_quant && is_quant_matmul_type(w->type);
  }
  if (all_quant && ws.size() > 1) {
    matmul_quant_multi(ws, x, n_tokens, ys);
    return;
  }
  if (!all_float || ws.size() == 1) {
    for (size_t i = 0; i < ws.size(); ++i) matmul(*ws[i], x, n_tokens, ys[i]);
    return;
  }
  // Units of kRowGrain rows, numbered across the matrices in order.
  std::vector<int64_t> first_unit(ws.size() + 1, 0);
  int64_t macs = 0, bytes = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    first_unit[i + 1] = first_unit[i] + (ws[i]->n_rows + kRowGrain - 1) / kRowGrain;
    macs += ws[i]->n_rows * ws[i]->n_cols * n_tokens;
    bytes += static_cast<int64_t>(ws[i]->row_bytes) * ws[i]->n_rows;
  }
  const int64_t n_units = first_unit.back();
  const int64_t min_units = min_units_per_thread(bytes, macs, n_units, n_tokens);
  parallel_for(
      n_units,
      [&](int64_t u0, int64_t u1) {
        for (size_t i = 0; i < ws.size(); ++i) {
          const int64_t a = std::max(u0, first_unit[i]), b = std::min(u1, first_unit[i + 1]);
          if (a >= b) continue;
          const WeightView& w = *ws[i];
          matmul_rows_float(w, x, n_tokens, ys[i], w.n_rows, (a - first_unit[i]) * kRowGrain,
                            std::min(w.n_rows, (b - first_unit[i]) * kRowGrain));
        }
      },
      min_units);
}

namespace {

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

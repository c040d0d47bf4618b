#include <vector>

#include "core/check.h"
#include "formats/format.h"
#include "kernels/matmul.h"

namespace tq {

void matmul_ref(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  const FormatTraits* f = find_format(w.type);
  TQ_CHECK(f != nullptr, "matmul_ref: unknown weight type {}", static_cast<uint32_t>(w.type));
  std::vector<float> row(static_cast<size_t>(w.n_cols));
  for (int64_t r = 0; r < w.n_rows; ++r) {
    row_to_float(*f, w.row(r), row.data(), w.n_cols, w.aux);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * w.n_cols;
      double s = 0.0;
      for (int64_t c = 0; c < w.n_cols; ++c) s += static_cast<double>(row[c]) * xt[c];
      y[t * w.n_rows + r] = static_cast<float>(s);
    }
  }
}

}  // namespace tq

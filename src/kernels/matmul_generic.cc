// Generic matmul for any format of the format table: blocks of rows are dequantized with the
// format's to_float into per-thread f32 scratch (about 64 KiB, never the whole tensor), then
// multiplied with the f32 kernel.
#include <algorithm>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "formats/format.h"
#include "kernels/matmul.h"

namespace tq {

void matmul_generic(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  const FormatTraits* f = find_format(w.type);
  TQ_CHECK(f != nullptr, "matmul_generic: unknown weight type {}", static_cast<uint32_t>(w.type));
  TQ_CHECK(w.n_cols % f->block_elems == 0,
           "matmul_generic: {} columns not a multiple of the {} block", w.n_cols, f->name);
  // Rows per dequantized block: ~64 KiB of f32, a multiple of 4 (the f32 GEMM tile height).
  const int64_t block_rows =
      std::clamp<int64_t>((int64_t{16} << 10) / std::max<int64_t>(1, w.n_cols) / 4 * 4, 4, 256);
  const int64_t n_blocks = (w.n_rows + block_rows - 1) / block_rows;
  parallel_for(n_blocks, [&](int64_t b0, int64_t b1) {
    thread_local std::vector<float> scratch;  // [block_rows, n_cols]
    scratch.resize(static_cast<size_t>(block_rows * w.n_cols));
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t r0 = b * block_rows;
      const int64_t n = std::min(block_rows, w.n_rows - r0);
      for (int64_t i = 0; i < n; ++i)
        row_to_float(*f, w.row(r0 + i), scratch.data() + i * w.n_cols, w.n_cols, w.aux);
      WeightView block{TypeId::f32, n, w.n_cols, reinterpret_cast<const uint8_t*>(scratch.data()),
                       static_cast<size_t>(w.n_cols) * sizeof(float)};
      matmul_rows_float(block, x, n_tokens, y + r0, w.n_rows, 0, n);
    }
  });
}

}  // namespace tq

// Scalar reference of the integer matmul over llama.cpp's block formats (kernels/matmul_ggml.h).
#include <vector>

#include "core/check.h"
#include "formats/format.h"
#include "formats/ggml_int.h"
#include "kernels/matmul_ggml.h"

namespace tq::ref {

void matmul_ggml_rows(const WeightView& w, const GgmlActs& acts, int64_t n_tokens, float* y,
                      int64_t r0, int64_t r1) {
  const bool kq = is_ggml_kquant(w.type);
  const int be = ggml_int_block_elems(w.type);
  const int64_t n_blocks = w.n_cols / be;
  const int64_t bb = find_format(w.type)->block_bytes;
  TQ_CHECK(acts.block == be, "matmul_ggml_rows: activations in blocks of {}, weights {}",
           acts.block, be);
  int16_t c[256], sc[16], mn[16];
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = w.row(r);
    for (int64_t t = 0; t < n_tokens; ++t) {
      const int8_t* q = acts.q.data() + t * w.n_cols;
      const int16_t* s16 = acts.sums.data() + t * (w.n_cols / 16);
      float acc = 0.0f;
      for (int64_t b = 0; b < n_blocks; ++b) {
        const float a = acts.a[t * n_blocks + b];
        const int8_t* qb = q + b * be;
        if (kq) {
          float D, Dmin;
          ggml_int_kquant_block(w.type, row + b * bb, c, sc, mn, &D, &Dmin);
          int32_t isum = 0, msum = 0;
          for (int j = 0; j < 16; ++j) {
            int32_t dot = 0;
            for (int i = 0; i < 16; ++i) dot += c[16 * j + i] * qb[16 * j + i];
            isum += sc[j] * dot;
            msum += mn[j] * s16[b * 16 + j];
          }
          const float s = (D * a) * static_cast<float>(isum) - (Dmin * a) * static_cast<float>(msum);
          acc = acc + s;
        } else {
          float d, m;
          ggml_int_legacy_block(w.type, row + b * bb, c, &d, &m);
          int32_t isum = 0;
          for (int i = 0; i < 32; ++i) isum += c[i] * qb[i];
          const float S = static_cast<float>(s16[2 * b] + s16[2 * b + 1]);
          acc += (d * a) * static_cast<float>(isum) + m * (a * S);
        }
      }
      y[t * w.n_rows + r] = acc;
    }
  }
}

void matmul_ggml(const WeightView& w, const float* x, int64_t n_tokens, float* y) {
  GgmlActs acts;
  ggml_quantize_acts(ggml_int_block_elems(w.type), x, w.n_cols, n_tokens, acts);
  matmul_ggml_rows(w, acts, n_tokens, y, 0, w.n_rows);
}

}  // namespace tq::ref

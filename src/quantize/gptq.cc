#include "quantize/gptq.h"

#include <algorithm>
#include <numeric>

#include "core/check.h"
#include "core/parallel.h"
#include "quantize/linalg.h"

namespace tq {

Status gptq_quantize(float* wt, int64_t n_rows, int64_t n_cols, const std::vector<double>& H,
                     ColumnQuantizer& quantizer, const GptqOptions& opt) {
  const int64_t n = n_cols;
  TQ_CHECK(static_cast<int64_t>(H.size()) == n * n, "H size {} for {} columns", H.size(), n);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  if (opt.act_order)
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return H[a * n + a] > H[b * n + b]; });
  std::vector<double> Hp(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k) Hp[i * n + k] = H[perm[i] * n + perm[k]];
  std::vector<uint8_t> dead;
  TQ_ASSIGN_OR_RETURN(std::vector<float> U, gptq_inverse_factor(std::move(Hp), n, opt.damp, &dead));

  // W in the permuted column order, transposed: W[i * n_rows + r] = column perm[i], row r.
  std::vector<float> W(static_cast<size_t>(n * n_rows));
  for (int64_t i = 0; i < n; ++i) {
    float* dst = W.data() + i * n_rows;
    if (dead[i])
      std::fill_n(dst, n_rows, 0.0f);
    else
      std::copy_n(wt + perm[i] * n_rows, n_rows, dst);
  }
  const int64_t G = opt.act_order ? 0 : quantizer.group_size();
  const int64_t B = std::max<int64_t>(1, opt.block);
  TQ_CHECK(G == 0 || B % G == 0, "GPTQ block {} must be a multiple of the group {}", B, G);
  std::vector<float> err(static_cast<size_t>(B * n_rows));
  std::vector<float> qcol(static_cast<size_t>(n_rows));

  for (int64_t i1 = 0; i1 < n; i1 += B) {
    const int64_t i2 = std::min(i1 + B, n);
    parallel_for(
        n_rows,
        [&](int64_t r0, int64_t r1) {
          for (int64_t i = i1; i < i2; ++i) {
            const int64_t j = perm[i];
            float* w = W.data() + i * n_rows;
            if (G > 0 && j % G == 0) {
              TQ_CHECK(i + G <= i2, "group crosses a GPTQ block");
              quantizer.begin_group(j / G, w, n_rows, r0, r1);
            }
            quantizer.quantize_column(j, w, qcol.data(), r0, r1);
            const float inv_d = 1.0f / U[i * n + i];
            float* e = err.data() + (i - i1) * n_rows;
            for (int64_t r = r0; r < r1; ++r) {
              e[r] = (w[r] - qcol[r]) * inv_d;
              w[r] = qcol[r];
            }
            for (int64_t k = i + 1; k < i2; ++k) {
              const float u = U[i * n + k];
              float* wk = W.data() + k * n_rows;
              for (int64_t r = r0; r < r1; ++r) wk[r] -= u * e[r];
            }
          }
        },
        /*min_chunk=*/64);
    if (i2 < n)  // W[i2:, :] -= U[i1:i2, i2:]ᵀ · E
      sgemm(true, false, n - i2, n_rows, i2 - i1, -1.0f, U.data() + i1 * n + i2, n, err.data(),
            n_rows, 1.0f, W.data() + i2 * n_rows, n_rows);
  }
  for (int64_t i = 0; i < n; ++i) std::copy_n(W.data() + i * n_rows, n_rows, wt + perm[i] * n_rows);
  return ok_status();
}

double hessian_weighted_error(const float* w, const float* w_hat, int64_t n_rows, int64_t n_cols,
                              const std::vector<double>& H) {
  const int64_t n = n_cols;
  std::vector<float> hf(H.begin(), H.end());
  std::vector<float> e(static_cast<size_t>(n_rows * n)), eh(static_cast<size_t>(n_rows * n));
  for (int64_t i = 0; i < n_rows * n; ++i) e[i] = w[i] - w_hat[i];
  sgemm(false, false, n_rows, n, n, 1.0f, e.data(), n, hf.data(), n, 0.0f, eh.data(), n);
  double s = 0;
  for (int64_t i = 0; i < n_rows * n; ++i) s += static_cast<double>(e[i]) * eh[i];
  return s;
}

}  // namespace tq

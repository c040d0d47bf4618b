#include "runtime/kv_transform.h"

#include <algorithm>
#include <cmath>

#include "math/sym_eigen.h"
#include "runtime/kv_channel_stats.h"

namespace tq {
namespace {

constexpr int64_t kBlock = 16;
constexpr int kMaxBits = 8;
// Gaussian Lloyd–Max distortion per unit variance at b bits (b = 0: the coordinate is dropped).
constexpr double kDistortion[kMaxBits + 1] = {1.0,      0.3634,   0.1175,   0.03454,  0.009497,
                                              0.002499, 0.000653, 0.000167, 0.0000424};

// a·b for row-major [d, d] matrices.
std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b, int64_t d) {
  std::vector<double> c(static_cast<size_t>(d * d), 0.0);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t k = 0; k < d; ++k) {
      const double x = a[i * d + k];
      for (int64_t j = 0; j < d; ++j) c[i * d + j] += x * b[k * d + j];
    }
  return c;
}

std::vector<double> regularized(const double* m, int64_t d) {
  std::vector<double> r(m, m + d * d);
  double tr = 0;
  for (int64_t i = 0; i < d; ++i) tr += r[i * d + i];
  const double eps = std::max(1e-3 * tr / static_cast<double>(d), 1e-30);
  for (int64_t i = 0; i < d; ++i) r[i * d + i] += eps;
  return r;
}

}  // namespace

int64_t kv_transform_code_bits(double total_bits, int64_t head_dim) {
  const double code = total_bits * static_cast<double>(head_dim) - 16.0;
  return code <= 0 ? 0 : static_cast<int64_t>(std::floor(code / kBlock + 1e-9)) * kBlock;
}

Result<KvTransform> make_kv_transform(const KvChannelStats& st, int64_t layer, KvRole role,
                                      int64_t head, double total_bits) {
  const int64_t d = st.head_dim;
  if (!st.has_covariances())
    return invalid_argument("KV channel statistics ({}) hold no second moments", st.source);
  if (d % kBlock != 0)
    return invalid_argument("tqw KV types need head_dim a multiple of {} (it is {})", kBlock, d);
  const bool keys = role == KvRole::kKey;
  // A = W^(1/2), W the error metric (Σ_q for keys, the attn_output Gram matrix for values).
  const std::vector<double> w = regularized(st.block(keys ? st.q_cov : st.o_gram, layer, head), d);
  const SymEigen ew = symmetric_eigen(d, w);
  const std::vector<double> a = symmetric_power(ew, 0.5, 0.0);
  const std::vector<double> ai = symmetric_power(ew, -0.5, 1e-300);
  const double* cov = st.block(keys ? st.k_cov : st.v_cov, layer, head);
  const std::vector<double> c = matmul(matmul(a, std::vector<double>(cov, cov + d * d), d), a, d);
  const SymEigen e = symmetric_eigen(d, c);
  KvTransform t;
  t.dim = d;
  t.variance.resize(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i) t.variance[i] = std::max(e.values[i], 0.0);
  // fwd = Uᵀ·A, query = Uᵀ·A⁻¹, inv = A⁻¹·U.
  t.fwd.assign(static_cast<size_t>(d * d), 0.0f);
  t.query.assign(static_cast<size_t>(d * d), 0.0f);
  t.inv.assign(static_cast<size_t>(d * d), 0.0f);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      double f = 0, q = 0, v = 0;
      for (int64_t k = 0; k < d; ++k) {
        f += e.vectors[k * d + i] * a[k * d + j];
        q += e.vectors[k * d + i] * ai[k * d + j];
        v += ai[i * d + k] * e.vectors[k * d + j];
      }
      t.fwd[i * d + j] = static_cast<float>(f);
      t.query[i * d + j] = static_cast<float>(q);
      t.inv[i * d + j] = static_cast<float>(v);
    }
  // Water-filling over blocks of 16 coordinates: each step gives one more bit to the block whose
  // weighted distortion drops most.
  const int64_t n_blocks = d / kBlock;
  std::vector<double> var(static_cast<size_t>(n_blocks), 0.0);
  for (int64_t b = 0; b < n_blocks; ++b)
    for (int64_t i = b * kBlock; i < (b + 1) * kBlock; ++i) var[b] += t.variance[i] / kBlock;
  std::vector<int> bits(static_cast<size_t>(n_blocks), 0);
  for (int64_t left = kv_transform_code_bits(total_bits, d) / kBlock; left > 0; --left) {
    int64_t best = -1;
    double gain = -1;
    for (int64_t b = 0; b < n_blocks; ++b)
      if (bits[b] < kMaxBits) {
        const double g = var[b] * (kDistortion[bits[b]] - kDistortion[bits[b] + 1]);
        if (g > gain) gain = g, best = b;
      }
    if (best < 0) break;  // every block at the cap
    ++bits[best];
  }
  for (int64_t b = 0; b < n_blocks;) {
    int64_t e2 = b;
    while (e2 < n_blocks && bits[e2] == bits[b]) ++e2;
    if (bits[b] > 0) {
      double v = 0;
      for (int64_t i = b * kBlock; i < e2 * kBlock; ++i) v += t.variance[i];
      const double rms = std::sqrt(v / static_cast<double>((e2 - b) * kBlock));
      t.parts.push_back(
          {b * kBlock, e2 * kBlock, bits[b], static_cast<float>(std::max(rms, 1e-20))});
    }
    b = e2;
  }
  return t;
}

}  // namespace tq

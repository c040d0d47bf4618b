#include "quantize/tensor_quant.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/parallel.h"
#include "formats/tq_weight.h"
#include "quantize/linalg.h"

namespace tq {
namespace {

// GPTQ column quantizer for the TurboQuant codebook with per-(row, group) scales set on entry.
class TqColumns final : public ColumnQuantizer {
 public:
  TqColumns(TqTensor& t, ScaleSearch search) : t_(t), search_(search) {}
  int64_t group_size() const override { return t_.group; }
  void begin_group(int64_t g, const float* cols, int64_t n_rows, int64_t r0,
                   int64_t r1) override {
    const int G = t_.group;
    const TqCodec& codec = tq_codec(t_.group_bits(g), G);
    float v[128];
    for (int64_t r = r0; r < r1; ++r) {
      for (int c = 0; c < G; ++c) v[c] = cols[c * n_rows + r];
      t_.scales[r * t_.n_groups() + g] =
          quantize_group(codec, v, search_, t_.codes.data() + r * t_.n_cols + g * G);
    }
  }
  void quantize_column(int64_t j, const float* w, float* q, int64_t r0, int64_t r1) override {
    const int64_t g = j / t_.group;
    const TqCodec& codec = tq_codec(t_.group_bits(g), t_.group);
    for (int64_t r = r0; r < r1; ++r) {
      const float s = t_.scales[r * t_.n_groups() + g];
      uint8_t& idx = t_.codes[r * t_.n_cols + j];
      idx = static_cast<uint8_t>(s != 0 ? codec.nearest(w[r] / s) : codec.nearest(0.0f));
      q[r] = s * codec.codebook[idx];
    }
  }

 private:
  TqTensor& t_;
  ScaleSearch search_;
};

// An empty TqTensor of the given shape (fractional when `wide` is not empty).
TqTensor make_tq_tensor(int64_t n_rows, int64_t n_cols, int bits, int group,
                        const std::vector<uint8_t>& wide) {
  TQ_CHECK(n_cols % group == 0, "{} columns are not a multiple of the group {}", n_cols, group);
  TQ_CHECK(wide.empty() || static_cast<int64_t>(wide.size()) == n_cols / group,
           "group map of {} entries for {} groups", wide.size(), n_cols / group);
  return TqTensor{bits, group, n_rows, n_cols,
                  std::vector<uint8_t>(static_cast<size_t>(n_rows * n_cols)),
                  std::vector<float>(static_cast<size_t>(n_rows * (n_cols / group))), wide};
}

// Asymmetric int4 parameters of one group of original weights (static groups), exactly as the
// rtn4 format's own quantizer sets them: m = f16(min), d = f16((max − m)/15).
void int4_params(const float* v, int64_t n, float* scale, float* offset) {
  float lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(v[i])) {
      lo = std::min(lo, v[i]);
      hi = std::max(hi, v[i]);
    }
  if (!(lo <= hi)) lo = hi = 0.0f;
  *offset = round_fp16(lo);
  *scale = round_fp16((hi - *offset) / 15.0f);
}

inline uint8_t int4_code(float w, float s, float m) {
  if (!(s > 0)) return 0;
  return static_cast<uint8_t>(std::clamp(std::nearbyint((w - m) / s), 0.0f, 15.0f));
}

class Int4Columns final : public ColumnQuantizer {
 public:
  explicit Int4Columns(Int4Tensor& t) : t_(t) {}
  void quantize_column(int64_t j, const float* w, float* q, int64_t r0, int64_t r1) override {
    const int64_t ng = t_.n_cols / Int4Tensor::kGroup, g = j / Int4Tensor::kGroup;
    for (int64_t r = r0; r < r1; ++r) {
      const float s = t_.scale[r * ng + g], m = t_.offset[r * ng + g];
      const uint8_t c = int4_code(w[r], s, m);
      t_.q[r * t_.n_cols + j] = c;
      q[r] = c * s + m;
    }
  }

 private:
  Int4Tensor& t_;
};

std::vector<float> transpose(const float* w, int64_t n_rows, int64_t n_cols) {
  std::vector<float> t(static_cast<size_t>(n_rows * n_cols));
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t c = 0; c < n_cols; ++c) t[c * n_rows + r] = w[r * n_cols + c];
  return t;
}

}  // namespace

void codebook_values(const TqTensor& t, float* u) {
  const int64_t ng = t.n_groups();
  for (int64_t g = 0; g < ng; ++g) {
    const std::vector<float>& cb = tq_codec(t.group_bits(g), t.group).codebook;
    for (int64_t r = 0; r < t.n_rows; ++r) {
      const uint8_t* idx = t.codes.data() + r * t.n_cols + g * t.group;
      float* o = u + r * t.n_cols + g * t.group;
      for (int i = 0; i < t.group; ++i) o[i] = cb[idx[i]];
    }
  }
}

void dequantize_rotated(const TqTensor& t, float* w_hat) {
  codebook_values(t, w_hat);
  const int64_t ng = t.n_groups();
  for (int64_t r = 0; r < t.n_rows; ++r)
    for (int64_t g = 0; g < ng; ++g) {
      const float s = t.scales[r * ng + g];
      float* o = w_hat + r * t.n_cols + g * t.group;
      for (int i = 0; i < t.group; ++i) o[i] *= s;
    }
}

std::vector<uint8_t> tq_choose_wide_groups(const float* w, int64_t n_rows, int64_t n_cols,
                                           int group, const std::vector<double>* H) {
  if (!H) return tq_default_group_map(w, n_rows, n_cols, group).wide;
  TQ_CHECK(n_cols % (2 * group) == 0, "a fractional tensor needs an even number of groups ({} "
           "columns, group {})", n_cols, group);
  std::vector<double> col(static_cast<size_t>(n_cols), 0.0);
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t c = 0; c < n_cols; ++c) {
      const double v = w[r * n_cols + c];
      if (std::isfinite(v)) col[c] += v * v;
    }
  std::vector<double> energy(static_cast<size_t>(n_cols / group), 0.0);
  for (int64_t c = 0; c < n_cols; ++c)
    energy[c / group] += col[c] * std::max((*H)[c * n_cols + c], 0.0);
  return tq_group_map_from_energy(energy).wide;
}

void dequantize(const TqTensor& t, float* w_hat) {
  dequantize_rotated(t, w_hat);
  const TqCodec& codec = tq_codec(t.bits, t.group);
  parallel_for(t.n_rows * t.n_groups(), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) codec.unrotate(w_hat + i * t.group);
  }, 256);
}

void rotate_rows(const TqCodec& codec, const float* w, int64_t n_rows, int64_t n_cols,
                 float* out) {
  if (out != w) std::copy_n(w, n_rows * n_cols, out);
  const int64_t n = n_rows * (n_cols / codec.group);
  parallel_for(n, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) codec.rotate(out + i * codec.group);
  }, 256);
}

std::vector<double> rotate_hessian(const TqCodec& codec, const std::vector<double>& H, int64_t n) {
  // R_b H R_bᵀ: rotate every row's groups (H R_bᵀ), transpose, rotate again; in float (the
  // rotation is orthogonal and H's entries are sums of products, so float keeps ~7 digits).
  std::vector<float> a(H.begin(), H.end()), b(static_cast<size_t>(n * n));
  rotate_rows(codec, a.data(), n, n, a.data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) b[j * n + i] = a[i * n + j];
  rotate_rows(codec, b.data(), n, n, b.data());
  std::vector<double> out(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)  // symmetrize away float rounding
      out[i * n + j] = 0.5 * (static_cast<double>(b[i * n + j]) + b[j * n + i]);
  return out;
}

TqTensor tq_quantize_datafree(const float* w, int64_t n_rows, int64_t n_cols, int bits, int group,
                              ScaleSearch search, const std::vector<uint8_t>& wide) {
  TqTensor t = make_tq_tensor(n_rows, n_cols, bits, group, wide);
  const int64_t ng = n_cols / group;
  parallel_for(n_rows * ng, [&](int64_t b, int64_t e) {
    float v[128];
    for (int64_t i = b; i < e; ++i) {
      const int64_t r = i / ng, g = i % ng;
      const TqCodec& codec = tq_codec(t.group_bits(g), group);
      std::copy_n(w + r * n_cols + g * group, group, v);
      codec.rotate(v);
      t.scales[i] = quantize_group(codec, v, search, t.codes.data() + r * n_cols + g * group);
    }
  }, 64);
  return t;
}

Result<TqTensor> tq_quantize_gptq(const float* w, int64_t n_rows, int64_t n_cols,
                                  const std::vector<double>& H, int bits, int group,
                                  const GptqOptions& opt, ScaleSearch search,
                                  const std::vector<uint8_t>& wide) {
  TqTensor t = make_tq_tensor(n_rows, n_cols, bits, group, wide);
  const TqCodec& codec = tq_codec(bits, group);  // the rotation (the same for every width)
  std::vector<float> wr(static_cast<size_t>(n_rows * n_cols));
  rotate_rows(codec, w, n_rows, n_cols, wr.data());
  std::vector<float> wt = transpose(wr.data(), n_rows, n_cols);
  const std::vector<double> Hr = rotate_hessian(codec, H, n_cols);
  TqColumns cols(t, search);
  GptqOptions o = opt;
  o.act_order = false;  // scales are set on group entry (natural order)
  o.block = std::max<int64_t>(group, (o.block / group) * group);
  TQ_RETURN_IF_ERROR(gptq_quantize(wt.data(), n_rows, n_cols, Hr, cols, o));
  return t;
}

RefitReport tq_refit_scales(TqTensor& t, const float* w, const std::vector<double>& H,
                            double damp) {
  const TqCodec& codec = tq_codec(t.bits, t.group);
  const int64_t n = t.n_cols, R = t.n_rows, G = t.group, ng = t.n_groups();
  const std::vector<double> Hr = rotate_hessian(codec, H, n);
  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i) mean_diag += Hr[i * n + i];
  mean_diag /= static_cast<double>(n);
  std::vector<float> hd(Hr.begin(), Hr.end());
  for (int64_t i = 0; i < n; ++i) hd[i * n + i] += static_cast<float>(damp * mean_diag);
  std::vector<float> wr(static_cast<size_t>(R * n)), u(static_cast<size_t>(R * n));
  rotate_rows(codec, w, R, n, wr.data());
  codebook_values(t, u.data());
  RefitReport rep;
  std::vector<float> w_before(static_cast<size_t>(R * n));
  dequantize_rotated(t, w_before.data());
  rep.error_before = hessian_weighted_error(wr.data(), w_before.data(), R, n, Hr);
  // Rows in chunks (bounded memory): b[r, g] = Σ_{i∈g} u[r,i] (w_r H)_i and
  // M[r, g, h] = Σ_{i∈g} u[r,i] (H[:, h-block] u_h)_i, one GEMM per group h.
  const int64_t chunk = std::min<int64_t>(R, 256);
  std::vector<float> wh(static_cast<size_t>(chunk * n)), z(static_cast<size_t>(chunk * n));
  std::vector<double> M(static_cast<size_t>(chunk * ng * ng)), bvec(static_cast<size_t>(chunk * ng));
  for (int64_t c0 = 0; c0 < R; c0 += chunk) {
    const int64_t nr = std::min(chunk, R - c0);
    const float* uc = u.data() + c0 * n;
    sgemm(false, false, nr, n, n, 1.0f, wr.data() + c0 * n, n, hd.data(), n, 0.0f, wh.data(), n);
    for (int64_t r = 0; r < nr; ++r)
      for (int64_t g = 0; g < ng; ++g) {
        double s = 0;
        for (int64_t i = g * G; i < (g + 1) * G; ++i) s += static_cast<double>(uc[r * n + i]) * wh[r * n + i];
        bvec[r * ng + g] = s;
      }
    for (int64_t h = 0; h < ng; ++h) {
      sgemm(false, false, nr, n, G, 1.0f, uc + h * G, n, hd.data() + h * G * n, n, 0.0f, z.data(),
            n);
      for (int64_t r = 0; r < nr; ++r)
        for (int64_t g = 0; g < ng; ++g) {
          double s = 0;
          for (int64_t i = g * G; i < (g + 1) * G; ++i) s += static_cast<double>(uc[r * n + i]) * z[r * n + i];
          M[(r * ng + g) * ng + h] = s;
        }
    }
    // Per row: solve, round to fp16, keep when the (damped) objective sᵀMs − 2bᵀs improves.
    parallel_for(nr, [&](int64_t r0, int64_t r1) {
      std::vector<double> a(static_cast<size_t>(ng * ng)), x(static_cast<size_t>(ng));
      std::vector<float> s_new(static_cast<size_t>(ng));
      for (int64_t r = r0; r < r1; ++r) {
        const double* Mr = M.data() + r * ng * ng;
        const double* br = bvec.data() + r * ng;
        auto objective = [&](const float* s) {
          double q = 0, l = 0;
          for (int64_t g = 0; g < ng; ++g) {
            l += br[g] * s[g];
            for (int64_t h = 0; h < ng; ++h) q += s[g] * Mr[g * ng + h] * s[h];
          }
          return q - 2 * l;
        };
        std::copy_n(Mr, ng * ng, a.data());
        std::copy_n(br, ng, x.data());
        double tr = 0;
        for (int64_t g = 0; g < ng; ++g) tr += a[g * ng + g];
        for (int64_t g = 0; g < ng; ++g) a[g * ng + g] += 1e-9 * tr / static_cast<double>(ng) + 1e-30;
        if (!solve_spd(a.data(), x.data(), ng)) continue;
        float* s_old = t.scales.data() + (c0 + r) * ng;
        bool finite = true;
        for (int64_t g = 0; g < ng; ++g) {
          s_new[g] = round_fp16(static_cast<float>(x[g]));
          finite = finite && std::isfinite(s_new[g]);
        }
        if (finite && objective(s_new.data()) < objective(s_old)) std::copy_n(s_new.data(), ng, s_old);
      }
    }, 16);
  }
  std::vector<float> w_after(static_cast<size_t>(R * n));
  dequantize_rotated(t, w_after.data());
  rep.error_after = hessian_weighted_error(wr.data(), w_after.data(), R, n, Hr);
  return rep;
}

// ---- int4 baselines ---------------------------------------------------------------------------

void dequantize(const Int4Tensor& t, float* w_hat) {
  const int64_t ng = t.n_cols / Int4Tensor::kGroup;
  for (int64_t r = 0; r < t.n_rows; ++r)
    for (int64_t c = 0; c < t.n_cols; ++c) {
      const int64_t g = c / Int4Tensor::kGroup;
      w_hat[r * t.n_cols + c] = t.q[r * t.n_cols + c] * t.scale[r * ng + g] + t.offset[r * ng + g];
    }
}

namespace {
Int4Tensor int4_static_params(const float* w, int64_t n_rows, int64_t n_cols) {
  TQ_CHECK(n_cols % Int4Tensor::kGroup == 0, "{} columns are not a multiple of 128", n_cols);
  const int64_t ng = n_cols / Int4Tensor::kGroup;
  Int4Tensor t{n_rows, n_cols, std::vector<uint8_t>(static_cast<size_t>(n_rows * n_cols)),
               std::vector<float>(static_cast<size_t>(n_rows * ng)),
               std::vector<float>(static_cast<size_t>(n_rows * ng))};
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t g = 0; g < ng; ++g)
      int4_params(w + r * n_cols + g * Int4Tensor::kGroup, Int4Tensor::kGroup,
                  &t.scale[r * ng + g], &t.offset[r * ng + g]);
  return t;
}
}  // namespace

Int4Tensor rtn4_quantize(const float* w, int64_t n_rows, int64_t n_cols) {
  Int4Tensor t = int4_static_params(w, n_rows, n_cols);
  const int64_t ng = n_cols / Int4Tensor::kGroup;
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t c = 0; c < n_cols; ++c) {
      const int64_t g = c / Int4Tensor::kGroup;
      t.q[r * n_cols + c] = int4_code(w[r * n_cols + c], t.scale[r * ng + g], t.offset[r * ng + g]);
    }
  return t;
}

Result<Int4Tensor> gptq4_quantize(const float* w, int64_t n_rows, int64_t n_cols,
                                  const std::vector<double>& H, double damp) {
  Int4Tensor t = int4_static_params(w, n_rows, n_cols);
  std::vector<float> wt = transpose(w, n_rows, n_cols);
  Int4Columns cols(t);
  GptqOptions o;
  o.damp = damp;
  o.act_order = true;
  TQ_RETURN_IF_ERROR(gptq_quantize(wt.data(), n_rows, n_cols, H, cols, o));
  return t;
}

}  // namespace tq

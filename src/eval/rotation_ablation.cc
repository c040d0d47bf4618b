// The rotation decisions of math/rotation.h, measured: rounds, and how a non-power-of-two d is
// handled (ours: overlapping windows + permutation; alternatives: block-diagonal, Kronecker with a
// random m×m orthogonal, zero padding, a dense Haar matrix as the ideal).

#include <cmath>
#include <functional>

#include "core/rng.h"
#include "eval/codec_quality.h"
#include "math/lloyd_max.h"
#include "math/rotation.h"
#include "math/stats.h"

namespace tq {

const char* input_family_name(InputFamily f) {
  switch (f) {
    case InputFamily::kGaussian: return "gaussian";
    case InputFamily::kOneHot: return "one-hot";
    case InputFamily::kFourHot: return "4-hot";
    case InputFamily::kOutlierChannels: return "4 outlier channels x20";
    case InputFamily::kEnergyBlock: return "energy in first third";
  }
  return "unknown";
}

const char* rotation_layout_name(RotationLayout l) {
  switch (l) {
    case RotationLayout::kWindows: return "ours (windows + permutation)";
    case RotationLayout::kBlockDiagonal: return "block-diagonal power-of-two blocks";
    case RotationLayout::kKronecker: return "Kronecker Q_m x H_p";
    case RotationLayout::kZeroPad: return "zero padding to 2^k";
    case RotationLayout::kDenseHaar: return "dense Haar (ideal)";
  }
  return "unknown";
}

std::vector<float> make_input_family(InputFamily f, int64_t n, int64_t d, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> x(static_cast<size_t>(n * d), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    float* v = x.data() + i * d;
    switch (f) {
      case InputFamily::kGaussian:
        for (int64_t j = 0; j < d; ++j) v[j] = static_cast<float>(rng.normal());
        break;
      case InputFamily::kOneHot:
        v[i % d] = 1.0f;
        break;
      case InputFamily::kFourHot:
        for (int k = 0; k < 4; ++k) v[(i + k * (d / 4 + 1)) % d] = 0.5f * rng.sign();
        break;
      case InputFamily::kOutlierChannels:
        for (int64_t j = 0; j < d; ++j) v[j] = static_cast<float>(rng.normal() * ((j % (d / 4)) == 1 ? 20.0 : 1.0));
        break;
      case InputFamily::kEnergyBlock:
        for (int64_t j = 0; j < d; ++j) v[j] = static_cast<float>(rng.normal() * (j < d / 3 ? 30.0 : 1.0));
        break;
    }
  }
  return x;
}

namespace {

// An orthogonal map from R^dim into R^out_dim (out_dim > dim only for zero padding).
struct Layout {
  int64_t out_dim = 0;
  std::function<void(const float*, float*)> forward;  // [dim] → [out_dim]
  std::function<void(const float*, float*)> inverse;  // [out_dim] → [dim]
};

// Rotations kept alive by the closures.
struct LayoutState {
  std::vector<HadamardRotation> rots;
  std::vector<int64_t> offsets;
  std::vector<float> matrix, matrix_t;  // [dim, dim]
  std::vector<float> signs;             // Kronecker: [rounds, dim]
  std::vector<float> mix, mix_t;        // Kronecker: [rounds, m, m]
};

Result<Layout> make_layout(RotationLayout layout, int64_t d, int rounds, uint64_t seed,
                           std::shared_ptr<LayoutState>& st) {
  st = std::make_shared<LayoutState>();
  Layout l;
  l.out_dim = d;
  switch (layout) {
    case RotationLayout::kWindows: {
      TQ_ASSIGN_OR_RETURN(HadamardRotation r, HadamardRotation::create(d, seed, rounds));
      st->rots.push_back(std::move(r));
      l.forward = [st](const float* x, float* y) { st->rots[0].forward(x, y); };
      l.inverse = [st](const float* y, float* x) { st->rots[0].inverse(y, x); };
      return l;
    }
    case RotationLayout::kBlockDiagonal: {  // d = sum of distinct powers of two, largest first
      int64_t off = 0;
      for (int64_t p = int64_t{1} << 40; p >= 1; p >>= 1)
        if ((d - off) >= p) {
          TQ_ASSIGN_OR_RETURN(HadamardRotation r, HadamardRotation::create(p, mix_seed(seed, off), rounds));
          st->rots.push_back(std::move(r));
          st->offsets.push_back(off);
          off += p;
        }
      l.forward = [st](const float* x, float* y) {
        for (size_t b = 0; b < st->rots.size(); ++b) st->rots[b].forward(x + st->offsets[b], y + st->offsets[b]);
      };
      l.inverse = [st](const float* y, float* x) {
        for (size_t b = 0; b < st->rots.size(); ++b) st->rots[b].inverse(y + st->offsets[b], x + st->offsets[b]);
      };
      return l;
    }
    case RotationLayout::kKronecker: {  // x viewed as [m][p]; round: signs, H_p per row, Q_m across rows
      const int64_t p = d & (-d), m = d / p;
      const float scale = 1.0f / std::sqrt(static_cast<float>(p));
      Rng rng(seed);
      st->signs.resize(static_cast<size_t>(rounds * d));
      for (auto& s : st->signs) s = rng.sign() * scale;
      st->mix.resize(static_cast<size_t>(rounds * m * m));
      st->mix_t.resize(st->mix.size());
      for (int r = 0; r < rounds; ++r) {
        const std::vector<double> q = haar_orthogonal(m, mix_seed(seed, r));
        for (int64_t a = 0; a < m; ++a)
          for (int64_t b = 0; b < m; ++b) {
            st->mix[(r * m + a) * m + b] = static_cast<float>(q[a * m + b]);
            st->mix_t[(r * m + b) * m + a] = static_cast<float>(q[a * m + b]);
          }
      }
      auto mix_rows = [p, m](const float* q, float* x) {
        std::vector<float> tmp(static_cast<size_t>(p * m), 0.0f);
        for (int64_t a = 0; a < m; ++a)
          for (int64_t b = 0; b < m; ++b)
            for (int64_t k = 0; k < p; ++k) tmp[a * p + k] += q[a * m + b] * x[b * p + k];
        std::copy(tmp.begin(), tmp.end(), x);
      };
      l.forward = [st, p, m, d, rounds, mix_rows](const float* x, float* y) {
        std::copy(x, x + d, y);
        for (int r = 0; r < rounds; ++r) {
          for (int64_t a = 0; a < m; ++a) sign_fwht(y + a * p, st->signs.data() + r * d + a * p, p);
          mix_rows(st->mix.data() + r * m * m, y);
        }
      };
      l.inverse = [st, p, m, d, rounds, mix_rows](const float* y, float* x) {
        std::copy(y, y + d, x);
        for (int r = rounds - 1; r >= 0; --r) {
          mix_rows(st->mix_t.data() + r * m * m, x);
          for (int64_t a = 0; a < m; ++a) fwht_sign(x + a * p, st->signs.data() + r * d + a * p, p);
        }
      };
      return l;
    }
    case RotationLayout::kZeroPad: {
      int64_t p = 1;
      while (p < d) p *= 2;
      TQ_ASSIGN_OR_RETURN(HadamardRotation r, HadamardRotation::create(p, seed, rounds));
      st->rots.push_back(std::move(r));
      l.out_dim = p;
      l.forward = [st, d, p](const float* x, float* y) {
        std::vector<float> padded(p, 0.0f);
        std::copy(x, x + d, padded.begin());
        st->rots[0].forward(padded.data(), y);
      };
      l.inverse = [st, d, p](const float* y, float* x) {
        std::vector<float> full(p);
        st->rots[0].inverse(y, full.data());
        std::copy(full.begin(), full.begin() + d, x);
      };
      return l;
    }
    case RotationLayout::kDenseHaar: {
      const std::vector<double> q = haar_orthogonal(d, seed);
      st->matrix.assign(q.begin(), q.end());
      st->matrix_t.resize(q.size());
      for (int64_t a = 0; a < d; ++a)
        for (int64_t b = 0; b < d; ++b) st->matrix_t[b * d + a] = st->matrix[a * d + b];
      l.forward = [st, d](const float* x, float* y) { matvec(st->matrix.data(), x, d, d, y); };
      l.inverse = [st, d](const float* y, float* x) { matvec(st->matrix_t.data(), y, d, d, x); };
      return l;
    }
  }
  return invalid_argument("unknown rotation layout");
}

// Mean over vectors of ‖u − û‖² / theory for one layout seed.
Result<double> mse_ratio(const Layout& l, const Codebook& cb, const std::vector<float>& x, int64_t n, int64_t d) {
  const int64_t out = l.out_dim;
  std::vector<float> u(d), y(out), back(d);
  RunningStats err;
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x.data() + i * d;
    const double norm = std::sqrt(squared_norm_f64(xi, d));
    if (norm == 0.0) continue;
    for (int64_t j = 0; j < d; ++j) u[j] = static_cast<float>(xi[j] / norm);
    l.forward(u.data(), y.data());
    for (int64_t j = 0; j < out; ++j) y[j] = static_cast<float>(cb.centroids[cb.quantize(y[j])]);
    l.inverse(y.data(), back.data());
    err.add(squared_error(back.data(), u.data(), d));
  }
  if (err.count() == 0) return invalid_argument("all vectors are zero");
  return err.mean() / cb.unit_vector_mse();
}

}  // namespace

Result<RotationMeasurement> measure_rotation_on(RotationLayout layout, int rounds, const std::vector<float>& x,
                                                int64_t n, int64_t dim, int bits, int n_seeds, uint64_t seed) {
  RunningStats ratios;
  double bpc = 0.0;
  for (int s = 0; s < n_seeds; ++s) {
    std::shared_ptr<LayoutState> st;
    TQ_ASSIGN_OR_RETURN(Layout l, make_layout(layout, dim, rounds, mix_seed(seed, s), st));
    TQ_ASSIGN_OR_RETURN(const Codebook* cb, sphere_codebook(l.out_dim, bits));
    TQ_ASSIGN_OR_RETURN(double r, mse_ratio(l, *cb, x, n, dim));
    ratios.add(r);
    bpc = static_cast<double>(bits) * static_cast<double>(l.out_dim) / static_cast<double>(dim);
  }
  return RotationMeasurement{ratios.mean(), ratios.stddev(), bpc};
}

Result<RotationMeasurement> measure_rotation(RotationLayout layout, int rounds, InputFamily family, int64_t dim,
                                             int bits, int64_t n, int n_seeds, uint64_t seed) {
  const std::vector<float> x = make_input_family(family, n, dim, seed);
  return measure_rotation_on(layout, rounds, x, n, dim, bits, n_seeds, mix_seed(seed, 77));
}

}  // namespace tq

#include "math/lloyd_max.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <utility>

#include "core/check.h"

namespace tq {
namespace {

// ---- Gauss–Legendre quadrature ------------------------------------------------------------------

constexpr int kGaussNodes = 20;

struct GaussLegendre {
  std::array<double, kGaussNodes> x{}, w{};  // nodes and weights on [−1, 1]
  GaussLegendre() {
    const int n = kGaussNodes;
    for (int i = 0; i < n; ++i) {
      double z = std::cos(std::numbers::pi * (i + 0.75) / (n + 0.5));
      double dp = 0.0;
      for (int it = 0; it < 100; ++it) {
        double p0 = 1.0, p1 = 0.0;
        for (int k = 1; k <= n; ++k) {
          const double p2 = p1;
          p1 = p0;
          p0 = ((2.0 * k - 1.0) * z * p1 - (k - 1.0) * p2) / k;
        }
        dp = n * (z * p0 - p1) / (z * z - 1.0);
        const double dz = p0 / dp;
        z -= dz;
        if (std::abs(dz) < 1e-16) break;
      }
      x[i] = z;
      w[i] = 2.0 / ((1.0 - z * z) * dp * dp);
    }
  }
};

const GaussLegendre& gauss_legendre() {
  static const GaussLegendre gl;
  return gl;
}

// ---- densities ---------------------------------------------------------------------------------

// Integrals over a cell [a, b] (in t) of f(t)·{1, t, (t − c)²}. The integration variable u and the
// map t(u) are density-specific; panels are no wider than half the density's scale in u.
class Density {
 public:
  virtual ~Density() = default;
  virtual double lo() const = 0;  // support in t
  virtual double hi() const = 0;
  virtual double scale_t() const = 0;  // standard deviation in t
  virtual double pdf(double t) const = 0;  // normalized density in t

  struct Moments {
    double m0 = 0.0, m1 = 0.0, m2c = 0.0;  // ∫f, ∫t·f, ∫(t − c)²·f
  };
  Moments moments(double a, double b, double c) const {
    Moments m;
    const double ua = std::max(to_u(a), -u_max()), ub = std::min(to_u(b), u_max());
    if (!(ub > ua)) return m;
    const double panel = 0.5 * scale_u();
    const int n_panels = std::max(1, static_cast<int>(std::ceil((ub - ua) / panel)));
    const double h = (ub - ua) / n_panels;
    const GaussLegendre& gl = gauss_legendre();
    for (int k = 0; k < n_panels; ++k) {
      const double mid = ua + (k + 0.5) * h, half = 0.5 * h;
      for (int i = 0; i < kGaussNodes; ++i) {
        const double u = mid + half * gl.x[i];
        const double t = to_t(u);
        const double w = gl.w[i] * half * weight_u(u);
        m.m0 += w;
        m.m1 += w * t;
        m.m2c += w * (t - c) * (t - c);
      }
    }
    const double z = 1.0 / norm();
    m.m0 *= z;
    m.m1 *= z;
    m.m2c *= z;
    return m;
  }

  // Quantiles q_i = i/k (i = 1..k−1) of the point density ∝ f^(1/3) (the asymptotically optimal
  // centroid density, Panter–Dite), in t. Used as the solver's starting boundaries.
  std::vector<double> cube_root_quantiles(int k) const {
    constexpr int kGrid = 1 << 14;
    const double umax = u_max(), du = 2.0 * umax / kGrid;
    std::vector<double> cdf(kGrid + 1, 0.0);  // [kGrid + 1] running ∫ f^(1/3) dt over the u grid
    for (int i = 0; i < kGrid; ++i) {
      const double u = -umax + (i + 0.5) * du;
      // f_t(t)^(1/3)·dt = (weight_u / norm)^(1/3)·(dt/du)^(2/3)·du
      cdf[i + 1] = cdf[i] + std::cbrt(weight_u(u) / norm()) * std::pow(dt_du(u), 2.0 / 3.0) * du;
    }
    std::vector<double> t(k - 1);
    int j = 0;
    for (int i = 1; i < k; ++i) {
      const double target = cdf[kGrid] * i / k;
      while (j < kGrid && cdf[j + 1] < target) ++j;
      const double frac = cdf[j + 1] > cdf[j] ? (target - cdf[j]) / (cdf[j + 1] - cdf[j]) : 0.5;
      t[i - 1] = to_t(-umax + (j + frac) * du);
    }
    return t;
  }

 protected:
  virtual double dt_du(double u) const = 0;
  virtual double to_u(double t) const = 0;
  virtual double to_t(double u) const = 0;
  virtual double weight_u(double u) const = 0;  // unnormalized density in u (includes dt/du)
  virtual double scale_u() const = 0;
  virtual double u_max() const = 0;  // integrate over [−u_max, u_max]; beyond, the mass is < 1e-300
  virtual double norm() const = 0;   // ∫ weight_u over the whole support
};

// Coordinate of a uniform unit vector in R^d, integrated in φ = asin t: f(t)dt ∝ cos^(d−2)φ dφ.
class SphereDensity final : public Density {
 public:
  explicit SphereDensity(int64_t dim) : d_(static_cast<double>(dim)) {
    sigma_u_ = 1.0 / std::sqrt(std::max(1.0, d_ - 1.0));
    u_max_ = std::min(std::numbers::pi / 2, 40.0 * sigma_u_);
    // Z = ∫ cos^(d−2)φ dφ = √π Γ((d−1)/2) / Γ(d/2); computed numerically so that the moments
    // of all cells sum to exactly 1 under the same quadrature (closed form checked in tests).
    norm_ = 1.0;
    Moments all = moments(-1.0, 1.0, 0.0);
    norm_ = all.m0;
  }
  double lo() const override { return -1.0; }
  double hi() const override { return 1.0; }
  double scale_t() const override { return 1.0 / std::sqrt(d_); }
  double pdf(double t) const override {
    if (!(t > -1.0 && t < 1.0)) return 0.0;
    return std::exp(0.5 * (d_ - 3.0) * std::log1p(-t * t)) / norm_;
  }

 protected:
  double to_u(double t) const override { return std::asin(std::clamp(t, -1.0, 1.0)); }
  double to_t(double u) const override { return std::sin(u); }
  double dt_du(double u) const override { return std::cos(u); }
  // cos^(d−2)u = exp((d−2)/2 · log1p(−sin²u)): accurate to rounding for any d (pow(cos u, d) would
  // amplify cos's rounding error d-fold).
  double weight_u(double u) const override {
    const double s = std::sin(u);
    return std::exp(0.5 * (d_ - 2.0) * std::log1p(-s * s));
  }
  double scale_u() const override { return sigma_u_; }
  double u_max() const override { return u_max_; }
  double norm() const override { return norm_; }

 private:
  double d_, sigma_u_, u_max_, norm_;
};

class GaussianDensity final : public Density {
 public:
  double lo() const override { return -std::numeric_limits<double>::infinity(); }
  double hi() const override { return std::numeric_limits<double>::infinity(); }
  double scale_t() const override { return 1.0; }
  double pdf(double t) const override { return std::exp(-0.5 * t * t) / std::sqrt(2.0 * std::numbers::pi); }

 protected:
  double to_u(double t) const override { return t; }
  double to_t(double u) const override { return u; }
  double dt_du(double) const override { return 1.0; }
  double weight_u(double u) const override { return pdf(u); }
  double scale_u() const override { return 1.0; }
  double u_max() const override { return 40.0; }
  double norm() const override { return 1.0; }
};

// ---- solver ------------------------------------------------------------------------------------

struct CellState {
  std::vector<double> c;   // [K] centroids
  std::vector<double> m0;  // [K] cell masses
  double max_residual = 0.0;
};

// Centroids of the cells cut by boundaries t ([K−1]).
CellState evaluate(const Density& f, const std::vector<double>& t) {
  const int k_levels = static_cast<int>(t.size()) + 1;
  CellState s;
  s.c.resize(k_levels);
  s.m0.resize(k_levels);
  for (int i = 0; i < k_levels; ++i) {
    const double a = i == 0 ? f.lo() : t[i - 1];
    const double b = i == k_levels - 1 ? f.hi() : t[i];
    const Density::Moments m = f.moments(a, b, 0.0);
    s.m0[i] = m.m0;
    if (m.m0 > 0.0) {
      s.c[i] = m.m1 / m.m0;
    } else {  // cell beyond the numerical support: put the centroid inside the cell
      const double aa = std::isfinite(a) ? a : b - f.scale_t(), bb = std::isfinite(b) ? b : a + f.scale_t();
      s.c[i] = 0.5 * (aa + bb);
    }
  }
  for (int i = 0; i + 1 < k_levels; ++i)
    s.max_residual = std::max(s.max_residual, std::abs(t[i] - 0.5 * (s.c[i] + s.c[i + 1])));
  return s;
}

bool strictly_ascending(const std::vector<double>& t, double lo, double hi) {
  double prev = lo;
  for (double v : t) {
    if (!(v > prev)) return false;
    prev = v;
  }
  return prev < hi;
}

Codebook finish(CodebookSource source, int64_t dim, int bits, std::vector<double> centroids) {
  Codebook cb;
  cb.source = source;
  cb.dim = dim;
  cb.bits = bits;
  cb.centroids = std::move(centroids);
  const int k_levels = cb.levels();
  cb.boundaries.resize(k_levels - 1);
  for (int i = 0; i + 1 < k_levels; ++i) cb.boundaries[i] = 0.5 * (cb.centroids[i] + cb.centroids[i + 1]);
  cb.centroids_f32.assign(cb.centroids.begin(), cb.centroids.end());
  cb.boundaries_f32.assign(cb.boundaries.begin(), cb.boundaries.end());
  return cb;
}

double distortion_under(const Density& f, const Codebook& cb) {
  const int k_levels = cb.levels();
  double total = 0.0;
  for (int i = 0; i < k_levels; ++i) {
    const double a = i == 0 ? f.lo() : cb.boundaries[i - 1];
    const double b = i == k_levels - 1 ? f.hi() : cb.boundaries[i];
    total += f.moments(a, b, cb.centroids[i]).m2c;
  }
  return total;
}

Codebook solve_density(const Density& f, CodebookSource source, int64_t dim, int bits) {
  const int k_levels = 1 << bits;
  const double sigma = f.scale_t();
  std::vector<double> t = f.cube_root_quantiles(k_levels);
  const double tol = 1e-14 * sigma;
  int iterations = 0;
  CellState s = evaluate(f, t);
  // A few Lloyd steps bring the start into Newton's basin.
  for (int it = 0; it < 30 && s.max_residual > tol; ++it, ++iterations) {
    for (int i = 0; i + 1 < k_levels; ++i) t[i] = 0.5 * (s.c[i] + s.c[i + 1]);
    s = evaluate(f, t);
  }
  // Newton on g_i(t) = t_i − (c_i + c_{i+1})/2 = 0, i = 0..K−2 (boundary i separates cells i, i+1).
  const int n = k_levels - 1;
  std::vector<double> diag(n), lower(n), upper(n), rhs(n), step(n), trial(n);
  for (int it = 0; it < 200 && s.max_residual > tol; ++it, ++iterations) {
    // dc_j/d(lo_j) = f(lo)(c − lo)/m0, dc_j/d(hi_j) = f(hi)(hi − c)/m0 for cell j = [lo_j, hi_j].
    auto dc_dlo = [&](int j) { return s.m0[j] > 0 ? f.pdf(t[j - 1]) * (s.c[j] - t[j - 1]) / s.m0[j] : 0.0; };
    auto dc_dhi = [&](int j) { return s.m0[j] > 0 ? f.pdf(t[j]) * (t[j] - s.c[j]) / s.m0[j] : 0.0; };
    for (int i = 0; i < n; ++i) {
      diag[i] = 1.0 - 0.5 * (dc_dhi(i) + dc_dlo(i + 1));
      lower[i] = i > 0 ? -0.5 * dc_dlo(i) : 0.0;         // ∂g_i/∂t_{i−1} (t_{i−1} = lo of cell i)
      upper[i] = i + 1 < n ? -0.5 * dc_dhi(i + 1) : 0.0;  // ∂g_i/∂t_{i+1} (t_{i+1} = hi of cell i+1)
      rhs[i] = -(t[i] - 0.5 * (s.c[i] + s.c[i + 1]));
    }
    // Thomas algorithm.
    for (int i = 1; i < n; ++i) {
      const double w = lower[i] / diag[i - 1];
      diag[i] -= w * upper[i - 1];
      rhs[i] -= w * rhs[i - 1];
    }
    step[n - 1] = rhs[n - 1] / diag[n - 1];
    for (int i = n - 2; i >= 0; --i) step[i] = (rhs[i] - upper[i] * step[i + 1]) / diag[i];
    // Damped step: accept the first of 1, 1/2, 1/4, ... that keeps order and lowers the residual.
    bool accepted = false;
    for (double alpha = 1.0; alpha > 1e-6; alpha *= 0.5) {
      for (int i = 0; i < n; ++i) trial[i] = t[i] + alpha * step[i];
      if (!strictly_ascending(trial, f.lo(), f.hi())) continue;
      CellState ts = evaluate(f, trial);
      if (ts.max_residual < s.max_residual) {
        t = trial;
        s = std::move(ts);
        accepted = true;
        break;
      }
    }
    if (!accepted) {  // fall back to a Lloyd step (never increases the distortion)
      for (int i = 0; i + 1 < k_levels; ++i) t[i] = 0.5 * (s.c[i] + s.c[i + 1]);
      const double before = s.max_residual;
      s = evaluate(f, t);
      if (!(s.max_residual < before)) break;  // converged to rounding
    }
  }
  Codebook cb = finish(source, dim, bits, s.c);
  cb.iterations = iterations;
  cb.distortion = distortion_under(f, cb);
  cb.second_moment = f.moments(f.lo(), f.hi(), 0.0).m2c;
  return cb;
}

Status check_bits(int bits) {
  if (bits < kMinCodebookBits || bits > kMaxCodebookBits)
    return invalid_argument("codebook bit width must be in [{}, {}], got {}", kMinCodebookBits,
                            kMaxCodebookBits, bits);
  return ok_status();
}

}  // namespace

const char* codebook_source_name(CodebookSource s) {
  switch (s) {
    case CodebookSource::kSphere: return "sphere";
    case CodebookSource::kGaussian: return "gaussian";
    case CodebookSource::kEmpirical: return "empirical";
  }
  return "unknown";
}

int Codebook::quantize(double t) const {
  return static_cast<int>(std::lower_bound(boundaries.begin(), boundaries.end(), t) - boundaries.begin());
}

Codebook Codebook::scaled(double s) const {
  Codebook out = *this;
  for (auto& c : out.centroids) c *= s;
  for (auto& b : out.boundaries) b *= s;
  out.centroids_f32.assign(out.centroids.begin(), out.centroids.end());
  out.boundaries_f32.assign(out.boundaries.begin(), out.boundaries.end());
  out.distortion *= s * s;
  out.second_moment *= s * s;
  return out;
}

Result<Codebook> solve_sphere_codebook(int64_t dim, int bits) {
  TQ_RETURN_IF_ERROR(check_bits(bits));
  if (dim < 2) return invalid_argument("sphere codebook needs dimension >= 2, got {}", dim);
  return solve_density(SphereDensity(dim), CodebookSource::kSphere, dim, bits);
}

Result<Codebook> solve_gaussian_codebook(int bits) {
  TQ_RETURN_IF_ERROR(check_bits(bits));
  return solve_density(GaussianDensity(), CodebookSource::kGaussian, 0, bits);
}

Result<Codebook> solve_empirical_codebook(std::span<const float> sample, int bits) {
  TQ_RETURN_IF_ERROR(check_bits(bits));
  const int k_levels = 1 << bits;
  std::vector<double> x(sample.begin(), sample.end());
  for (size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i])) return invalid_argument("empirical codebook sample[{}] is not finite ({})", i, x[i]);
  std::sort(x.begin(), x.end());
  std::vector<double> uniq = x;
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
  if (static_cast<int64_t>(uniq.size()) < k_levels)
    return invalid_argument("empirical codebook with {} bits needs >= {} distinct sample values, got {}", bits,
                            k_levels, uniq.size());
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<double> prefix(n + 1, 0.0);  // [n + 1] running sums of the sorted sample
  for (int64_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + x[i];
  std::vector<double> c(k_levels), b(k_levels - 1), prev_b;
  const int64_t u = static_cast<int64_t>(uniq.size());
  for (int i = 0; i < k_levels; ++i) c[i] = uniq[(2 * static_cast<int64_t>(i) + 1) * u / (2 * k_levels)];
  int iterations = 0;
  for (; iterations < 10000; ++iterations) {
    for (int i = 0; i + 1 < k_levels; ++i) b[i] = 0.5 * (c[i] + c[i + 1]);
    if (b == prev_b) break;
    prev_b = b;
    // Cell i holds b[i−1] < x <= b[i] (a value on a boundary goes to the lower cell, like quantize()).
    int64_t begin = 0;
    for (int i = 0; i < k_levels; ++i) {
      const int64_t end =
          i + 1 < k_levels ? std::upper_bound(x.begin(), x.end(), b[i]) - x.begin() : n;
      if (end > begin) c[i] = (prefix[end] - prefix[begin]) / static_cast<double>(end - begin);
      begin = end;
    }
    std::sort(c.begin(), c.end());
  }
  Codebook cb = finish(CodebookSource::kEmpirical, 0, bits, c);
  cb.iterations = iterations;
  double err = 0.0, sq = 0.0;
  for (double v : x) {
    const double e = v - cb.centroids[cb.quantize(v)];
    err += e * e;
    sq += v * v;
  }
  cb.distortion = err / static_cast<double>(n);
  cb.second_moment = sq / static_cast<double>(n);
  return cb;
}

Result<const Codebook*> sphere_codebook(int64_t dim, int bits) {
  static std::mutex mu;
  static std::map<std::pair<int64_t, int>, std::unique_ptr<const Codebook>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find({dim, bits});
  if (it != cache.end()) return it->second.get();
  TQ_ASSIGN_OR_RETURN(Codebook cb, solve_sphere_codebook(dim, bits));
  auto [pos, inserted] = cache.emplace(std::make_pair(dim, bits), std::make_unique<const Codebook>(std::move(cb)));
  return pos->second.get();
}

Result<const Codebook*> gaussian_codebook(int bits) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<const Codebook>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(bits);
  if (it != cache.end()) return it->second.get();
  TQ_ASSIGN_OR_RETURN(Codebook cb, solve_gaussian_codebook(bits));
  auto [pos, inserted] = cache.emplace(bits, std::make_unique<const Codebook>(std::move(cb)));
  return pos->second.get();
}

double sphere_coordinate_pdf(int64_t dim, double t) { return SphereDensity(dim).pdf(t); }

double sphere_distortion(const Codebook& cb, int64_t dim) { return distortion_under(SphereDensity(dim), cb); }

double gaussian_distortion(const Codebook& cb) { return distortion_under(GaussianDensity(), cb); }

}  // namespace tq

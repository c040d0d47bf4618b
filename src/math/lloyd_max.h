// Lloyd–Max scalar codebooks (TurboQuant step 2, DESIGN.md §1): the optimal b-bit quantizer for a
// known density, solved once, to double precision, deterministically.
//
// Densities:
//   sphere    the exact density of one coordinate of a uniformly random unit vector in R^d,
//             f(t) ∝ (1−t²)^((d−3)/2) on [−1, 1] (≈ N(0, 1/d) for large d). TurboQuant's codebook.
//   gaussian  the standard normal N(0, 1).
//   empirical a sample (1-D k-means on the sorted sample; distortion = the sample's mean error).
//
// Solver: boundaries start at quantiles of the asymptotically optimal point density (∝ f^(1/3)),
// take Lloyd steps (boundary = midpoint of centroids, centroid = conditional mean), then Newton
// steps on the fixed-point equations (tridiagonal Jacobian, analytic derivatives) until the
// boundaries move less than 1e-14 of the density's scale. Integrals are composite 20-point
// Gauss–Legendre over panels no wider than half a standard deviation (for the sphere, in the angle
// φ = asin t, where the integrand cos^(d−2)φ is smooth for every d ≥ 2), which is exact to double
// rounding for these analytic densities.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tq/status.h"

namespace tq {

inline constexpr int kMinCodebookBits = 1;
inline constexpr int kMaxCodebookBits = 8;

enum class CodebookSource : uint8_t { kSphere = 1, kGaussian = 2, kEmpirical = 3 };
const char* codebook_source_name(CodebookSource s);  // "sphere", "gaussian", "empirical"

struct Codebook {
  CodebookSource source = CodebookSource::kGaussian;
  int64_t dim = 0;  // sphere: the vector dimension d; 0 otherwise
  int bits = 0;     // 1..8; levels() = 2^bits
  std::vector<double> centroids;       // [2^bits] strictly ascending reconstruction values
  std::vector<double> boundaries;      // [2^bits − 1] ascending; boundaries[i] = (c[i] + c[i+1]) / 2
  std::vector<float> centroids_f32;    // [2^bits] centroids rounded to float (kernels)
  std::vector<float> boundaries_f32;   // [2^bits − 1] boundaries rounded to float (kernels)
  double distortion = 0.0;     // E[(T − Q(T))²] per coordinate under the design density
  double second_moment = 0.0;  // E[T²] under the design density (sphere: 1/d; gaussian: 1)
  int iterations = 0;          // solver steps taken (diagnostics)

  int levels() const { return 1 << bits; }
  // Index of the cell holding t: the number of boundaries strictly below t (0 .. levels()−1).
  int quantize(double t) const;
  // Sphere codebooks: the expected ‖u − û‖² of a uniformly random unit vector u ∈ R^dim, i.e.
  // dim·distortion (≈ 0.3634, 0.1175, 0.03454, 0.009497 for b = 1..4). Others: distortion.
  double unit_vector_mse() const { return dim > 0 ? static_cast<double>(dim) * distortion : distortion; }
  // The same quantizer for the variable s·T (centroids, boundaries ×s; distortion, moment ×s²). s > 0.
  Codebook scaled(double s) const;
};

// ---- solvers (deterministic; each call solves from scratch) ------------------------------------

// Sphere density for dimension dim >= 2, bits in [1, 8].
Result<Codebook> solve_sphere_codebook(int64_t dim, int bits);
// Standard normal, bits in [1, 8].
Result<Codebook> solve_gaussian_codebook(int bits);
// Empirical sample: finite values with at least 2^bits distinct ones; bits in [1, 8].
// Centroids are conditional means of the sample; distortion is the sample's mean squared error.
Result<Codebook> solve_empirical_codebook(std::span<const float> sample, int bits);

// ---- cached accessors (thread-safe; the codebook lives until exit) -----------------------------

// The sphere codebook for (dim, bits), solved on first use (≈ milliseconds), then shared.
Result<const Codebook*> sphere_codebook(int64_t dim, int bits);
// The standard-normal codebook for bits.
Result<const Codebook*> gaussian_codebook(int bits);

// ---- densities (normalized), exposed for tests and reports -------------------------------------

// f(t) = (1−t²)^((d−3)/2) / Z_d on [−1, 1] for d >= 2 (0 outside).
double sphere_coordinate_pdf(int64_t dim, double t);
// E[(T − Q(T))²] of `cb` under the sphere density of dimension dim (numerical integration).
double sphere_distortion(const Codebook& cb, int64_t dim);
// E[(T − Q(T))²] of `cb` under N(0, 1).
double gaussian_distortion(const Codebook& cb);

}  // namespace tq

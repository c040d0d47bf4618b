// Measurements of the TurboQuant codec against its theory, for `tq codec-report` (docs/CODEC.md):
// unit-vector MSE per bit width, inner-product bias/variance, the rotation decisions (rounds,
// non-power-of-two handling) and fractional rates. Each function is seeded and deterministic.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tq/codec.h"
#include "tq/status.h"

namespace tq {

// ---- unit-vector MSE ---------------------------------------------------------------------------

struct MseMeasurement {
  int64_t dim = 0;
  int bits = 0;
  int64_t n = 0;              // vectors
  double measured = 0.0;      // mean ‖u − û‖²
  double std_error = 0.0;     // of the mean
  double theory = 0.0;        // the codebook's dim·distortion (numerical integration)
  double lower_bound = 0.0;   // 4^−b
};
// n random unit vectors (seeded), TurboQuant_mse at (dim, bits) with rotation seed `seed`.
Result<MseMeasurement> measure_unit_mse(int64_t dim, int bits, int64_t n, uint64_t seed);

// ---- inner products ----------------------------------------------------------------------------

struct InnerProductMeasurement {
  CodecKind kind = CodecKind::kMse;
  int64_t dim = 0;
  int bits = 0;
  int64_t pairs = 0;
  double bias = 0.0, bias_se = 0.0;  // mean of (estimate − truth)/(‖x‖‖q‖) and its standard error
  double rmse = 0.0;                 // sqrt(mean ((estimate − truth)/(‖x‖‖q‖))²)
  double var_over_bound = 0.0;       // kProd: mean of err² / ((π/2d)·‖r‖²‖q‖²); 0 for kMse
};
// `pairs` (x, q) pairs with ⟨x, q⟩/(‖x‖‖q‖) ≈ 0.6, a fresh codec seed per pair.
Result<InnerProductMeasurement> measure_inner_products(CodecKind kind, int64_t dim, int bits, int64_t pairs,
                                                       uint64_t seed);

// ---- rotation decisions ------------------------------------------------------------------------

enum class InputFamily { kGaussian, kOneHot, kFourHot, kOutlierChannels, kEnergyBlock };
const char* input_family_name(InputFamily f);
inline constexpr InputFamily kAllInputFamilies[] = {InputFamily::kGaussian, InputFamily::kOneHot,
                                                    InputFamily::kFourHot, InputFamily::kOutlierChannels,
                                                    InputFamily::kEnergyBlock};
// [n, dim] vectors of a family: Gaussian; one-hot; 4-hot (±0.5); Gaussian with 4 channels ×20;
// Gaussian with the first third of the channels ×30 (energy in one block).
std::vector<float> make_input_family(InputFamily f, int64_t n, int64_t dim, uint64_t seed);

// How a rotation for a non-power-of-two d is built (ours is kWindows; the others are the
// alternatives the decision was measured against).
enum class RotationLayout { kWindows, kBlockDiagonal, kKronecker, kZeroPad, kDenseHaar };
const char* rotation_layout_name(RotationLayout l);

struct RotationMeasurement {
  double ratio_mean = 0.0;  // measured MSE / theory, mean over seeds
  double ratio_sd = 0.0;    // spread over seeds
  double bits_per_coordinate = 0.0;  // codes only (zero padding spends more)
};
// MSE of TurboQuant_mse (quantization against the sphere codebook of the rotated dimension) with
// the given layout and rounds, on `n` vectors of a family, over `n_seeds` rotation seeds.
Result<RotationMeasurement> measure_rotation(RotationLayout layout, int rounds, InputFamily family, int64_t dim,
                                             int bits, int64_t n, int n_seeds, uint64_t seed);
// Same with the real vectors x: [n, dim] (e.g. SIFT descriptors).
Result<RotationMeasurement> measure_rotation_on(RotationLayout layout, int rounds, const std::vector<float>& x,
                                                int64_t n, int64_t dim, int bits, int n_seeds, uint64_t seed);

// ---- QJL sketch kinds --------------------------------------------------------------------------

struct QjlMeasurement {
  double bias_z = 0.0;          // mean error / its standard error
  double var_over_bound = 0.0;  // variance / ((π/2d)‖r‖²‖q‖²)
};
// Fixed r, q with cosine `cos_rq`, `trials` fresh sketches of the given kind ("structured"/"gaussian").
Result<QjlMeasurement> measure_qjl(bool structured, int64_t dim, double cos_rq, int trials, uint64_t seed);

// ---- fractional rates --------------------------------------------------------------------------

struct RateMeasurement {
  std::string label;            // e.g. "2.5 bits (64 ch at 3 + 64 at 2)"
  double bits_per_coordinate;   // including norms
  double relative_mse;          // Σ‖x − x̂‖² / Σ‖x‖²
};
// On `n` vectors with outlier channels, single codecs at 2, 3, 4 bits and splits at 2.5 and 3.5
// (outlier channels chosen by energy from the same data).
Result<std::vector<RateMeasurement>> measure_fractional_rates(int64_t dim, int64_t n, uint64_t seed);

// Reads an .fvecs file (int32 dim, then dim floats, per vector) into [n, dim]; at most max_n rows.
Result<std::vector<float>> read_fvecs(const std::string& path, int64_t max_n, int64_t* dim, int64_t* n);

}  // namespace tq

// Per-vector kernels of the TurboQuant codec, in the rotated domain. Two tables with the same
// contract: the scalar reference (the oracle) and the Highway SIMD version (runtime dispatch).
// Internal to src/formats; other layers use include/tq/codec.h.
#pragma once

#include <cstdint>

namespace tq {

struct TurboQuantKernels {
  const char* name;  // "reference" or "simd"
  // idx[j] = number of boundaries strictly below y[j]·scale (0 .. 2^bits − 1), j < d.
  // boundaries: [2^bits − 1] ascending.
  void (*quantize)(const float* y, int64_t d, float scale, const float* boundaries, int bits, uint8_t* idx);
  // out[j] = centroids[idx[j]]·scale. centroids: [2^bits]; idx values < 2^bits.
  void (*dequantize)(const uint8_t* idx, int64_t d, const float* centroids, int bits, float scale, float* out);
  // Σ_j q[j]·centroids[idx[j]].
  float (*dot_codes)(const float* q, const uint8_t* idx, int64_t d, const float* centroids, int bits);
  // Σ_j q[j]·c[idx[j]] into *qc and Σ_j c[idx[j]]² into *cc.
  void (*dot_codes_l2)(const float* q, const uint8_t* idx, int64_t d, const float* centroids, int bits, float* qc,
                       float* cc);
  // Σ_j x[j]² accumulated in double (no overflow for any finite float input).
  double (*sum_squares)(const float* x, int64_t d);
  // out[j] = a[j] − centroids[idx[j]] (the rotated residual of TurboQuant_prod).
  void (*residual)(const float* a, const uint8_t* idx, int64_t d, const float* centroids, int bits, float* out);
};

const TurboQuantKernels& turboquant_reference_kernels();
// The SIMD table; each call dispatches to the best Highway target of this CPU.
const TurboQuantKernels& turboquant_simd_kernels();
// Name of the Highway target the SIMD table dispatches to now, e.g. "AVX3_ZEN4" or "AVX3_DL".
const char* turboquant_simd_target();

}  // namespace tq

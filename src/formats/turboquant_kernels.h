// Per-vector kernels of the TurboQuant codec, in the rotated domain. Two tables with the same
// contract: the scalar reference (the oracle) and the Highway SIMD version (runtime dispatch).
// Internal to src/formats; other layers use include/tq/codec.h.
#pragma once

#include <cstdint>
#include <vector>

namespace tq {

// Speeds up quantize() for bits >= 5: a uniform grid over the boundaries' span, fine enough that a
// grid cell (with one cell of slack for rounding) holds at most two boundaries. Per value: one LUT
// gather and two boundary gathers instead of a `bits`-step binary search.
struct QuantizeGrid {
  std::vector<int32_t> lut;            // [cells] boundaries strictly below the lower edge of cell g − 1
  std::vector<float> boundaries;       // [2^bits] the boundaries, then +inf
  float lo = 0.0f, inv_width = 0.0f;   // cell g covers [lo + g/inv_width, lo + (g+1)/inv_width)
  int32_t cells = 0;
};
// Empty grid (cells == 0) when bits < 5 or the boundaries are too unevenly spaced.
QuantizeGrid make_quantize_grid(const float* boundaries, int bits);

struct TurboQuantKernels {
  const char* name;  // "reference" or "simd"
  // idx[j] = number of boundaries strictly below y[j]·scale (0 .. 2^bits − 1), j < d.
  // boundaries: [2^bits − 1] ascending; grid: make_quantize_grid(boundaries) (may be empty).
  void (*quantize)(const float* y, int64_t d, float scale, const float* boundaries, int bits,
                   const QuantizeGrid& grid, uint8_t* idx);
  // out[j] = centroids[idx[j]]·scale. centroids: [2^bits]; idx values < 2^bits.
  void (*dequantize)(const uint8_t* idx, int64_t d, const float* centroids, int bits, float scale, float* out);
  // Σ_j q[j]·centroids[idx[j]].
  float (*dot_codes)(const float* q, const uint8_t* idx, int64_t d, const float* centroids, int bits);
  // Σ_j q[j]·c[idx[j]] into *qc and Σ_j c[idx[j]]² into *cc.
  void (*dot_codes_l2)(const float* q, const uint8_t* idx, int64_t d, const float* centroids, int bits, float* qc,
                       float* cc);
  // Σ_j x[j]² accumulated in double (no overflow for any finite float input).
  double (*sum_squares)(const float* x, int64_t d);
  // out[j] = a[j]·scale − centroids[idx[j]] (the rotated residual of TurboQuant_prod).
  void (*residual)(const float* a, float scale, const uint8_t* idx, int64_t d, const float* centroids, int bits,
                   float* out);
  // out[i] = Σ_j q[j]·centroids[code_ij] for n rows of packed codes (math/bitpack.h layout, `bits`
  // each) starting at codes + i·stride. Unpacks 1-, 2-, 4- and 8-bit codes in registers.
  // scratch: [d] bytes.
  void (*score_rows)(const float* q, const uint8_t* codes, int64_t stride, int64_t n, int64_t d,
                     const float* centroids, int bits, uint8_t* scratch, float* out);
};

const TurboQuantKernels& turboquant_reference_kernels();
// The SIMD table; each call dispatches to the best Highway target of this CPU.
const TurboQuantKernels& turboquant_simd_kernels();

}  // namespace tq

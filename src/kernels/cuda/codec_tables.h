// Device-side description of one VectorCodec (include/tq/codec.h): plain values and device
// pointers, passed to kernels by value. Filled by GpuCodec (codec_cuda.cc); read by the .cu files.
#pragma once

#include <cstdint>

namespace tq::cuda {

// One HadamardRotation (math/rotation.h) on the device.
struct RotationTables {
  int32_t dim = 0;              // d
  int32_t block = 0;            // P: FWHT size, largest power of two <= d
  int32_t rounds = 0;
  int32_t windows = 0;          // 1: RotationForm::kWindows (P < d), 0: kHadamard
  int32_t signs_per_round = 0;  // d (kHadamard) or 2P (kWindows)
  const float* signs = nullptr;    // [rounds, signs_per_round]  ±1/sqrt(P)
  const int32_t* perm = nullptr;   // [rounds, d]  kWindows: after round r, y[i] = y_old[perm[i]]
  const int32_t* iperm = nullptr;  // [rounds, d]  its inverse
};

struct CodecTables {
  int32_t dim = 0;         // d
  int32_t dim_pad = 0;     // d rounded up to a multiple of 32 (shared-memory row stride, scoring groups)
  int32_t mse_bits = 0;    // 0..8 (0: kProd at 1 bit, a pure QJL sketch)
  int32_t prod = 0;        // 1 for CodecKind::kProd
  int32_t mse_bytes = 0;   // ceil(d·mse_bits / 8)
  int32_t sign_bytes = 0;  // ceil(d / 8) for kProd, else 0
  int32_t code_bytes = 0;  // mse_bytes + sign_bytes: one row of the CPU layout
  float qjl_scale = 0.0f;  // κ (QjlSketch::scale() rounded to float, as the CPU codec)
  RotationTables rot;      // Π
  RotationTables qjl;      // the QJL sketch's rotation R (kProd)
  const float* centroids = nullptr;   // [2^mse_bits]
  const float* boundaries = nullptr;  // [2^mse_bits]: the 2^mse_bits − 1 boundaries, then +inf
};

// Arguments of the scoring kernel (score.cu). Codes in the interleaved device layout of GpuCodes:
// per block of 32 vectors, word w of vector v at words[(blk·W + w)·32 + v % 32].
inline constexpr int64_t kScoreVectorAlign = 512;  // vector arrays hold a multiple of this (zero-padded)
struct ScoreArgs {
  int64_t n = 0;        // vectors (the arrays below hold a multiple of kScoreVectorAlign)
  int64_t m = 0;        // queries
  int32_t groups = 0;   // dim_pad / 32: groups of 32 coordinates
  int32_t l2 = 0;       // 1: squared L2 distances, 0: inner products
  const uint32_t* mse_words = nullptr;   // [n/32, groups·mse_bits, 32]
  const uint32_t* sign_words = nullptr;  // [n/32, groups, 32] (kProd)
  const float* norms = nullptr;          // [n] ‖x‖
  const float* gammas = nullptr;         // [n] γ (kProd)
  const float* code_sq = nullptr;        // [n] Σ_j c[idx_j]² (kMse: for L2)
  const float* rotated = nullptr;        // [m, dim_pad] Π·q, zero-padded
  const float* projected = nullptr;      // [m, dim_pad] R·Π·q (kProd), zero-padded
  const float* projected_sum = nullptr;  // [m] Σ_j (R·Π·q)_j (kProd)
  const double* query_sq = nullptr;      // [m] ‖q‖²
  float* out = nullptr;                  // [m, n]
};

}  // namespace tq::cuda

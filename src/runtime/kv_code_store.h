// The quantized KV store behind q8 and the TurboQuant KV formats (tq2..tq4, tq2.5..tq4.5, tq3p,
// tq4p): each cached head vector is one or two "parts", each part a set of channels, rotated by its
// own seeded randomized Hadamard transform, coded with b bits per coordinate against int8 levels,
// with one f16 scale per position. Attention runs on the codes (kernels/kv_codes.h): the query is
// rotated once per head and part, values are accumulated in the rotated basis and rotated back once
// per head and query. Internal to runtime; formats are registered in kv_code_formats.cc.
#pragma once

#include <memory>
#include <vector>

#include "kernels/kv_codes.h"
#include "runtime/kv_cache.h"

namespace tq {

enum class KvLevelRule : uint8_t {
  kLloydMax,  // the Lloyd–Max codebook of a coordinate of a random unit vector in R^n, as int8
              // (bits 1..5; above that int8 rounding would merge levels)
  kGaussUniform,  // equally spaced int8 levels at the Gaussian-optimal step (bits 6..8)
  kUniform8,  // code − 128, used with kAbsMax (q8)
  kSign,      // 1 bit: −1 / +1 (the QJL sketch of TurboQuant_prod)
};

struct KvPartSpec {
  int bits = 4;
  KvLevelRule levels = KvLevelRule::kLloydMax;
  KvScaleRule scale = KvScaleRule::kLeastSquares;
  bool rotate = true;
};

enum class KvSplit : uint8_t {
  kNone,         // one part: every channel
  kOutliers,     // part 0: the head_dim / outlier_den channels of largest energy (KvChannelStats),
                 // part 1: the others; each rotated and scaled on its own
  kQjlResidual,  // TurboQuant_prod keys: part 0 every channel; part 1 the signs of a QJL projection
                 // of part 0's residual in its rotated basis, scale = ‖residual‖
  kTransform,    // tqw: runtime/kv_transform.h decides the parts per layer / role / head from
                 // KvChannelStats second moments; all parts share one f16 scale
};

struct CodeKvSpec {
  std::vector<KvPartSpec> parts;  // 1 (kNone) or 2
  KvSplit split = KvSplit::kNone;
  int64_t outlier_den = 4;
  bool keys_only = false;  // kQjlResidual: only an inner-product estimator, no values
  double transform_bits = 0;  // kTransform: bits per element, the shared scale included
};

// Bytes per token of one layer, all KV heads: codes (n padded to 16) + the f16 scales.
double code_kv_bytes_per_token(const CodeKvSpec& spec, int64_t n_kv_heads, int64_t head_dim);

// One layer's store. Errors name `name`: head_dim too small for the split, a value store of a
// keys-only format, missing channel statistics.
Result<std::unique_ptr<KvStore>> make_code_kv_store(const CodeKvSpec& spec, const char* name,
                                                    const KvStoreShape& shape);

}  // namespace tq

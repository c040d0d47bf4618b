// The scale search of kv_encode_shared (kernels/kv_codes.h), generic over the coding pass so the
// SIMD table and the scalar oracle share it. Internal to src/kernels.
#pragma once

#include "kernels/kv_codes.h"

namespace tq {

using KvCodePassFn = void (*)(const float* y, int64_t n, float s, const float* centroids,
                              const float* boundaries, int bits, bool uniform, uint8_t* idx,
                              double* a, double* b);

float kv_encode_shared_with(const KvCodePart* parts, int n_parts, KvScaleRule rule,
                            KvCodePassFn pass);

}  // namespace tq

// Scalar reference of the integer quantized-weight matmul (kernels/matmul_quant.h): the same
// activation quantization and integer sums as the fast kernels, floats combined in group order.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/half.h"
#include "formats/quant_baselines.h"
#include "formats/tq_weight.h"
#include "kernels/matmul_quant.h"
#include "math/rotation.h"

namespace tq::ref {
namespace {

// Step 1 of the arithmetic for one group: q[0..G), the group scale a and Σq.
void quantize_group(const float* x, int group, bool rotate, int8_t* q, float* a, int32_t* qsum) {
  std::vector<float> u(x, x + group);
  if (rotate) ref::sign_fwht(u.data(), tq_rotation_signs(group).data(), group);
  float amax = 0.0f;
  for (float v : u) amax = std::max(amax, std::fabs(v));
  int32_t s = 0;
  if (!std::isfinite(amax)) {
    for (int i = 0; i < group; ++i) q[i] = 0;
    *a = NAN;
    *qsum = 0;
    return;
  }
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  for (int i = 0; i < group; ++i) {
    q[i] = static_cast<int8_t>(std::nearbyint(u[i] * inv));
    s += q[i];
  }
  const float d = amax / 127.0f;
  *a = rotate ? d * (1.0f / std::sqrt(static_cast<float>(group))) : d;
  *qsum = s;
}

}  // namespace

void matmul_quant(const WeightView& w, const float* x, int64_t n_tokens, float* y,
                  bool unit_scales) {
  const QuantLayout L = quant_layout(w);
  const int G = L.group;
  const int64_t n_groups = L.n_groups;
  std::vector<int8_t> q(static_cast<size_t>(n_groups * G));
  std::vector<float> a(static_cast<size_t>(n_groups));
  std::vector<int32_t> qsum(static_cast<size_t>(n_groups));
  std::vector<int32_t> wint(static_cast<size_t>(G));
  std::vector<uint8_t> idx(static_cast<size_t>(G));
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int64_t g = 0; g < n_groups; ++g) {
      quantize_group(x + t * w.n_cols + g * G, G, L.rotate, q.data() + g * G, &a[g], &qsum[g]);
      if (unit_scales) a[g] = 1.0f;
    }
    for (int64_t r = 0; r < w.n_rows; ++r) {
      const uint8_t* row = w.row(r);
      float acc = 0.0f;
      int64_t slot = 0;
      for (int si = 0; si < L.n_segments; ++si) {
        const QuantSegment& S = L.seg[si];
        float seg_acc = 0.0f;
        for (int64_t j = 0; j < S.n_groups; ++j, ++slot) {
          const int64_t g = L.slot_group ? L.slot_group[slot] : slot;
          const uint8_t* blk = row + S.byte_offset + j * S.block_bytes;
          float ws = 1.0f, wm = 0.0f;
          switch (L.kind) {
            case QuantKind::kTq:
              tq_unpack_group(blk, S.bits, G, idx.data(), &ws);
              for (int i = 0; i < G; ++i) wint[i] = S.codebook[idx[i]];
              break;
            case QuantKind::kRtn4:
              rtn4_unpack_group(blk, idx.data(), &ws, &wm);
              for (int i = 0; i < G; ++i) wint[i] = idx[i];
              break;
            case QuantKind::kQ8:
              for (int i = 0; i < G; ++i) wint[i] = static_cast<int8_t>(blk[i]);
              break;
          }
          int32_t isum = 0;
          const int8_t* qg = q.data() + g * G;
          for (int i = 0; i < G; ++i) isum += wint[i] * qg[i];
          if (L.kind == QuantKind::kRtn4) {
            seg_acc += ws * a[g] * static_cast<float>(isum) + wm * (a[g] * static_cast<float>(qsum[g]));
          } else {
            seg_acc += ws * a[g] * static_cast<float>(isum);
          }
        }
        const float kappa = unit_scales ? 1.0f : S.kappa;
        acc += kappa * seg_acc;
      }
      if (L.kind == QuantKind::kQ8) {
        float d;
        std::memcpy(&d, row, 4);
        acc *= d;
      }
      y[t * w.n_rows + r] = acc;
    }
  }
}

}  // namespace tq::ref

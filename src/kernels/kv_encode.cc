#include "kernels/kv_encode.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/half.h"

namespace tq {
namespace {

float round_f16(float s) {
  return f16_to_f32(f32_to_f16(std::min(s, 65504.0f)));
}

}  // namespace

float kv_encode_shared_with(const KvCodePart* parts, int n_parts, KvScaleRule rule,
                            KvCodePassFn pass) {
  TQ_CHECK(n_parts >= 1 && rule != KvScaleRule::kAbsMax, "kv_encode_shared: {} parts", n_parts);
  double yy = 0, nss = 0;
  int64_t total = 0;
  for (int i = 0; i < n_parts; ++i) {
    const KvCodePart& p = parts[i];
    TQ_CHECK(p.n >= 1 && p.bits >= 1 && p.bits <= (p.uniform ? 8 : 6) && p.sigma > 0,
             "kv_encode_shared: part {}", i);
    for (int64_t c = 0; c < p.n; ++c) yy += static_cast<double>(p.y[c]) * p.y[c];
    nss += static_cast<double>(p.n) * p.sigma * p.sigma;
    total += p.n;
  }
  const float s0 = static_cast<float>(std::sqrt(yy / nss));
  double a, b;
  if (!(s0 > 0.0f)) {  // zero vector: the levels nearest 0, scale 0
    for (int i = 0; i < n_parts; ++i)
      pass(parts[i].y, parts[i].n, 1.0f, parts[i].centroids, parts[i].boundaries, parts[i].bits,
           parts[i].uniform, parts[i].idx, &a, &b);
    return 0.0f;
  }
  // Σ_p sigma_p·<y_p, c_p> and Σ_p sigma_p²·<c_p, c_p> at scale s; codes into out (if not null).
  auto sweep = [&](float s, uint8_t* out, double* num, double* den) {
    double nu = 0, de = 0;
    for (int i = 0; i < n_parts; ++i) {
      const KvCodePart& p = parts[i];
      pass(p.y, p.n, s * p.sigma, p.centroids, p.boundaries, p.bits, p.uniform, out, &a, &b);
      if (out) out += p.n;
      nu += p.sigma * a;
      de += static_cast<double>(p.sigma) * p.sigma * b;
    }
    *num = nu;
    *den = de;
  };
  auto scatter = [&](const uint8_t* codes) {
    for (int i = 0; i < n_parts; ++i) {
      std::copy_n(codes, parts[i].n, parts[i].idx);
      codes += parts[i].n;
    }
  };
  thread_local std::vector<uint8_t> cand, best_codes;
  cand.resize(static_cast<size_t>(total));
  best_codes.resize(static_cast<size_t>(total));
  double num, den;
  if (rule == KvScaleRule::kNorm) {
    const float s = round_f16(s0);
    sweep(s, cand.data(), &num, &den);
    scatter(cand.data());
    return s;
  }
  double best = std::numeric_limits<double>::infinity();
  float best_s = round_f16(s0);
  for (float f : {0.9f, 1.0f, 1.1f}) {
    float s = f * s0;
    for (int it = 0; it < 4; ++it) {
      sweep(s, nullptr, &num, &den);
      const float next = den > 0 ? static_cast<float>(num / den) : s0;
      s = next > 0.0f ? next : s0;
    }
    s = round_f16(s);
    if (!(s > 0.0f)) continue;
    sweep(s, cand.data(), &num, &den);
    const double err = yy - 2.0 * s * num + static_cast<double>(s) * s * den;
    if (err < best) {
      best = err;
      best_s = s;
      best_codes.swap(cand);
      cand.resize(static_cast<size_t>(total));
    }
  }
  if (!(best < std::numeric_limits<double>::infinity())) {  // every start underflowed f16
    best_s = best_s > 0 ? best_s : 1.0f;
    sweep(best_s, best_codes.data(), &num, &den);
  }
  scatter(best_codes.data());
  return best_s;
}

}  // namespace tq

#include "quantize/tq_codec.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

#include "core/check.h"
#include "core/half.h"
#include "core/rng.h"
#include "math/lloyd_max.h"
#include "math/rotation.h"

namespace tq {
namespace {

// Until formats/tq_weight.h exists: the contract's rotation (one randomized Hadamard pass with
// seeded signs, the same for every group) and the sphere Lloyd–Max codebook in units of 1/sqrt(G).
constexpr uint64_t kShimSeed = 0x5455524251554e54ull;

TqCodec build(int bits, int group) {
  TqCodec b;
  b.bits = bits;
  b.group = group;
  b.type = static_cast<TypeId>(kTurboQuantTypeBase);  // placeholder until the merge
  auto cb = sphere_codebook(group, bits);
  TQ_CHECK(cb.ok(), "sphere codebook {} bits, G {}", bits, group);
  const double k = std::sqrt(static_cast<double>(group));
  for (double c : (*cb)->centroids) b.codebook.push_back(static_cast<float>(c * k));
  for (size_t i = 0; i + 1 < b.codebook.size(); ++i)
    b.boundaries.push_back(0.5f * (b.codebook[i] + b.codebook[i + 1]));
  Rng rng(mix_seed(kShimSeed, static_cast<uint64_t>(group)));
  const float inv = 1.0f / static_cast<float>(k);
  for (int i = 0; i < group; ++i) b.signs.push_back((rng.next_u64() & 1) ? inv : -inv);
  return b;
}

std::mutex g_mu;
std::map<std::pair<int, int>, std::unique_ptr<TqCodec>> g_codecs;

}  // namespace

const TqCodec& tq_codec(int bits, int group) {
  TQ_CHECK((bits >= 2 && bits <= 6) || bits == 8, "tq bits {}", bits);
  TQ_CHECK(group == 32 || group == 64 || group == 128, "tq group {}", group);
  std::lock_guard<std::mutex> lock(g_mu);
  auto& slot = g_codecs[{bits, group}];
  if (!slot) slot = std::make_unique<TqCodec>(build(bits, group));
  return *slot;
}

void TqCodec::rotate(float* x) const { sign_fwht(x, signs.data(), group); }
void TqCodec::unrotate(float* x) const { fwht_sign(x, signs.data(), group); }

int TqCodec::nearest(float t) const {
  // boundaries are ascending; the index is the number of boundaries strictly below t.
  return static_cast<int>(std::lower_bound(boundaries.begin(), boundaries.end(), t) -
                          boundaries.begin());
}

float round_fp16(float x) { return f16_to_f32(f32_to_f16(x)); }

double group_error(const TqCodec& codec, const float* v, float s, const uint8_t* idx) {
  double e = 0;
  for (int i = 0; i < codec.group; ++i) {
    const double d = static_cast<double>(v[i]) - static_cast<double>(s) * codec.codebook[idx[i]];
    e += d * d;
  }
  return e;
}

float quantize_group(const TqCodec& codec, const float* v, ScaleSearch search, uint8_t* idx) {
  const int G = codec.group;
  double nn = 0;
  for (int i = 0; i < G; ++i) nn += static_cast<double>(v[i]) * v[i];
  const float s0 = static_cast<float>(std::sqrt(nn / G));
  auto assign = [&](float s, uint8_t* out) {
    const float inv = 1.0f / s;
    for (int i = 0; i < G; ++i) out[i] = static_cast<uint8_t>(codec.nearest(v[i] * inv));
  };
  if (!(s0 > 0) || !std::isfinite(s0)) {
    assign(1.0f, idx);
    return 0.0f;
  }
  if (search == ScaleSearch::kNorm) {
    float s = round_fp16(s0);
    if (!(s > 0)) s = s0;
    assign(s, idx);
    return round_fp16(s);
  }
  uint8_t cur[128];
  double best_err = INFINITY;
  float best_s = 0;
  for (float f : {0.9f, 1.0f, 1.1f}) {
    float s = f * s0;
    for (int it = 0; it < 4; ++it) {
      assign(s, cur);
      double vc = 0, cc = 0;
      for (int i = 0; i < G; ++i) {
        const double c = codec.codebook[cur[i]];
        vc += v[i] * c;
        cc += c * c;
      }
      const double ls = cc > 0 ? vc / cc : 0.0;
      s = ls > 0 ? static_cast<float>(ls) : s0;
    }
    s = round_fp16(s);
    if (!(s > 0)) continue;  // underflow in fp16: handled by the norm fallback below
    assign(s, cur);
    const double e = group_error(codec, v, s, cur);
    if (e < best_err) {
      best_err = e;
      best_s = s;
      std::copy_n(cur, G, idx);
    }
  }
  if (best_s == 0) {  // the group is below fp16's range: store zero
    assign(1.0f, idx);
    return 0.0f;
  }
  return best_s;
}

}  // namespace tq

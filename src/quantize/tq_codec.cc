#include "quantize/tq_codec.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>

#include "core/check.h"
#include "core/half.h"
#include "formats/tq_weight.h"
#include "math/rotation.h"

namespace tq {
namespace {

// Everything comes from the format definition (formats/tq_weight.h): the exact codebook values the
// kernels use, the rotation signs σ_G (R = H_G·diag(σ)/√G) and the type id.
TqCodec build(int bits, int group) {
  const TqWeightSpec* spec = find_tq_weight(bits, group);
  TQ_CHECK(spec, "no tq weight format for {} bits, group {}", bits, group);
  TqCodec c;
  c.bits = bits;
  c.group = group;
  c.type = spec->id;
  const auto cb = tq_codebook(bits, group);
  c.codebook.assign(cb.begin(), cb.end());
  for (size_t i = 0; i + 1 < c.codebook.size(); ++i)
    c.boundaries.push_back(0.5f * (c.codebook[i] + c.codebook[i + 1]));
  const float inv = 1.0f / std::sqrt(static_cast<float>(group));
  for (float s : tq_rotation_signs(group)) c.signs.push_back(s * inv);
  return c;
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

// sign_fwht: x := H·diag(s)·x = R x with s = σ/√G; fwht_sign: x := diag(s)·H·x = Rᵀ x.
void TqCodec::rotate(float* x) const { sign_fwht(x, signs.data(), group); }
void TqCodec::unrotate(float* x) const { fwht_sign(x, signs.data(), group); }

int TqCodec::nearest(float t) const {
  // boundaries are ascending; the index is the number of boundaries strictly below t.
  return static_cast<int>(std::lower_bound(boundaries.begin(), boundaries.end(), t) -
                          boundaries.begin());
}

float round_fp16(float x) { return f16_to_f32(f32_to_f16(x)); }

double group_error(const TqCodec& codec, const float* v, float s, const uint8_t* idx) {
  return tq_group_error(v, idx, s, codec.bits, codec.group);
}

float quantize_group(const TqCodec& codec, const float* v, ScaleSearch search, uint8_t* idx) {
  if (search == ScaleSearch::kLeastSquares)
    return tq_quantize_rotated_group(v, codec.bits, codec.group, idx);  // the format's own search
  const int G = codec.group;
  double nn = 0;
  for (int i = 0; i < G; ++i) nn += static_cast<double>(v[i]) * v[i];
  float s = round_fp16(static_cast<float>(std::sqrt(nn / G)));
  if (!(s > 0) || !std::isfinite(s)) s = 0;
  const float inv = s > 0 ? 1.0f / s : 0.0f;
  for (int i = 0; i < G; ++i) idx[i] = static_cast<uint8_t>(codec.nearest(v[i] * inv));
  return s;
}

}  // namespace tq

// Format-table entries of the baseline formats q8 and rtn4 (formats/quant_baselines.h).
#include "formats/quant_baselines.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "formats/format_families.h"
#include "math/bitpack.h"

namespace tq {
namespace {

// ---- q8 ---------------------------------------------------------------------------------------
void q8_to_float(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  float d;
  std::memcpy(&d, p, 4);
  const auto* q = reinterpret_cast<const int8_t*>(p + 4);
  for (int64_t i = 0; i < n; ++i) dst[i] = d * static_cast<float>(q[i]);
}

void q8_from_float(const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  float amax = 0.0f;
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(src[i])) amax = std::max(amax, std::fabs(src[i]));
  const float d = amax / 127.0f;
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
  std::memcpy(p, &d, 4);
  auto* q = reinterpret_cast<int8_t*>(p + 4);
  for (int64_t i = 0; i < n; ++i) {
    float v = std::isnan(src[i]) ? 0.0f : std::clamp(src[i] * inv, -127.0f, 127.0f);
    q[i] = static_cast<int8_t>(std::nearbyint(v));
  }
}

// ---- rtn4 -------------------------------------------------------------------------------------
void rtn4_to_float(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  uint8_t q[kRtn4Group];
  for (int64_t g = 0; g < n / kRtn4Group; ++g) {
    float d, m;
    rtn4_unpack_group(p + g * sizeof(Rtn4Block), q, &d, &m);
    for (int i = 0; i < kRtn4Group; ++i) dst[g * kRtn4Group + i] = d * static_cast<float>(q[i]) + m;
  }
}

void rtn4_from_float(const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  uint8_t q[kRtn4Group];
  for (int64_t g = 0; g < n / kRtn4Group; ++g) {
    const float* x = src + g * kRtn4Group;
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < kRtn4Group; ++i)
      if (std::isfinite(x[i])) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
      }
    if (!(lo <= hi)) lo = hi = 0.0f;  // no finite value
    const float m = f16_to_f32(f32_to_f16(lo));
    const float d = f16_to_f32(f32_to_f16((hi - m) / 15.0f));
    const float inv = d > 0.0f ? 1.0f / d : 0.0f;
    for (int i = 0; i < kRtn4Group; ++i) {
      const float v = std::isnan(x[i]) ? 0.0f : std::clamp((x[i] - m) * inv, 0.0f, 15.0f);
      q[i] = static_cast<uint8_t>(std::nearbyint(v));
    }
    rtn4_pack_group(q, d, m, p + g * sizeof(Rtn4Block));
  }
}

const FormatTraits kBaselineFormats[] = {
    {kTypeQ8, "q8", kQ8BlockElems, kQ8BlockElems, true, q8_to_float, q8_from_float,
     "per-output-channel symmetric int8 (f32 scale per row)", 4},
    {kTypeRtn4, "rtn4", kRtn4Group, sizeof(Rtn4Block), true, rtn4_to_float, rtn4_from_float,
     "asymmetric int4, groups of 128 (f16 scale + f16 offset); also holds gptq4"},
};

}  // namespace

void rtn4_pack_group(const uint8_t* q, float scale, float min, void* block) {
  Rtn4Block b;
  b.d_f16 = f32_to_f16(scale);
  b.m_f16 = f32_to_f16(min);
  pack_bits(q, kRtn4Group, 4, b.codes);
  std::memcpy(block, &b, sizeof(b));
}

void rtn4_unpack_group(const void* block, uint8_t* q, float* scale, float* min) {
  Rtn4Block b;
  std::memcpy(&b, block, sizeof(b));
  *scale = f16_to_f32(b.d_f16);
  *min = f16_to_f32(b.m_f16);
  unpack_bits(b.codes, kRtn4Group, 4, q);
}

std::span<const FormatTraits> quant_baseline_formats() { return kBaselineFormats; }

}  // namespace tq

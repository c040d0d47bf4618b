// TurboQuant weight formats: spec table, exact codebooks, rotation, blocks, reference quantizer.
// See formats/tq_weight.h for the definition.
#include "formats/tq_weight.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

#include "core/check.h"
#include "core/half.h"
#include "core/rng.h"
#include "math/bitpack.h"
#include "math/lloyd_max.h"
#include "math/rotation.h"

namespace tq {
namespace {

constexpr uint32_t tq_id(int gi, int bits) {
  return kTurboQuantTypeBase + 16u * static_cast<uint32_t>(gi) + static_cast<uint32_t>(bits);
}

#define TQ_SPEC(gi, G, b) {static_cast<TypeId>(tq_id(gi, b)), "tq" #b "g" #G, b, b, G}
const TqWeightSpec kSpecs[] = {
    TQ_SPEC(0, 32, 2),  TQ_SPEC(0, 32, 3),  TQ_SPEC(0, 32, 4),  TQ_SPEC(0, 32, 5),
    TQ_SPEC(0, 32, 6),  TQ_SPEC(0, 32, 8),  TQ_SPEC(1, 64, 2),  TQ_SPEC(1, 64, 3),
    TQ_SPEC(1, 64, 4),  TQ_SPEC(1, 64, 5),  TQ_SPEC(1, 64, 6),  TQ_SPEC(1, 64, 8),
    TQ_SPEC(2, 128, 2), TQ_SPEC(2, 128, 3), TQ_SPEC(2, 128, 4), TQ_SPEC(2, 128, 5),
    TQ_SPEC(2, 128, 6), TQ_SPEC(2, 128, 8),
};
#undef TQ_SPEC

int group_index(int group) {
  switch (group) {
    case 32: return 0;
    case 64: return 1;
    case 128: return 2;
    default: return -1;
  }
}

int bits_index(int bits) {
  for (int i = 0; i < 6; ++i)
    if (kTqWeightBits[i] == bits) return i;
  return -1;
}

void check_pair(int bits, int group) {
  TQ_CHECK(bits_index(bits) >= 0 && group_index(group) >= 0,
           "no tq weight format with {} bits and group {}", bits, group);
}

// One (bits, group) codebook, exactly as the kernels use it.
struct TqCodebook {
  std::vector<int8_t> c_int;     // [2^bits] ascending
  std::vector<float> values;     // [2^bits] c_int · κ
  std::vector<float> midpoints;  // [2^bits − 1] (values[i] + values[i+1]) / 2
  float unit = 0.0f;             // κ
  int zero_index = 0;            // index of the value nearest 0
};

TqCodebook build_codebook(int bits, int group) {
  TqCodebook cb;
  const int levels = 1 << bits;
  cb.c_int.resize(levels);
  if (bits == 8) {
    cb.unit = 1.0f / 32.0f;
    for (int i = 0; i < levels; ++i) cb.c_int[i] = static_cast<int8_t>(i - 128);
  } else {
    auto lm = sphere_codebook(group, bits);
    TQ_CHECK(lm.ok(), "sphere codebook G={} b={}: {}", group, bits, lm.status().message());
    const double root = std::sqrt(static_cast<double>(group));
    double cmax = 0.0;
    for (double c : (*lm)->centroids) cmax = std::max(cmax, std::fabs(c * root));
    cb.unit = static_cast<float>(cmax / 127.0);
    for (int i = 0; i < levels; ++i) {
      const double q = std::nearbyint((*lm)->centroids[i] * root / static_cast<double>(cb.unit));
      cb.c_int[i] = static_cast<int8_t>(std::clamp(q, -127.0, 127.0));
    }
  }
  for (int i = 1; i < levels; ++i)
    TQ_CHECK(cb.c_int[i] > cb.c_int[i - 1], "tq codebook G={} b={} not strictly ascending on the "
             "int8 grid", group, bits);
  cb.values.resize(levels);
  for (int i = 0; i < levels; ++i) cb.values[i] = static_cast<float>(cb.c_int[i]) * cb.unit;
  cb.midpoints.resize(levels - 1);
  for (int i = 0; i + 1 < levels; ++i) cb.midpoints[i] = 0.5f * (cb.values[i] + cb.values[i + 1]);
  int z = 0;
  for (int i = 1; i < levels; ++i)
    if (std::fabs(cb.values[i]) < std::fabs(cb.values[z])) z = i;
  cb.zero_index = z;
  return cb;
}

const TqCodebook& codebook(int bits, int group) {
  check_pair(bits, group);
  static std::array<TqCodebook, 18> books;
  static std::array<std::once_flag, 18> once;
  const int k = group_index(group) * 6 + bits_index(bits);
  std::call_once(once[k], [&] { books[k] = build_codebook(bits, group); });
  return books[k];
}

struct Signs {
  std::vector<float> sigma;   // [G] ±1
  std::vector<float> scaled;  // [G] ±1/√G
};

Signs build_signs(int group) {
  Signs s;
  s.sigma.resize(group);
  s.scaled.resize(group);
  Rng rng(mix_seed(kTqWeightRotationSeed, static_cast<uint64_t>(group)));
  uint64_t word = 0;
  for (int i = 0; i < group; ++i) {
    if (i % 64 == 0) word = rng.next_u64();
    s.sigma[i] = ((word >> (i % 64)) & 1u) ? -1.0f : 1.0f;
  }
  const float inv_root = 1.0f / std::sqrt(static_cast<float>(group));
  for (int i = 0; i < group; ++i) s.scaled[i] = s.sigma[i] * inv_root;
  return s;
}

const Signs& signs(int group) {
  const int gi = group_index(group);
  TQ_CHECK(gi >= 0, "no tq weight group size {}", group);
  static std::array<Signs, 3> all;
  static std::array<std::once_flag, 3> once;
  std::call_once(once[gi], [&] { all[gi] = build_signs(group); });
  return all[gi];
}

int nearest(const TqCodebook& cb, float t) {
  if (std::isnan(t)) return cb.zero_index;
  // Number of midpoints strictly below t: ties go to the lower value.
  return static_cast<int>(std::lower_bound(cb.midpoints.begin(), cb.midpoints.end(), t) -
                          cb.midpoints.begin());
}

constexpr float kMaxF16 = 65504.0f;

}  // namespace

std::span<const TqWeightSpec> tq_weight_specs() { return kSpecs; }

const TqWeightSpec* find_tq_weight(TypeId id) {
  for (const auto& s : kSpecs)
    if (s.id == id) return &s;
  return nullptr;
}

const TqWeightSpec* find_tq_weight(int bits, int group) {
  for (const auto& s : kSpecs)
    if (s.bits == bits && s.group == group && !s.fractional()) return &s;
  return nullptr;
}

const TqWeightSpec* find_tq_weight(std::string_view name) {
  for (const auto& s : kSpecs)
    if (name == s.name) return &s;
  return nullptr;
}

int64_t tq_group_bytes(int bits, int group) {
  check_pair(bits, group);
  return 2 + int64_t{group} * bits / 8;
}

std::span<const float> tq_codebook(int bits, int group) { return codebook(bits, group).values; }
std::span<const int8_t> tq_codebook_int(int bits, int group) { return codebook(bits, group).c_int; }
float tq_codebook_unit(int bits, int group) { return codebook(bits, group).unit; }
int tq_nearest_code(float t, int bits, int group) { return nearest(codebook(bits, group), t); }

std::span<const float> tq_rotation_signs(int group) { return signs(group).sigma; }

void tq_rotate_group(float* x, int group) { ref::sign_fwht(x, signs(group).scaled.data(), group); }
void tq_unrotate_group(float* x, int group) { ref::fwht_sign(x, signs(group).scaled.data(), group); }

void tq_pack_group(const uint8_t* idx, float scale, int bits, int group, void* block) {
  check_pair(bits, group);
  auto* out = static_cast<uint8_t*>(block);
  const uint16_t h = f32_to_f16(scale);
  std::memcpy(out, &h, 2);
  pack_bits(idx, group, bits, out + 2);
}

void tq_unpack_group(const void* block, int bits, int group, uint8_t* idx, float* scale) {
  check_pair(bits, group);
  const auto* in = static_cast<const uint8_t*>(block);
  uint16_t h;
  std::memcpy(&h, in, 2);
  *scale = f16_to_f32(h);
  unpack_bits(in + 2, group, bits, idx);
}

double tq_group_error(const float* v, const uint8_t* idx, float scale, int bits, int group) {
  const auto& cb = codebook(bits, group);
  double e = 0.0;
  for (int i = 0; i < group; ++i) {
    const double d = static_cast<double>(v[i]) - static_cast<double>(scale * cb.values[idx[i]]);
    e += d * d;
  }
  return e;
}

float tq_quantize_rotated_group(const float* v, int bits, int group, uint8_t* idx) {
  const auto& cb = codebook(bits, group);
  double ss = 0.0;
  bool finite = true;
  for (int i = 0; i < group; ++i) {
    ss += static_cast<double>(v[i]) * v[i];
    finite = finite && std::isfinite(v[i]);
  }
  const double s0 = std::sqrt(ss / group);
  if (!finite || !(s0 > 0.0) || !std::isfinite(s0)) {
    std::fill(idx, idx + group, static_cast<uint8_t>(cb.zero_index));
    return 0.0f;
  }
  std::array<uint8_t, 128> trial;
  double best_err = std::numeric_limits<double>::infinity();
  float best_s = 0.0f;
  for (double f : {0.9, 1.0, 1.1}) {
    double s = f * s0;
    for (int it = 0; it < 4; ++it) {
      const float inv = static_cast<float>(1.0 / s);
      double vc = 0.0, cc = 0.0;
      for (int i = 0; i < group; ++i) {
        const int k = nearest(cb, v[i] * inv);
        const double c = cb.values[k];
        vc += static_cast<double>(v[i]) * c;
        cc += c * c;
      }
      if (!(cc > 0.0) || !(vc > 0.0)) break;  // degenerate: keep the previous s
      s = vc / cc;
    }
    // Round to f16 (a finite, non-negative value) and recompute the codes for it.
    const float s16 = f16_to_f32(f32_to_f16(static_cast<float>(std::min<double>(s, kMaxF16))));
    if (!(s16 > 0.0f)) continue;
    const float inv = 1.0f / s16;
    for (int i = 0; i < group; ++i) trial[i] = static_cast<uint8_t>(nearest(cb, v[i] * inv));
    const double err = tq_group_error(v, trial.data(), s16, bits, group);
    if (err < best_err) {
      best_err = err;
      best_s = s16;
      std::copy(trial.begin(), trial.begin() + group, idx);
    }
  }
  if (!(best_s > 0.0f)) {  // every candidate underflowed f16: the group is (numerically) zero
    std::fill(idx, idx + group, static_cast<uint8_t>(cb.zero_index));
    return 0.0f;
  }
  return best_s;
}

void tq_quantize_row(const float* src, int64_t n, int bits, int group, void* dst) {
  check_pair(bits, group);
  TQ_CHECK(n % group == 0, "tq_quantize_row: {} is not a multiple of the group {}", n, group);
  const int64_t gb = tq_group_bytes(bits, group);
  std::vector<float> v(group);
  std::vector<uint8_t> idx(group);
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t g = 0; g < n / group; ++g) {
    std::copy(src + g * group, src + (g + 1) * group, v.begin());
    tq_rotate_group(v.data(), group);
    const float s = tq_quantize_rotated_group(v.data(), bits, group, idx.data());
    tq_pack_group(idx.data(), s, bits, group, out + g * gb);
  }
}

void tq_dequantize_row(const void* src, int64_t n, int bits, int group, float* dst) {
  const auto& cb = codebook(bits, group);
  TQ_CHECK(n % group == 0, "tq_dequantize_row: {} is not a multiple of the group {}", n, group);
  const int64_t gb = tq_group_bytes(bits, group);
  std::vector<uint8_t> idx(group);
  const auto* in = static_cast<const uint8_t*>(src);
  for (int64_t g = 0; g < n / group; ++g) {
    float s;
    tq_unpack_group(in + g * gb, bits, group, idx.data(), &s);
    float* w = dst + g * group;
    for (int i = 0; i < group; ++i) w[i] = s * cb.values[idx[i]];
    tq_unrotate_group(w, group);
  }
}

}  // namespace tq

// kernels/kv_codes.h: the Highway float path (every target) and the dispatch to the AVX-512 VNNI
// path (kv_codes_avx512.cc) on AVX3_DL.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/kv_codes.cc"
// clang-format off
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
// clang-format on

#include "core/check.h"
#include "core/half.h"
#include "core/simd.h"
#include "kernels/cpu/kv_codes_avx2.h"
#include "kernels/cpu/kv_codes_avx512.h"
#include "kernels/kv_codes.h"
#include "kernels/kv_encode.h"

HWY_BEFORE_NAMESPACE();
namespace tq {
namespace HWY_NAMESPACE {
namespace {  // internal linkage: per-target code of other files may use the same names
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
constexpr size_t kMaxLanes = HWY_MAX_BYTES / sizeof(float);

// Levels of the 16 positions of key block `block` as floats: tile[c·16 + p].
void DecodeKeyTile(const uint8_t* block, int64_t n_pad, const KvLevels& lv, float* tile) {
  for (int64_t c = 0; c < n_pad; ++c)
    for (int64_t p = 0; p < kKvKeyBlock; ++p)
      tile[c * kKvKeyBlock + p] = lv.levels[kv_get_code(block, kv_key_code_index(p, c), lv.bits)];
}

void ScoresFloat(const int8_t* q8, const float* q_mul, int64_t n_q, const uint8_t* codes,
                 const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv, float* s,
                 int64_t lds, bool accumulate) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t nv = kKvKeyBlock / N;  // vectors per 16 positions (N <= 16 on these targets)
  thread_local std::vector<float> tile, qf;
  tile.resize(static_cast<size_t>(n_pad * kKvKeyBlock));
  qf.resize(static_cast<size_t>(n_q * n_pad));
  for (int64_t i = 0; i < n_q * n_pad; ++i) qf[i] = q8[i];
  const int64_t block_bytes = kv_key_block_bytes(n_pad, lv.bits);
  HWY_ALIGN float sc[kKvKeyBlock], out[kKvKeyBlock];
  for (int64_t j0 = 0; j0 < n_pos; j0 += kKvKeyBlock) {
    const int64_t nb = std::min(kKvKeyBlock, n_pos - j0);
    DecodeKeyTile(codes + (j0 / kKvKeyBlock) * block_bytes, n_pad, lv, tile.data());
    for (int64_t p = 0; p < kKvKeyBlock; ++p) sc[p] = p < nb ? f16_to_f32(scales[j0 + p]) : 0.0f;
    for (int64_t i = 0; i < n_q; ++i) {
      VF acc[16];
      for (int64_t v = 0; v < nv; ++v) acc[v] = hn::Zero(df);
      const float* qi = qf.data() + i * n_pad;
      for (int64_t c = 0; c < n_pad; ++c) {
        const VF qc = hn::Set(df, qi[c]);
        for (int64_t v = 0; v < nv; ++v)
          acc[v] = hn::MulAdd(hn::LoadU(df, tile.data() + c * kKvKeyBlock + v * N), qc, acc[v]);
      }
      const VF qm = hn::Set(df, q_mul[i]);
      for (int64_t v = 0; v < nv; ++v)
        hn::Store(hn::Mul(hn::Mul(qm, hn::Load(df, sc + v * N)), acc[v]), df, out + v * N);
      float* si = s + i * lds + j0;
      for (int64_t p = 0; p < nb; ++p) si[p] = accumulate ? si[p] + out[p] : out[p];
    }
  }
}

void MixFloat(const float* p, int64_t ldp, int64_t n_q, const uint8_t* codes,
              const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
              float out_mul, float* out) {
  const DF df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  thread_local std::vector<float> rows, acc;
  thread_local std::vector<uint8_t> w8;
  rows.resize(static_cast<size_t>(kKvMixChunk * n_pad));
  acc.resize(static_cast<size_t>(n_pad));
  w8.resize(static_cast<size_t>(n_q * kKvMixChunk));
  std::vector<float> wmax(static_cast<size_t>(n_q));
  const int64_t block_bytes = kv_value_block_bytes(n_pad, lv.bits);
  const float k = out_mul / 255.0f;
  std::fill(out, out + n_q * n_pad, 0.0f);
  for (int64_t j0 = 0; j0 < n_pos; j0 += kKvMixChunk) {
    const int64_t j1 = std::min(n_pos, j0 + kKvMixChunk);
    bool any = false;
    for (int64_t i = 0; i < n_q; ++i) {
      wmax[i] = kv_quantize_weights(p + i * ldp, scales, j0, j1, w8.data() + i * kKvMixChunk);
      any = any || wmax[i] > 0.0f;
    }
    if (!any) continue;
    for (int64_t j = j0; j < j1; ++j) {
      const uint8_t* block = codes + (j / kKvValueBlock) * block_bytes;
      for (int64_t c = 0; c < n_pad; ++c)
        rows[(j - j0) * n_pad + c] =
            lv.levels[kv_get_code(block, kv_value_code_index(j % kKvValueBlock, c), lv.bits)];
    }
    for (int64_t i = 0; i < n_q; ++i) {
      if (wmax[i] <= 0.0f) continue;
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t j = j0; j < j1; ++j) {
        const VF w = hn::Set(df, static_cast<float>(w8[i * kKvMixChunk + (j - j0)]));
        const float* r = rows.data() + (j - j0) * n_pad;
        for (int64_t c = 0; c < n_pad; c += N)
          hn::StoreU(hn::MulAdd(hn::LoadU(df, r + c), w, hn::LoadU(df, acc.data() + c)), df,
                     acc.data() + c);
      }
      const VF m = hn::Set(df, wmax[i] * k);
      float* o = out + i * n_pad;
      for (int64_t c = 0; c < n_pad; c += N)
        hn::StoreU(hn::Add(hn::LoadU(df, o + c), hn::Mul(hn::LoadU(df, acc.data() + c), m)), df,
                   o + c);
    }
  }
}

// ---- encoding
// ------------------------------------------------------------------------------------

// The `rem` (<= N lanes) values at p, zero-padded to a full vector through the aligned scratch tail.
inline VF LoadPadded(const float* p, int64_t rem, int64_t N, float* tail) {
  const DF df;
  if (rem == N) return hn::LoadU(df, p);
  std::fill(tail, tail + kMaxLanes, 0.0f);
  std::copy_n(p, rem, tail);
  return hn::Load(df, tail);
}

// One coding pass at scale s: A = Σ y·c, B = Σ c² with c the nearest level of y/s, and the codes
// when idx is not null. The level is built as c0 + Σ_k [v > b_k]·(c_{k+1} − c_k), so one compare
// and two adds per boundary cover any level count without a table lookup.
void CodePassImpl(const float* y, int64_t n, float s, const float* bnd, const float* delta,
                  float c0, int n_bnd, uint8_t* idx, double* a_out, double* b_out) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  VF A = hn::Zero(df), B = hn::Zero(df);
  const VF inv = hn::Set(df, 1.0f / s);
  HWY_ALIGN float tail[kMaxLanes];  // LoadPadded's scratch
  HWY_ALIGN int32_t cnt_buf[kMaxLanes];
  for (int64_t i = 0; i < n; i += N) {
    const int64_t rem = std::min(N, n - i);
    const VF yv = LoadPadded(y + i, rem, N, tail);
    const VF v = hn::Mul(yv, inv);
    VF c = hn::Set(df, c0);
    auto cnt = hn::Zero(di);
    for (int k = 0; k < n_bnd; ++k) {
      const auto m = hn::Gt(v, hn::Set(df, bnd[k]));
      c = hn::Add(c, hn::IfThenElseZero(m, hn::Set(df, delta[k])));
      cnt = hn::Sub(cnt, hn::VecFromMask(di, hn::RebindMask(di, m)));
    }
    if (rem < N) c = hn::IfThenElseZero(hn::FirstN(df, static_cast<size_t>(rem)), c);
    A = hn::MulAdd(yv, c, A);
    B = hn::MulAdd(c, c, B);
    if (idx) {
      hn::Store(cnt, di, cnt_buf);
      for (int64_t l = 0; l < rem; ++l) idx[i + l] = static_cast<uint8_t>(cnt_buf[l]);
    }
  }
  *a_out = hn::GetLane(hn::SumOfLanes(df, A));
  *b_out = hn::GetLane(hn::SumOfLanes(df, B));
}

// Uniform levels: idx = clamp(round((v − c0)/step)), c = c0 + idx·step.
void UniformPass(const float* y, int64_t n, float s, float c0, float step, int bits, uint8_t* idx,
                 double* a_out, double* b_out) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  VF A = hn::Zero(df), B = hn::Zero(df);
  const VF inv = hn::Set(df, 1.0f / s), vc0 = hn::Set(df, c0), vstep = hn::Set(df, step);
  const VF inv_step = hn::Set(df, 1.0f / step),
           top = hn::Set(df, static_cast<float>((1 << bits) - 1));
  HWY_ALIGN float tail[kMaxLanes];  // LoadPadded's scratch
  HWY_ALIGN int32_t cnt_buf[kMaxLanes];
  for (int64_t i = 0; i < n; i += N) {
    const int64_t rem = std::min(N, n - i);
    const VF yv = LoadPadded(y + i, rem, N, tail);
    const VF k = hn::Min(
        hn::Max(hn::Round(hn::Mul(hn::Sub(hn::Mul(yv, inv), vc0), inv_step)), hn::Zero(df)), top);
    VF c = hn::MulAdd(k, vstep, vc0);
    if (rem < N) c = hn::IfThenElseZero(hn::FirstN(df, static_cast<size_t>(rem)), c);
    A = hn::MulAdd(yv, c, A);
    B = hn::MulAdd(c, c, B);
    if (idx) {
      hn::Store(hn::ConvertTo(di, k), di, cnt_buf);
      for (int64_t l = 0; l < rem; ++l) idx[i + l] = static_cast<uint8_t>(cnt_buf[l]);
    }
  }
  *a_out = hn::GetLane(hn::SumOfLanes(df, A));
  *b_out = hn::GetLane(hn::SumOfLanes(df, B));
}

void CodePass(const float* y, int64_t n, float s, const float* centroids, const float* boundaries,
              int bits, bool uniform, uint8_t* idx, double* a, double* b) {
  if (uniform) {
    UniformPass(y, n, s, centroids[0], centroids[1] - centroids[0], bits, idx, a, b);
    return;
  }
  const int n_bnd = (1 << bits) - 1;
  float delta[63];
  for (int k = 0; k < n_bnd; ++k) delta[k] = centroids[k + 1] - centroids[k];
  CodePassImpl(y, n, s, boundaries, delta, centroids[0], n_bnd, idx, a, b);
}

bool UseVnni() {
#if HWY_TARGET == HWY_AVX3_DL
  return kv_avx512_vnni_supported();
#else
  return false;
#endif
}

// AVX2 and AVX3 targets: the AVX2 kernels (kv_codes_avx2.cc).
constexpr bool kAvx2Path = HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3;

void Scores(const int8_t* q8, const float* q_mul, int64_t n_q, const uint8_t* codes,
            const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv, float* s,
            int64_t lds, bool accumulate) {
#if HWY_ARCH_X86
  if (kAvx2Path && x86::kv_scores_codes_avx2(q8, q_mul, n_q, codes, scales, n_pos, n_pad, lv, s,
                                             lds, accumulate, simd_avx_vnni()))
    return;
#endif
  if (!UseVnni() ||
      !kv_scores_codes_avx512(q8, q_mul, n_q, codes, scales, n_pos, n_pad, lv, s, lds, accumulate))
    ScoresFloat(q8, q_mul, n_q, codes, scales, n_pos, n_pad, lv, s, lds, accumulate);
}

void Mix(const float* p, int64_t ldp, int64_t n_q, const uint8_t* codes, const uint16_t* scales,
         int64_t n_pos, int64_t n_pad, const KvLevels& lv, float out_mul, float* out) {
#if HWY_ARCH_X86
  if (kAvx2Path &&
      x86::kv_mix_codes_avx2(p, ldp, n_q, codes, scales, n_pos, n_pad, lv, out_mul, out, simd_avx_vnni()))
    return;
#endif
  if (!UseVnni() ||
      !kv_mix_codes_avx512(p, ldp, n_q, codes, scales, n_pos, n_pad, lv, out_mul, out))
    MixFloat(p, ldp, n_q, codes, scales, n_pos, n_pad, lv, out_mul, out);
}

const char* Path() {
  if (UseVnni()) return "avx512-vnni";
  if (kAvx2Path) return simd_avx_vnni() ? "avx2-vnni" : "avx2";
  return "float";
}

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace tq
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace tq {
HWY_EXPORT(Scores);
HWY_EXPORT(Mix);
HWY_EXPORT(Path);
HWY_EXPORT(CodePass);

void kv_code_pass(const float* y, int64_t n, float s, const float* centroids,
                  const float* boundaries, int bits, bool uniform, uint8_t* idx, double* a,
                  double* b) {
  TQ_CHECK(n >= 1 && bits >= 1 && bits <= (uniform ? 8 : 6), "kv_code_pass: n {} bits {}", n, bits);
  HWY_DYNAMIC_DISPATCH(CodePass)(y, n, s, centroids, boundaries, bits, uniform, idx, a, b);
}

float kv_encode_shared(const KvCodePart* parts, int n_parts, KvScaleRule rule) {
  return kv_encode_shared_with(parts, n_parts, rule, &kv_code_pass);
}

float kv_encode_scaled(const float* y, int64_t n, const float* centroids, const float* boundaries,
                       int bits, KvScaleRule rule, uint8_t* idx) {
  const KvCodePart p{y, n, 1.0f, centroids, boundaries, bits, false, idx};
  return kv_encode_shared(&p, 1, rule);
}

float quantize_query_i8(const float* q, int64_t n, int64_t n_pad, int8_t* q8) {
  float mx = 0.0f;
  for (int64_t c = 0; c < n; ++c) mx = std::max(mx, std::fabs(q[c]));
  if (!(mx > 0.0f)) {
    std::memset(q8, 0, static_cast<size_t>(n_pad));
    return 0.0f;
  }
  const float inv = 127.0f / mx;
  // Round half to even as std::nearbyint in the default rounding mode, but inline (and
  // vectorizable): |q·inv| <= 127 + rounding, far below 2^22, so adding and removing 1.5·2^23
  // leaves exactly the nearest integer.
  constexpr float kMagic = 12582912.0f;
  for (int64_t c = 0; c < n; ++c)
    q8[c] = static_cast<int8_t>(static_cast<int>((q[c] * inv + kMagic) - kMagic));
  std::memset(q8 + n, 0, static_cast<size_t>(n_pad - n));
  return mx / 127.0f;
}

float kv_quantize_weights(const float* p, const uint16_t* scales, int64_t j0, int64_t j1,
                          uint8_t* w8) {
  float w[kKvMixChunk];
  float wmax = 0.0f;
  for (int64_t j = j0; j < j1; ++j) {
    w[j - j0] = p[j] * f16_to_f32(scales[j]);
    wmax = std::max(wmax, w[j - j0]);
  }
  if (!(wmax > 0.0f)) return 0.0f;
  const float inv = 255.0f / wmax;
  for (int64_t j = j0; j < j1; ++j)
    w8[j - j0] = static_cast<uint8_t>(std::nearbyint(std::max(w[j - j0], 0.0f) * inv));
  return wmax;
}

void kv_scores_codes(const int8_t* q8, const float* q_mul, int64_t n_q, const uint8_t* codes,
                     const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                     float* s, int64_t lds, bool accumulate) {
  TQ_CHECK(n_pad % kKvDimAlign == 0 && n_pad <= 1024 && lv.bits >= 1 && lv.bits <= 8,
           "kv_scores_codes: n_pad {} bits {}", n_pad, lv.bits);
  if (n_pos <= 0 || n_q <= 0) return;
  HWY_DYNAMIC_DISPATCH(Scores)(q8, q_mul, n_q, codes, scales, n_pos, n_pad, lv, s, lds, accumulate);
}

void kv_mix_codes(const float* p, int64_t ldp, int64_t n_q, const uint8_t* codes,
                  const uint16_t* scales, int64_t n_pos, int64_t n_pad, const KvLevels& lv,
                  float out_mul, float* out) {
  TQ_CHECK(n_pad % kKvDimAlign == 0 && n_pad <= 1024 && lv.bits >= 1 && lv.bits <= 8,
           "kv_mix_codes: n_pad {} bits {}", n_pad, lv.bits);
  if (n_q <= 0) return;
  if (n_pos <= 0) {
    std::fill(out, out + n_q * n_pad, 0.0f);
    return;
  }
  HWY_DYNAMIC_DISPATCH(Mix)(p, ldp, n_q, codes, scales, n_pos, n_pad, lv, out_mul, out);
}

const char* kv_codes_path() {
  return HWY_DYNAMIC_DISPATCH(Path)();
}

}  // namespace tq
#endif  // HWY_ONCE

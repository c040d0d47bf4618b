// ggml's k-quants (256-element super-blocks): q2_K, q3_K, q4_K, q5_K, q6_K, q8_K, and iq4_xs.
// Reference dequantization as ggml-quants.c's dequantize_row_* (checked bit-exactly against the
// `gguf` Python package in tests/formats); q8_K also has ggml's reference quantizer. The k-quant
// quantizers (make_qkx2_quants searches) are not provided: we read these formats, we don't write
// them.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "formats/format_families.h"
#include "formats/ggml_blocks.h"

namespace tq {
namespace {

using namespace ggml;

template <typename Block>
Block load_block(const void* src, int64_t i) {
  Block b;
  std::memcpy(&b, static_cast<const uint8_t*>(src) + i * sizeof(Block), sizeof(Block));
  return b;
}

// ---- q2_K -------------------------------------------------------------------------------------
void q2_K_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ2_K>(src, i);
    const float d = f16_to_f32(b.d), min = f16_to_f32(b.dmin);
    float* y = dst + i * kQK_K;
    const uint8_t* q = b.qs;
    int is = 0;
    for (int n128 = 0; n128 < kQK_K; n128 += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = b.scales[is++];
          const float dl = d * static_cast<float>(sc & 0xF), ml = min * static_cast<float>(sc >> 4);
          for (int l = 0; l < 16; ++l)
            *y++ = dl * static_cast<float>((q[l + 16 * half] >> shift) & 3) - ml;
        }
        shift += 2;
      }
      q += 32;
    }
  }
}

// ---- q3_K -------------------------------------------------------------------------------------
void q3_K_to_float(const void* src, float* dst, int64_t n) {
  constexpr uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ3_K>(src, i);
    const float d_all = f16_to_f32(b.d);
    // Unpack the 16 6-bit scales (ggml's bit shuffle).
    uint32_t aux[4];
    std::memcpy(aux, b.scales, 12);
    const uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    int8_t scales[16];
    std::memcpy(scales, aux, 16);

    float* y = dst + i * kQK_K;
    const uint8_t* q = b.qs;
    const uint8_t* hm = b.hmask;
    uint8_t m = 1;
    int is = 0;
    for (int n128 = 0; n128 < kQK_K; n128 += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * static_cast<float>(scales[is++] - 32);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int v = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
            *y++ = dl * static_cast<float>(v);
          }
        }
        shift += 2;
        m = static_cast<uint8_t>(m << 1);
      }
      q += 32;
    }
  }
}

// ---- q4_K -------------------------------------------------------------------------------------
void q4_K_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ4_K>(src, i);
    const float d = f16_to_f32(b.d), min = f16_to_f32(b.dmin);
    float* y = dst + i * kQK_K;
    const uint8_t* q = b.qs;
    for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2, q += 32) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, b.scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, b.scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

// ---- q5_K -------------------------------------------------------------------------------------
void q5_K_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ5_K>(src, i);
    const float d = f16_to_f32(b.d), min = f16_to_f32(b.dmin);
    float* y = dst + i * kQK_K;
    const uint8_t* ql = b.qs;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2, ql += 32) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, b.scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, b.scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l)
        *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (b.qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l)
        *y++ = d2 * static_cast<float>((ql[l] >> 4) + (b.qh[l] & u2 ? 16 : 0)) - m2;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

// ---- q6_K -------------------------------------------------------------------------------------
void q6_K_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ6_K>(src, i);
    const float d = f16_to_f32(b.d);
    float* y = dst + i * kQK_K;
    const uint8_t* ql = b.ql;
    const uint8_t* qh = b.qh;
    const int8_t* sc = b.scales;
    for (int n128 = 0; n128 < kQK_K; n128 += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

// ---- q8_K -------------------------------------------------------------------------------------
void q8_K_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockQ8_K>(src, i);
    for (int j = 0; j < kQK_K; ++j) dst[i * kQK_K + j] = b.d * static_cast<float>(b.qs[j]);
  }
}

// ggml's nearest_int: round half to even via the 1.5*2^23 trick (valid for |x| < 2^22).
int nearest_int(float fval) {
  const float val = fval + 12582912.f;
  int i;
  std::memcpy(&i, &val, sizeof(int));
  return (i & 0x007fffff) - 0x00400000;
}

void q8_K_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* x = src + i * kQK_K;
    BlockQ8_K b{};
    float max = 0.0f, amax = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(x[j]) > amax) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    if (amax != 0.0f) {
      const float iscale = -127.f / max;
      for (int j = 0; j < kQK_K; ++j)
        b.qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
      for (int j = 0; j < kQK_K / 16; ++j) {
        int sum = 0;
        for (int l = 0; l < 16; ++l) sum += b.qs[j * 16 + l];
        b.bsums[j] = static_cast<int16_t>(sum);
      }
      b.d = 1 / iscale;
    }
    std::memcpy(static_cast<uint8_t*>(dst) + i * sizeof(BlockQ8_K), &b, sizeof(b));
  }
}

// ---- iq4_xs -----------------------------------------------------------------------------------
void iq4_xs_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const auto b = load_block<BlockIq4Xs>(src, i);
    const float d = f16_to_f32(b.d);
    float* y = dst + i * kQK_K;
    const uint8_t* qs = b.qs;
    for (int ib = 0; ib < kQK_K / 32; ++ib) {
      const int ls =
          ((b.scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((b.scales_h >> 2 * ib) & 3) << 4);
      const float dl = d * static_cast<float>(ls - 32);
      for (int j = 0; j < 16; ++j) {
        y[j + 0] = dl * static_cast<float>(kIq4nlValues[qs[j] & 0xf]);
        y[j + 16] = dl * static_cast<float>(kIq4nlValues[qs[j] >> 4]);
      }
      y += 32;
      qs += 16;
    }
  }
}

const FormatTraits kKQuantFormats[] = {
    {TypeId::q2_K, "q2_K", kQK_K, sizeof(BlockQ2_K), true, q2_K_to_float, nullptr,
     "ggml k-quant 2-bit (2.625 bpw)"},
    {TypeId::q3_K, "q3_K", kQK_K, sizeof(BlockQ3_K), true, q3_K_to_float, nullptr,
     "ggml k-quant 3-bit (3.4375 bpw)"},
    {TypeId::q4_K, "q4_K", kQK_K, sizeof(BlockQ4_K), true, q4_K_to_float, nullptr,
     "ggml k-quant 4-bit (4.5 bpw)"},
    {TypeId::q5_K, "q5_K", kQK_K, sizeof(BlockQ5_K), true, q5_K_to_float, nullptr,
     "ggml k-quant 5-bit (5.5 bpw)"},
    {TypeId::q6_K, "q6_K", kQK_K, sizeof(BlockQ6_K), true, q6_K_to_float, nullptr,
     "ggml k-quant 6-bit (6.5625 bpw)"},
    {TypeId::q8_K, "q8_K", kQK_K, sizeof(BlockQ8_K), true, q8_K_to_float, q8_K_from_float,
     "ggml k-quant 8-bit, f32 scale (dot-product intermediate)"},
    {TypeId::iq4_xs, "iq4_xs", kQK_K, sizeof(BlockIq4Xs), true, iq4_xs_to_float, nullptr,
     "ggml 4-bit non-linear codebook, 6-bit scales per 32 (4.25 bpw)"},
};

}  // namespace

std::span<const FormatTraits> ggml_kquant_formats() {
  return kKQuantFormats;
}

}  // namespace tq

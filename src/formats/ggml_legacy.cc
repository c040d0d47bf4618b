// ggml's 32-element block formats: q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl. Reference dequantization
// and quantization written to match ggml-quants.c (quantize_row_*_ref / dequantize_row_*) bit for
// bit; tests/formats/ggml_formats_test.cc checks them against the `gguf` Python package.
// Blocks are copied out with memcpy so any input alignment is fine.
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

template <typename Block>
void store_block(void* dst, int64_t i, const Block& b) {
  std::memcpy(static_cast<uint8_t*>(dst) + i * sizeof(Block), &b, sizeof(Block));
}

// Value of largest magnitude (first one on ties), as ggml picks it for the symmetric formats.
float signed_absmax(const float* x, int n) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

// ---- q4_0 -------------------------------------------------------------------------------------
void q4_0_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const auto b = load_block<BlockQ4_0>(src, i);
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      dst[i * kQK4_0 + j] = static_cast<float>((b.qs[j] & 0x0F) - 8) * d;
      dst[i * kQK4_0 + j + kQK4_0 / 2] = static_cast<float>((b.qs[j] >> 4) - 8) * d;
    }
  }
}

void q4_0_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* x = src + i * kQK4_0;
    const float d = signed_absmax(x, kQK4_0) / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_0 b;
    b.d = f32_to_f16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int xi0 = std::min(15, static_cast<int>(static_cast<int8_t>(x[j] * id + 8.5f)));
      const int xi1 =
          std::min(15, static_cast<int>(static_cast<int8_t>(x[j + kQK4_0 / 2] * id + 8.5f)));
      b.qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
    store_block(dst, i, b);
  }
}

// ---- q4_1 -------------------------------------------------------------------------------------
void q4_1_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_1; ++i) {
    const auto b = load_block<BlockQ4_1>(src, i);
    const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      dst[i * kQK4_1 + j] = static_cast<float>(b.qs[j] & 0x0F) * d + m;
      dst[i * kQK4_1 + j + kQK4_1 / 2] = static_cast<float>(b.qs[j] >> 4) * d + m;
    }
  }
}

void q4_1_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_1; ++i) {
    const float* x = src + i * kQK4_1;
    const float min = *std::min_element(x, x + kQK4_1), max = *std::max_element(x, x + kQK4_1);
    const float d = (max - min) / 15;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_1 b;
    b.d = f32_to_f16(d);
    b.m = f32_to_f16(min);
    for (int j = 0; j < kQK4_1 / 2; ++j) {
      const int xi0 = std::min(15, static_cast<int>(static_cast<int8_t>((x[j] - min) * id + 0.5f)));
      const int xi1 = std::min(
          15, static_cast<int>(static_cast<int8_t>((x[j + kQK4_1 / 2] - min) * id + 0.5f)));
      b.qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
    }
    store_block(dst, i, b);
  }
}

// ---- q5_0 -------------------------------------------------------------------------------------
void q5_0_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    const auto b = load_block<BlockQ5_0>(src, i);
    const float d = f16_to_f32(b.d);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int xh0 = ((qh >> j) << 4) & 0x10;
      const int xh1 = (qh >> (j + 12)) & 0x10;
      dst[i * kQK5_0 + j] = static_cast<float>(((b.qs[j] & 0x0F) | xh0) - 16) * d;
      dst[i * kQK5_0 + j + kQK5_0 / 2] = static_cast<float>(((b.qs[j] >> 4) | xh1) - 16) * d;
    }
  }
}

void q5_0_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK5_0; ++i) {
    const float* x = src + i * kQK5_0;
    const float d = signed_absmax(x, kQK5_0) / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ5_0 b;
    b.d = f32_to_f16(d);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_0 / 2; ++j) {
      const int xi0 = std::min(31, static_cast<int>(static_cast<int8_t>(x[j] * id + 16.5f)));
      const int xi1 =
          std::min(31, static_cast<int>(static_cast<int8_t>(x[j + kQK5_0 / 2] * id + 16.5f)));
      b.qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>((xi0 & 0x10) >> 4) << j;
      qh |= static_cast<uint32_t>((xi1 & 0x10) >> 4) << (j + kQK5_0 / 2);
    }
    std::memcpy(b.qh, &qh, 4);
    store_block(dst, i, b);
  }
}

// ---- q5_1 -------------------------------------------------------------------------------------
void q5_1_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK5_1; ++i) {
    const auto b = load_block<BlockQ5_1>(src, i);
    const float d = f16_to_f32(b.d), m = f16_to_f32(b.m);
    uint32_t qh;
    std::memcpy(&qh, b.qh, 4);
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int xh0 = ((qh >> j) << 4) & 0x10;
      const int xh1 = (qh >> (j + 12)) & 0x10;
      dst[i * kQK5_1 + j] = static_cast<float>((b.qs[j] & 0x0F) | xh0) * d + m;
      dst[i * kQK5_1 + j + kQK5_1 / 2] = static_cast<float>((b.qs[j] >> 4) | xh1) * d + m;
    }
  }
}

void q5_1_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK5_1; ++i) {
    const float* x = src + i * kQK5_1;
    const float min = *std::min_element(x, x + kQK5_1), max = *std::max_element(x, x + kQK5_1);
    const float d = (max - min) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ5_1 b;
    b.d = f32_to_f16(d);
    b.m = f32_to_f16(min);
    uint32_t qh = 0;
    for (int j = 0; j < kQK5_1 / 2; ++j) {
      const int xi0 =
          std::min(31, static_cast<int>(static_cast<uint8_t>((x[j] - min) * id + 0.5f)));
      const int xi1 = std::min(
          31, static_cast<int>(static_cast<uint8_t>((x[j + kQK5_1 / 2] - min) * id + 0.5f)));
      b.qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
      qh |= static_cast<uint32_t>((xi0 & 0x10) >> 4) << j;
      qh |= static_cast<uint32_t>((xi1 & 0x10) >> 4) << (j + kQK5_1 / 2);
    }
    std::memcpy(b.qh, &qh, 4);
    store_block(dst, i, b);
  }
}

// ---- q8_0 -------------------------------------------------------------------------------------
void q8_0_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const auto b = load_block<BlockQ8_0>(src, i);
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < kQK8_0; ++j) dst[i * kQK8_0 + j] = static_cast<float>(b.qs[j]) * d;
  }
}

void q8_0_from_float(const float* src, void* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    const float* x = src + i * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 b;
    b.d = f32_to_f16(d);
    // roundf: halves away from zero, as ggml's reference quantizer.
    for (int j = 0; j < kQK8_0; ++j) b.qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
    store_block(dst, i, b);
  }
}

// ---- iq4_nl -----------------------------------------------------------------------------------
void iq4_nl_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_NL; ++i) {
    const auto b = load_block<BlockIq4Nl>(src, i);
    const float d = f16_to_f32(b.d);
    for (int j = 0; j < kQK4_NL / 2; ++j) {
      dst[i * kQK4_NL + j] = d * static_cast<float>(kIq4nlValues[b.qs[j] & 0x0F]);
      dst[i * kQK4_NL + j + kQK4_NL / 2] = d * static_cast<float>(kIq4nlValues[b.qs[j] >> 4]);
    }
  }
}

const FormatTraits kLegacyFormats[] = {
    {TypeId::q4_0, "q4_0", kQK4_0, sizeof(BlockQ4_0), true, q4_0_to_float, q4_0_from_float,
     "ggml 4-bit, f16 scale per 32 (symmetric)"},
    {TypeId::q4_1, "q4_1", kQK4_1, sizeof(BlockQ4_1), true, q4_1_to_float, q4_1_from_float,
     "ggml 4-bit, f16 scale + min per 32"},
    {TypeId::q5_0, "q5_0", kQK5_0, sizeof(BlockQ5_0), true, q5_0_to_float, q5_0_from_float,
     "ggml 5-bit, f16 scale per 32 (symmetric)"},
    {TypeId::q5_1, "q5_1", kQK5_1, sizeof(BlockQ5_1), true, q5_1_to_float, q5_1_from_float,
     "ggml 5-bit, f16 scale + min per 32"},
    {TypeId::q8_0, "q8_0", kQK8_0, sizeof(BlockQ8_0), true, q8_0_to_float, q8_0_from_float,
     "ggml 8-bit, f16 scale per 32"},
    {TypeId::iq4_nl, "iq4_nl", kQK4_NL, sizeof(BlockIq4Nl), true, iq4_nl_to_float, nullptr,
     "ggml 4-bit non-linear codebook, f16 scale per 32"},
};

}  // namespace

std::span<const FormatTraits> ggml_legacy_formats() {
  return kLegacyFormats;
}

}  // namespace tq

#include <cstring>

#include "core/half.h"
#include "formats/format_families.h"

namespace tq {
namespace {

void f32_to_float(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, n * sizeof(float)); }
void f32_from_float(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, n * sizeof(float)); }

void f16_to_float(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
}
void f16_from_float(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
}

void bf16_to_float(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint16_t*>(src);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
}
void bf16_from_float(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
}

const FormatTraits kFloatFormats[] = {
    {TypeId::f32, "f32", 1, 4, false, f32_to_float, f32_from_float, "IEEE float32"},
    {TypeId::f16, "f16", 1, 2, false, f16_to_float, f16_from_float, "IEEE float16"},
    {TypeId::bf16, "bf16", 1, 2, false, bf16_to_float, bf16_from_float, "bfloat16"},
};

}  // namespace

std::span<const FormatTraits> float_formats() { return kFloatFormats; }

}  // namespace tq

// ggml's plain element types beyond the float formats: i8, i16, i32, i64 and f64 (one element per
// "block"). safetensors and GGUF files may hold them (e.g. position ids); to_float converts them
// for inspection and tests. Only f64 has from_float (exact); integers are never quantization
// targets.
#include <cstring>

#include "formats/format_families.h"

namespace tq {
namespace {

template <typename T>
void plain_to_float(const void* src, float* dst, int64_t n) {
  const auto* s = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, s + i * sizeof(T), sizeof(T));
    dst[i] = static_cast<float>(v);
  }
}

void f64_from_float(const float* src, void* dst, int64_t n) {
  auto* d = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const double v = src[i];
    std::memcpy(d + i * sizeof(double), &v, sizeof(double));
  }
}

const FormatTraits kPlainFormats[] = {
    {TypeId::i8, "i8", 1, 1, false, plain_to_float<int8_t>, nullptr, "signed 8-bit integer"},
    {TypeId::i16, "i16", 1, 2, false, plain_to_float<int16_t>, nullptr, "signed 16-bit integer"},
    {TypeId::i32, "i32", 1, 4, false, plain_to_float<int32_t>, nullptr, "signed 32-bit integer"},
    {TypeId::i64, "i64", 1, 8, false, plain_to_float<int64_t>, nullptr, "signed 64-bit integer"},
    {TypeId::f64, "f64", 1, 8, false, plain_to_float<double>, f64_from_float, "IEEE float64"},
};

}  // namespace

std::span<const FormatTraits> ggml_plain_formats() {
  return kPlainFormats;
}

}  // namespace tq

// Tensor element/block type ids. Append-only. Values 0..255 are ggml's own ids (GGUF files map
// 1:1); TurboQuant formats live in their own range starting at kTurboQuantTypeBase so they never
// collide with present or future ggml types. The meaning of every id (name, block size, bytes,
// reference conversions) is defined in one place: the format table (src/formats/format.h).
#pragma once

#include <cstdint>

namespace tq {

enum class TypeId : uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_K = 10,
  q3_K = 11,
  q4_K = 12,
  q5_K = 13,
  q6_K = 14,
  q8_K = 15,
  iq4_nl = 20,
  iq4_xs = 23,
  i8 = 24,
  i16 = 25,
  i32 = 26,
  i64 = 27,
  f64 = 28,
  bf16 = 30,
};

// First id of the TurboQuant range (weight and KV formats). See src/formats/ for the layout.
inline constexpr uint32_t kTurboQuantTypeBase = 0x7100;  // 28928

}  // namespace tq

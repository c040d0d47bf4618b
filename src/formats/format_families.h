// Each format family (one .cc file each) exposes its entries; format_table.cc concatenates them.
#pragma once

#include <span>

#include "formats/format.h"

namespace tq {

std::span<const FormatTraits> float_formats();  // f32, f16, bf16 (formats/float_formats.cc)
std::span<const FormatTraits> ggml_plain_formats();   // i8..i64, f64 (formats/ggml_plain.cc)
std::span<const FormatTraits> ggml_legacy_formats();  // q4_0..q8_0, iq4_nl (formats/ggml_legacy.cc)
std::span<const FormatTraits> ggml_kquant_formats();  // q2_K..q8_K, iq4_xs (formats/ggml_kquants.cc)
std::span<const FormatTraits> tq_weight_formats();    // tq<b>g<G> (formats/tq_weight_formats.cc)
std::span<const FormatTraits> quant_baseline_formats();  // q8, rtn4 (formats/quant_baselines.cc)

}  // namespace tq

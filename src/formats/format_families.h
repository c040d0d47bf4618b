// Each format family (one .cc file each) exposes its entries; format_table.cc concatenates them.
#pragma once

#include <span>

#include "formats/format.h"

namespace tq {

std::span<const FormatTraits> float_formats();  // f32, f16, bf16 (formats/float_formats.cc)

}  // namespace tq

// Each family of KV formats (one file each) exposes its entries; kv_formats.cc concatenates them.
#pragma once

#include <span>

#include "runtime/kv_cache.h"

namespace tq {

std::span<const KvFormat> float_kv_formats();  // f32, f16 (runtime/kv_float.cc)
std::span<const KvFormat> code_kv_formats();   // q8, tq* (runtime/kv_code_formats.cc)
std::span<const KvFormat> q4_kv_formats();     // q4, q4r (runtime/kv_q4.cc)

}  // namespace tq

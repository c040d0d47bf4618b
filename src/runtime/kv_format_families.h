// Each family of KV formats (one file each) exposes its entries; kv_formats.cc concatenates them.
#pragma once

#include <span>

#include "runtime/kv_cache.h"

namespace tq {

std::span<const KvFormat> float_kv_formats();  // f32, f16 (runtime/kv_float.cc)

}  // namespace tq

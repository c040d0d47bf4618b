// Writing safetensors files whose tensor data is produced on the fly (e.g. `tq synth`, which must
// not hold a 16 GB model in memory). Written through AtomicFile: temp file + rename.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "tq/status.h"
#include "tq/types.h"

namespace tq {

struct SafetensorsEntry {
  std::string name;            // as stored (HF names)
  TypeId type = TypeId::f32;   // f32, f16, bf16, f64, i8..i64
  std::vector<int64_t> shape;  // outermost first
};

// Bytes of an entry's data; error for types safetensors cannot hold.
Result<size_t> safetensors_entry_bytes(const SafetensorsEntry& e);

// Writes `entries` in order. write_data(i, out) must write exactly entry i's bytes to `out`
// (checked). The header (with `metadata` as __metadata__) is padded so data starts 8-byte aligned.
Status write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                         const std::function<Status(size_t index, AtomicFile& out)>& write_data,
                         const std::map<std::string, std::string>& metadata = {});

}  // namespace tq

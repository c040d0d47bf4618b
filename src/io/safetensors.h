// safetensors: 8-byte little-endian header length N, N bytes of JSON
// {"<name>": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data. Offsets are relative to the end of the header.
#pragma once

#include <string>
#include <vector>

#include "io/model_file.h"

namespace tq {

struct SafetensorsFile {
  std::shared_ptr<MappedFile> map;
  std::vector<TensorInfo> tensors;  // names as stored in the file (HF names), shapes as stored
};

// Maps and validates a .safetensors file: header size within the file, JSON well formed, dtypes
// supported (F32, F16, BF16, F64, I8..I64), shapes non-negative, byte ranges inside the data section
// and equal to shape x dtype size. Errors name the file and the tensor.
Result<SafetensorsFile> open_safetensors(const std::string& path);

// The same checks on bytes in memory [data, data + size) (fuzzing, tests); `path` is only used in
// messages. Tensor data pointers point into `data`; the returned map is null.
Result<SafetensorsFile> parse_safetensors(const uint8_t* data, size_t size, const std::string& path);

}  // namespace tq

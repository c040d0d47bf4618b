#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>

#include "core/checked.h"

namespace tq {
namespace {

struct DtypeInfo {
  const char* name;
  TypeId type;
  size_t size;
};

constexpr DtypeInfo kDtypes[] = {
    {"F32", TypeId::f32, 4}, {"F16", TypeId::f16, 2}, {"BF16", TypeId::bf16, 2},
    {"F64", TypeId::f64, 8}, {"I8", TypeId::i8, 1},   {"I16", TypeId::i16, 2},
    {"I32", TypeId::i32, 4}, {"I64", TypeId::i64, 8},
};

const DtypeInfo* find_dtype(const std::string& s) {
  for (const auto& d : kDtypes)
    if (s == d.name) return &d;
  return nullptr;
}

}  // namespace

Result<SafetensorsFile> open_safetensors(const std::string& path) {
  TQ_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  TQ_ASSIGN_OR_RETURN(SafetensorsFile out, parse_safetensors(map->data(), map->size(), path));
  out.map = std::move(map);
  return out;
}

Result<SafetensorsFile> parse_safetensors(const uint8_t* data, size_t size, const std::string& path) {
  if (size < 8) return corrupt_file("{}: too small for a safetensors file ({} bytes)", path, size);
  uint64_t header_len;
  std::memcpy(&header_len, data, 8);
  if (header_len > size - 8)
    return corrupt_file("{}: header length {} exceeds the file size {} (truncated?)", path, header_len, size);
  const char* hdr = reinterpret_cast<const char*>(data + 8);
  nlohmann::json j = nlohmann::json::parse(hdr, hdr + header_len, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return corrupt_file("{}: header is not a JSON object", path);

  const uint64_t data_begin = 8 + header_len;
  const uint64_t data_size = size - data_begin;
  SafetensorsFile out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const auto& t = it.value();
    if (!t.is_object() || !t.contains("dtype") || !t.contains("shape") || !t.contains("data_offsets") ||
        !t["dtype"].is_string() || !t["shape"].is_array() || !t["data_offsets"].is_array() ||
        t["data_offsets"].size() != 2)
      return corrupt_file("{}: tensor '{}' has a malformed header entry", path, name);
    const DtypeInfo* dt = find_dtype(t["dtype"].get<std::string>());
    if (!dt)
      return unsupported("{}: tensor '{}' has unsupported dtype {}", path, name, t["dtype"].get<std::string>());
    TensorInfo ti;
    ti.name = name;
    ti.type = dt->type;
    ti.file = path;
    for (const auto& d : t["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        return corrupt_file("{}: tensor '{}' has a bad shape entry", path, name);
      ti.shape.push_back(d.get<int64_t>());
    }
    const auto n_elem = checked_elements(ti.shape);
    const auto n_bytes = n_elem ? checked_mul<uint64_t>(*n_elem, dt->size) : std::nullopt;
    if (!n_bytes)
      return corrupt_file("{}: tensor '{}' shape {} overflows 64-bit sizes", path, name,
                          ti.shape_string());
    const auto& off = t["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      return corrupt_file("{}: tensor '{}' has non-integer data_offsets", path, name);
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size)
      return corrupt_file("{}: tensor '{}' data [{}, {}) lies outside the data section of {} bytes (truncated?)",
                          path, name, b, e, data_size);
    if (e - b != *n_bytes)
      return corrupt_file("{}: tensor '{}' has {} bytes but shape {} x {} needs {}", path, name, e - b,
                          ti.shape_string(), dt->name, *n_bytes);
    ti.data = data + data_begin + b;
    ti.n_bytes = e - b;
    out.tensors.push_back(std::move(ti));
  }
  // No two tensors may share bytes (the GGUF reader's rule too): sorted by start, each must end
  // before the next begins.
  std::vector<const TensorInfo*> order;
  for (const auto& t : out.tensors)
    if (t.n_bytes > 0) order.push_back(&t);  // an empty tensor shares no bytes
  std::sort(order.begin(), order.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->data < b->data; });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& a = *order[k - 1];
    const TensorInfo& b = *order[k];
    if (a.data + a.n_bytes > b.data)
      return corrupt_file("{}: tensors '{}' and '{}' overlap in the data section ([{}, {}) and "
                          "[{}, {}))",
                          path, a.name, b.name, a.data - data - data_begin,
                          a.data + a.n_bytes - data - data_begin, b.data - data - data_begin,
                          b.data + b.n_bytes - data - data_begin);
  }
  return out;
}

}  // namespace tq

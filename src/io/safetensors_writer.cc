#include "io/safetensors_writer.h"

#include <cstring>
#include <nlohmann/json.hpp>

namespace tq {
namespace {

const char* dtype_name(TypeId t, size_t* size) {
  switch (t) {
    case TypeId::f32:
      *size = 4;
      return "F32";
    case TypeId::f16:
      *size = 2;
      return "F16";
    case TypeId::bf16:
      *size = 2;
      return "BF16";
    case TypeId::f64:
      *size = 8;
      return "F64";
    case TypeId::i8:
      *size = 1;
      return "I8";
    case TypeId::i16:
      *size = 2;
      return "I16";
    case TypeId::i32:
      *size = 4;
      return "I32";
    case TypeId::i64:
      *size = 8;
      return "I64";
    default:
      return nullptr;
  }
}

}  // namespace

Result<size_t> safetensors_entry_bytes(const SafetensorsEntry& e) {
  size_t size = 0;
  if (!dtype_name(e.type, &size))
    return unsupported("safetensors cannot hold tensor '{}' of type id {}", e.name,
                       static_cast<uint32_t>(e.type));
  size_t n = 1;
  for (int64_t d : e.shape) {
    if (d < 0) return invalid_argument("tensor '{}' has a negative dimension", e.name);
    n *= static_cast<size_t>(d);
  }
  return n * size;
}

Status write_safetensors(const std::string& path, const std::vector<SafetensorsEntry>& entries,
                         const std::function<Status(size_t, AtomicFile&)>& write_data,
                         const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json hdr;
  if (!metadata.empty()) hdr["__metadata__"] = metadata;
  std::vector<size_t> sizes;
  size_t offset = 0;
  for (const auto& e : entries) {
    TQ_ASSIGN_OR_RETURN(size_t n, safetensors_entry_bytes(e));
    size_t esize = 0;
    hdr[e.name] = {{"dtype", dtype_name(e.type, &esize)},
                   {"shape", e.shape},
                   {"data_offsets", {offset, offset + n}}};
    sizes.push_back(n);
    offset += n;
  }
  std::string h = hdr.dump();
  h.append((8 - (8 + h.size()) % 8) % 8, ' ');
  TQ_ASSIGN_OR_RETURN(auto out, AtomicFile::create(path));
  const uint64_t hlen = h.size();
  TQ_RETURN_IF_ERROR(out->write(&hlen, 8));
  TQ_RETURN_IF_ERROR(out->write(h));
  for (size_t i = 0; i < entries.size(); ++i) {
    const size_t before = out->offset();
    TQ_RETURN_IF_ERROR(write_data(i, *out));
    if (out->offset() - before != sizes[i])
      return Status(StatusCode::kInternal,
                    fmt::format("{}: tensor '{}': {} bytes written, {} expected", path,
                                entries[i].name, out->offset() - before, sizes[i]));
  }
  return out->commit();
}

}  // namespace tq

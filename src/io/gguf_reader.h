// GGUF v3 (v2 accepted) reader. Layout (little-endian):
//   "GGUF" u32 version, u64 n_tensors, u64 n_kv,
//   n_kv x (string key, u32 value type, value),           string = u64 length + bytes
//   n_tensors x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset),
//   padding to `general.alignment` (default 32), then the data section; every tensor's offset is
//   relative to the data section and a multiple of the alignment.
// ggml lists dimensions innermost first (ne[0] = elements per row); we store shapes outermost
// first, so GGUF ne = [4096, 11008] becomes TensorInfo::shape = [11008, 4096] ([n_out, n_in]).
// Every count, length, type id, shape, offset and size is checked against the file before use;
// a bad file is an error naming the file and the problem, never a crash.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/mmap.h"
#include "io/metadata.h"
#include "io/model_file.h"
#include "tq/status.h"

namespace tq {

inline constexpr char kGgufMagic[4] = {'G', 'G', 'U', 'F'};
inline constexpr uint32_t kGgufVersion = 3;            // what the writer emits
inline constexpr uint32_t kGgufDefaultAlignment = 32;  // when general.alignment is absent
inline constexpr int kGgufMaxDims = 4;                 // GGML_MAX_DIMS
inline constexpr size_t kGgufMaxNameBytes = 63;        // llama.cpp's GGML_MAX_NAME - 1

// A parsed GGUF file. Tensor data pointers point into the bytes given to parse_gguf (or `map`).
struct GgufFile {
  std::string path;
  uint32_t version = 0;
  uint32_t alignment = kGgufDefaultAlignment;
  uint64_t data_offset = 0;         // file offset of the data section
  Metadata meta;                    // every key/value, with GGUF's value types
  std::vector<TensorInfo> tensors;  // [n_tensors] in file order; shapes outermost first
  std::vector<uint64_t>
      tensor_offsets;               // [n_tensors] offset of each tensor within the data section
  std::shared_ptr<MappedFile> map;  // set by read_gguf; null for parse_gguf
};

// Parses and validates GGUF bytes [data, data + size). `path` is only used in messages and in
// TensorInfo::file. The returned tensors point into `data`, which must outlive them.
Result<GgufFile> parse_gguf(const uint8_t* data, size_t size, const std::string& path);

// Memory-maps and parses a GGUF file (see parse_gguf). The mapping is kept in GgufFile::map.
Result<GgufFile> read_gguf(const std::string& path);

// Opens a GGUF file as a ModelFile (SourceKind::kGguf): metadata as stored, tensor names as
// stored (llama.cpp names), data memory-mapped in place.
Result<ModelFile> open_gguf(const std::string& path);

// True when the first bytes of the file at `path` are the GGUF magic.
bool is_gguf_file(const std::string& path);

}  // namespace tq

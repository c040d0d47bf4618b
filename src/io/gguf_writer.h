// Streaming GGUF v3 writer. All tensors are declared up front (name, type, shape), so the header,
// metadata and tensor infos (with every offset) are written at once; then the tensors' bytes are
// supplied in declaration order, one tensor or one piece of a tensor at a time, so a quantizer
// never holds more than the piece it is producing. Output goes through AtomicFile: nothing appears
// at `path` until finish() succeeds. The layout is exactly what llama.cpp's reader expects: tensors
// packed in order, each starting at a multiple of the alignment, zero padding after each.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/file_util.h"
#include "io/checksum.h"
#include "io/metadata.h"
#include "tq/status.h"
#include "tq/types.h"

namespace tq {

struct GgufTensorDecl {
  std::string name;            // < 64 bytes (llama.cpp's limit), unique
  TypeId type = TypeId::f32;   // must be in the format table
  std::vector<int64_t> shape;  // row-major, outermost first (as TensorInfo); 1..4 dims, all > 0
};

class GgufWriter {
 public:
  // Validates the declarations and metadata (value ranges per type, arrays homogeneous, names
  // unique and short, shapes positive with rows a multiple of the type's block) and writes
  // everything up to the data section to a temporary file beside `path`. The alignment is
  // general.alignment from `meta` when present (a power of two), else 32. Metadata is written
  // general.architecture first, then the other general.* keys, then the rest in key order; the
  // writer adds turboquant.tensor_checksums.xxh3_64 (io/checksum.h), whose values finish() fills
  // in from the data written (a key of that name in `meta` is replaced).
  static Result<std::unique_ptr<GgufWriter>> create(const std::string& path, const Metadata& meta,
                                                    std::vector<GgufTensorDecl> tensors);

  // Appends n_bytes of the current tensor's data (tensors in declaration order). A tensor may be
  // given in any number of pieces; a piece must not run past the end of the current tensor. When a
  // tensor is complete the writer pads and moves to the next.
  Status write(const void* data, size_t n_bytes);

  // Index of the tensor the next write() belongs to (== number of tensors when all are written),
  // and how many of its bytes are still missing.
  size_t current_tensor() const { return current_; }
  size_t current_remaining_bytes() const {
    return current_ < sizes_.size() ? sizes_[current_] - written_ : 0;
  }
  const std::vector<GgufTensorDecl>& tensors() const { return decls_; }
  // Bytes of each declared tensor ([n_tensors]).
  const std::vector<size_t>& tensor_bytes() const { return sizes_; }

  // Checks that every tensor was written completely, then flushes, fsyncs and renames the file
  // into place. Without finish() (error, exception, destruction) no file appears at `path`.
  Status finish();

  // Total file size once finished (known from the declarations).
  uint64_t file_bytes() const { return total_bytes_; }

 private:
  GgufWriter() = default;
  std::unique_ptr<AtomicFile> file_;
  std::vector<GgufTensorDecl> decls_;
  std::vector<size_t> sizes_;  // [n_tensors] bytes of each tensor
  uint32_t alignment_ = 32;
  size_t current_ = 0;
  size_t written_ = 0;  // bytes of the current tensor written so far
  uint64_t total_bytes_ = 0;
  size_t checksums_offset_ = 0;           // file offset of the checksum array's items
  std::vector<uint64_t> checksums_;       // of the tensors completed so far
  std::unique_ptr<TensorHasher> hasher_;  // of the current tensor
};

// Serializes one metadata value (type tag not included) in GGUF wire form; validates ranges.
// Exposed for tests and for writers of other containers.
Status append_gguf_value(const MetaValue& v, const std::string& key, std::string* out);

// Writes a whole model in one call (small models, tests): every tensor's bytes from `data`
// ([n_tensors] pointers, each tensor_bytes long).
Status write_gguf(const std::string& path, const Metadata& meta,
                  const std::vector<GgufTensorDecl>& tensors, const std::vector<const void*>& data);

}  // namespace tq

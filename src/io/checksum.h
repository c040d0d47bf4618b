// Per-tensor checksums of the GGUF files tq writes, so that damage (flipped bytes, a truncated
// copy, a tensor whose type was edited) is found and named instead of running as garbage.
//
// Key `turboquant.tensor_checksums.xxh3_64`: an array of u64, one per tensor in tensor-info order,
// each the XXH3-64 (seed 0) of the tensor's descriptor — its name (u64 length + bytes), type id
// (u32), dimension count (u32) and the GGUF dimensions innermost first (4 × u64, unused ones 0),
// all little-endian — followed by the tensor's data bytes. The descriptor makes an edited type or
// shape, or two tensors whose names were swapped, fail too. GgufWriter writes the key into every
// file (the values are filled in when the data has been written).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "io/model_file.h"
#include "tq/status.h"
#include "tq/types.h"

namespace tq {

inline constexpr const char* kTensorChecksumsKey = "turboquant.tensor_checksums.xxh3_64";

// Incremental checksum of one tensor: construct with its name, type and shape (outermost first,
// as TensorInfo), update() with its bytes in order, then digest().
class TensorHasher {
 public:
  TensorHasher(std::string_view name, TypeId type, std::span<const int64_t> shape);
  ~TensorHasher();
  TensorHasher(const TensorHasher&) = delete;
  TensorHasher& operator=(const TensorHasher&) = delete;
  void update(const void* data, size_t n_bytes);
  uint64_t digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

uint64_t tensor_checksum(const TensorInfo& t);

struct ChecksumReport {
  bool present = false;  // the file carries the key (false: nothing was verified)
  size_t n_tensors = 0;  // tensors verified
  uint64_t n_bytes = 0;  // tensor bytes read
};

// Recomputes every tensor's checksum of a GGUF file that carries the key. Errors (kCorruptFile)
// name the file and the first damaged tensor ("tensor 'blk.0.attn_q.weight' (tq4g128 [256, 256])
// is damaged: checksum ..., the file records ..."), or a key of the wrong type or length. A file
// without the key (not written by tq, or an HF folder) gives present = false.
Result<ChecksumReport> verify_tensor_checksums(const ModelFile& mf);

// Files up to this many tensor bytes are verified when a model is loaded (load_model); larger
// ones with `tq inspect --verify`. Measured in docs/FORMATS.md ("Checksums"): the check reads
// every byte of the file once.
inline constexpr uint64_t kVerifyAtLoadMaxBytes = uint64_t{1} << 30;

// verify_tensor_checksums for files with the key and at most kVerifyAtLoadMaxBytes of tensors;
// ok for all others.
Status verify_checksums_at_load(const ModelFile& mf);

}  // namespace tq

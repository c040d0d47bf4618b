// Model file → GGUF file in llama.cpp's layout (what `tq convert` does), matching
// convert_hf_to_gguf.py: the layout of io/gguf_layout.h (tensor order, Q/K rows permuted for arch
// `llama`, llama3 RoPE scaling as a `rope_freqs.weight` tensor, metadata keys, general.file_type,
// the tokenizer in tokenizer.ggml.* keys), 1-D tensors, norms and biases kept f32, rows not
// divisible by the block size falling back to f16. Tensors are converted and written one piece at
// a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/gguf_layout.h"
#include "io/gguf_writer.h"
#include "io/model_file.h"
#include "tq/status.h"
#include "tq/types.h"

namespace tq {

struct ConvertOptions {
  // Target of the 2-D weights: f32, f16, bf16, q8_0 (llama.cpp's), or one of our own formats
  // (tq<b>g<G>, q8, rtn4: their data-free reference quantizers; files only `tq` reads, with
  // turboquant.weight.type and, for tq, the rotation seed in the metadata).
  TypeId type = TypeId::f16;
  bool progress = true;       // progress bar on stderr
};

struct ConvertSummary {
  int64_t n_tensors = 0;
  int64_t n_params = 0;
  uint64_t file_bytes = 0;
  uint64_t tensor_bytes = 0;  // data section without padding
  double seconds = 0;
  std::vector<std::pair<TypeId, int64_t>> params_by_type;  // how many weights ended in each type
};

// The type convert_hf_to_gguf gives tensor `name` of `shape` when the target is `target`:
// f32 for 1-D tensors, *_norm.weight and anything not ending in ".weight"; f16 when the row length
// is not a multiple of the target's block; else the target.
TypeId convert_tensor_type(const std::string& name, const std::vector<int64_t>& shape,
                           TypeId target);

// Converts `src` (HF folder or GGUF) into a GGUF file at `out_path` (written atomically).
Result<ConvertSummary> convert_to_gguf(const ModelFile& src, const std::string& out_path,
                                       const ConvertOptions& opt);

}  // namespace tq

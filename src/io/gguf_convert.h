// Model file → GGUF file in llama.cpp's layout (what `tq convert` does), matching
// convert_hf_to_gguf.py: llama.cpp tensor names and metadata keys, general.file_type, Q/K rows
// permuted for arch `llama`, llama3 RoPE scaling as a `rope_freqs.weight` tensor, 1-D tensors,
// norms and biases kept f32, rows not divisible by the block size falling back to f16, and the
// tokenizer in tokenizer.ggml.* keys. Tensors are converted and written one piece at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

// llama.cpp's general.file_type for a whole-model target type (LlamaFileType: ALL_F32 = 0,
// MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7, MOSTLY_BF16 = 32, ...); error for types convert does not offer.
Result<uint32_t> llama_file_type(TypeId type);

// The type convert_hf_to_gguf gives tensor `name` of `shape` when the target is `target`:
// f32 for 1-D tensors, *_norm.weight and anything not ending in ".weight"; f16 when the row length
// is not a multiple of the target's block; else the target.
TypeId convert_tensor_type(const std::string& name, const std::vector<int64_t>& shape,
                           TypeId target);

// The Q/K row permutation of convert_hf_to_gguf (LlamaModel.permute) for arch `llama`: a head's
// head_dim rows are reshaped [2, head_dim/2] → [head_dim/2, 2]. Returns the HF row stored at
// permuted row `row` (rows count across heads; head_dim even).
inline int64_t llama_permuted_row_to_hf(int64_t row, int64_t head_dim) {
  const int64_t head = row / head_dim, r = row % head_dim, half = head_dim / 2;
  return head * head_dim + (r % 2) * half + r / 2;
}

// llama.cpp's `rope_freqs.weight` factors ([head_dim / 2] floats) for llama3 RoPE scaling, from
// the <arch>.rope.* keys our HF loader sets (rope.freq_base, rope.dimension_count,
// rope.scaling.factor / low_freq_factor / high_freq_factor / original_context_length), computed
// in float32 as convert_hf_to_gguf's LlamaModel.generate_extra_tensors does with torch.
Result<std::vector<float>> llama3_rope_freq_factors(const Metadata& meta);

// The metadata convert writes: the source's llama.cpp keys, minus our non-llama.cpp ones
// (general.file_type_source, <arch>.rope.scaling.* for llama3, which become rope_freqs.weight),
// plus general.file_type (none for our own formats) and general.quantization_version (2), plus
// the tokenizer: an HF folder's
// via export_tokenizer_metadata (io/tokenizer.h; an error if the folder has no usable tokenizer), a
// GGUF source's tokenizer.ggml.* keys as they are.
Result<Metadata> gguf_metadata_for(const ModelFile& src, TypeId target);

// Converts `src` (HF folder or GGUF) into a GGUF file at `out_path` (written atomically).
Result<ConvertSummary> convert_to_gguf(const ModelFile& src, const std::string& out_path,
                                       const ConvertOptions& opt);

}  // namespace tq

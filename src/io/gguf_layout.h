// llama.cpp's GGUF layout of a model, in one place for every writer of model files (tq convert,
// tq quantize, tq synth): the tensor order, the Q/K row permutation of arch `llama`, the
// `rope_freqs.weight` tensor that carries llama3 RoPE scaling, and the metadata keys.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "io/metadata.h"
#include "io/model_file.h"
#include "tq/status.h"
#include "tq/types.h"

namespace tq {

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

// llama.cpp's general.file_type for a whole-model target type (LlamaFileType: ALL_F32 = 0,
// MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7, MOSTLY_BF16 = 32, ...); error for types convert does not offer.
Result<uint32_t> llama_file_type(TypeId type);

class GgufLayout {
 public:
  // The layout of `src` written as GGUF. Errors: no architecture, llama3 RoPE keys that do not
  // give valid factors.
  static Result<GgufLayout> of(const ModelFile& src);

  // True when `a` comes before `b` in llama.cpp's order: rope_freqs, token_embd.*, blk.0.*,
  // blk.1.*, ... (by layer number, then name), the rest by name.
  static bool before(std::string_view a, std::string_view b);

  // For a tensor of `n_rows` rows (the rows of a 2-D tensor, the elements of a 1-D one): the
  // head size of the Q/K row permutation to apply (convert_hf_to_gguf's LlamaModel.permute: HF
  // rotate-half rows → llama.cpp's interleaved pairs), 0 when none. Only for Hugging Face sources
  // of arch `llama`, and attn_q / attn_k weights and biases. Error when the rows are not whole
  // heads of even size.
  Result<int64_t> qk_permute_head_dim(std::string_view name, int64_t n_rows) const;

  // `rope_freqs.weight` ([head_dim / 2] f32) when the source has llama3 RoPE scaling as keys (a
  // Hugging Face folder) and no such tensor: llama.cpp reads llama3 scaling from it. Empty
  // otherwise.
  const std::vector<float>& rope_freqs() const { return rope_freqs_; }
  static constexpr const char* kRopeFreqs = "rope_freqs.weight";

  // The metadata of the output: the source's llama.cpp keys minus ours (general.file_type_source;
  // the <arch>.rope.scaling.* keys of llama3 scaling, which became rope_freqs), general.file_type
  // of `target` (none for our own formats, which record turboquant.weight.type and the rotation
  // seed instead), general.quantization_version 2, the tokenizer (an HF folder's exported,
  // a GGUF source's keys as they are). Errors: a target llama.cpp has no file type for, an HF
  // tokenizer that cannot be exported.
  Result<Metadata> metadata(TypeId target) const;

 private:
  const ModelFile* src_ = nullptr;
  std::string arch_;
  bool permute_ = false;
  int64_t n_head_ = 0, n_head_kv_ = 0;
  std::vector<float> rope_freqs_;
};

}  // namespace tq

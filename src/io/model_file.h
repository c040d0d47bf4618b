// A model as files on disk: metadata + named tensors in place (memory-mapped). Both a Hugging Face
// folder and a GGUF file open into this one shape, with llama.cpp's tensor names and metadata keys,
// so everything above io/ sees one kind of model.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/mmap.h"
#include "io/metadata.h"
#include "tq/status.h"
#include "tq/types.h"

namespace tq {

struct TensorInfo {
  std::string name;            // llama.cpp name, e.g. "blk.0.attn_q.weight", "token_embd.weight"
  TypeId type = TypeId::f32;
  std::vector<int64_t> shape;  // row-major, outermost first: a linear weight is [n_out, n_in]
  const uint8_t* data = nullptr;  // inside a mapping owned by the ModelFile; n_bytes long
  size_t n_bytes = 0;
  std::string file;            // path of the file holding it (for error messages)

  int64_t n_elements() const;
  int64_t n_cols() const { return shape.empty() ? 1 : shape.back(); }  // elements per row
  int64_t n_rows() const { return n_cols() ? n_elements() / n_cols() : 0; }
  std::string shape_string() const;  // "[2048, 512]"
};

enum class SourceKind { kHfFolder, kGguf };

struct ModelFile {
  SourceKind kind = SourceKind::kHfFolder;
  std::string path;  // the folder or the .gguf file
  Metadata meta;     // llama.cpp keys (general.architecture, <arch>.embedding_length, ...)
  std::vector<TensorInfo> tensors;
  std::vector<std::shared_ptr<MappedFile>> maps;  // keep tensor data alive

  // HF folders: tokenizer files beside the weights (empty when absent). GGUF: tokenizer in meta.
  std::string tokenizer_json_path;
  std::string tokenizer_model_path;

  const TensorInfo* find(std::string_view name) const;
  std::string architecture() const { return meta.get_string_or("general.architecture", ""); }

  // RoPE row layout of attn_q / attn_k (weights and biases). Hugging Face checkpoints store each
  // head's rows for "rotate-half" (NEOX) RoPE. llama.cpp's GGUF files of arch `llama` (and ours,
  // which match them) store them permuted for interleaved-pair RoPE: within a head of head_dim
  // rows, GGUF row 2*i + j holds HF row j*head_dim/2 + i (convert_hf_to_gguf's permute; see
  // llama_permuted_row_to_hf in io/gguf_convert.h). GGUF files of qwen2/qwen3 are not permuted.
  // So: true exactly when kind == kGguf and architecture() == "llama". A runtime either applies
  // interleaved RoPE to such files or un-permutes the rows; both give identical logits.
  bool qk_rows_permuted() const { return kind == SourceKind::kGguf && architecture() == "llama"; }
};

// Opens a Hugging Face folder (config.json + *.safetensors) or a GGUF file (recognised by its
// magic bytes; see io/gguf_reader.h). Errors name the file and the problem (missing files, bad
// headers, unknown architectures, tensors out of bounds).
Result<ModelFile> open_model(const std::string& path);

// Hugging Face folder: config.json, model.safetensors or model.safetensors.index.json + shards.
// Tensor names are mapped to llama.cpp names; config.json keys to llama.cpp metadata keys.
Result<ModelFile> open_hf_folder(const std::string& dir);

// The two JSON parsers behind open_hf_folder, on text (tests, fuzzing); `path` names the file in
// errors. config.json -> llama.cpp metadata keys (added to `out`):
Status hf_config_to_metadata(std::string_view json_text, const std::string& path, Metadata& out);
// model.safetensors.index.json -> {tensor name: shard file name}; shard names must be plain names.
Result<std::map<std::string, std::string>> parse_safetensors_index(std::string_view json_text,
                                                                   const std::string& path);

// Maps a Hugging Face Llama-family tensor name to its llama.cpp name; empty if not a model tensor
// we know (e.g. rotary_emb.inv_freq buffers).
std::string hf_to_gguf_tensor_name(std::string_view hf_name);

}  // namespace tq

// A Llama-family model bound to its weights: hyper-parameters plus, for every tensor the forward
// pass uses, a WeightView into the memory-mapped file (never copied) or — for the small vectors
// (norms, biases, rope factors) — an f32 copy. Binding checks every shape against the
// hyper-parameters; a mismatch is an error naming the file and the tensor.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "formats/tq_weight.h"
#include "io/model_file.h"
#include "kernels/matmul.h"
#include "model/hparams.h"
#include "tq/status.h"

namespace tq {

struct LayerWeights {
  std::vector<float> attn_norm;   // [n_embd]
  WeightView wq;                  // [q_dim, n_embd]
  WeightView wk;                  // [kv_dim, n_embd]
  WeightView wv;                  // [kv_dim, n_embd]
  WeightView wo;                  // [n_embd, q_dim]
  std::vector<float> bq, bk, bv;  // [q_dim], [kv_dim], [kv_dim]; empty when the model has no bias
  std::vector<float> q_norm, k_norm;  // [head_dim] (qwen3); empty otherwise
  std::vector<float> ffn_norm;        // [n_embd]
  WeightView w_gate;                  // [n_ff, n_embd]
  WeightView w_up;                    // [n_ff, n_embd]
  WeightView w_down;                  // [n_embd, n_ff]
};

// Hot rows (quantized files, tq quantize "+h<K>") of a vocabulary matrix — the token embedding or
// an untied output head: residual rows [K, n_embd] added to the rows of K token ids (i32, strictly
// increasing), stored as "<matrix>.hot.weight" and "<matrix>.hot_ids" right after the matrix. The
// embedding's are added in the lookup and, for a tied head, to those tokens' logits; the untied
// head's to those tokens' logits.
inline constexpr const char* kHotRowsWeight = "token_embd.hot.weight";
inline constexpr const char* kHotRowsIds = "token_embd.hot_ids";
inline constexpr const char* kOutputHotRowsWeight = "output.hot.weight";
inline constexpr const char* kOutputHotRowsIds = "output.hot_ids";
// The hot-row tensor names of a vocabulary matrix ("token_embd.weight" or "output.weight");
// nullptr for any other tensor.
const char* hot_rows_weight_name(std::string_view matrix);
const char* hot_rows_ids_name(std::string_view matrix);
inline bool is_hot_rows_tensor(std::string_view name) {
  return name == kHotRowsIds || name == kHotRowsWeight || name == kOutputHotRowsIds ||
         name == kOutputHotRowsWeight;
}
// Side data of quantized weights (group maps "<name>.tq_map", the hot rows): bytes of the file,
// not parameters of the model.
inline bool is_side_tensor(std::string_view name) {
  return name.ends_with(".tq_map") || is_hot_rows_tensor(name);
}

struct HotRows {
  WeightView rows;             // [K, n_embd] residual rows; n_rows == 0 when there are none
  std::vector<int32_t> ids;    // [K] their token ids, strictly increasing
  std::vector<int32_t> slot;   // [n_vocab] index into ids, −1 for other tokens (empty when none)
  bool empty() const { return ids.empty(); }
};

struct Model {
  ModelFile file;  // owns the mappings the WeightViews point into
  HParams hp;
  WeightView tok_embd;  // [n_vocab, n_embd]; rows read with the format's to_float
  WeightView output;    // [n_vocab, n_embd]; == tok_embd when the embedding is tied
  bool tied_output = false;
  HotRows tok_embd_hot;  // the embedding's hot rows (lookup; logits too when the head is tied)
  HotRows output_hot;    // an untied head's hot rows (logits); empty for a tied head
  std::vector<float> output_norm;     // [n_embd]
  std::vector<LayerWeights> layers;   // [n_layer]
  // [n_rot / 2], scaling applied (llama3: through the float32 rope_freqs factors of
  // convert_hf_to_gguf, for either source, so HF and GGUF give identical angles)
  std::vector<double> rope_inv_freq;
  // True for GGUF files of arch llama: Q/K rows are permuted for interleaved-pair RoPE
  // (convert_hf_to_gguf's permute). The runtime undoes the permutation on the projected q/k
  // vectors, so both sources run the same arithmetic and give identical logits.
  bool qk_interleaved = false;
  // Side data the WeightViews point to (aux): group maps of fractional tq tensors.
  std::vector<std::unique_ptr<TqGroupMap>> group_maps;

  // The hot rows whose residual logits the head adds: the embedding's for a tied head.
  const HotRows& head_hot() const { return tied_output ? tok_embd_hot : output_hot; }

  // Bytes of weights read to decode one token (every matrix once + one embedding row).
  size_t weight_bytes_per_token() const;
  // Bytes of all tensors the model holds in its files.
  size_t file_tensor_bytes() const;
};

// Binds an opened model file (takes ownership). Errors: unsupported architecture, missing tensors,
// shapes that disagree with the hyper-parameters, unknown tensor types.
Result<std::unique_ptr<Model>> bind_model(ModelFile mf);

// open_model + bind_model; a GGUF file that tq wrote (with per-tensor checksums) of at most
// kVerifyAtLoadMaxBytes of tensors is verified first (io/checksum.h): damage is an error naming
// the tensor.
Result<std::unique_ptr<Model>> load_model(const std::string& path);

// Dequantizes row `row` of a weight (any format) into out[n_cols] (the embedding lookup).
void weight_row_to_float(const WeightView& w, int64_t row, float* out);

}  // namespace tq

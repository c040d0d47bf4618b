// One quantized tensor as the pipeline holds it between choosing its values and writing it: the
// TurboQuant codes and scales, the int4 baseline's codes, or (any other format) the bytes its
// from_float produced. It dequantizes (for sensitivity, tuning and error reports) and encodes into
// the storage type's row bytes, optionally with llama.cpp's Q/K row permutation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "quantize/tensor_quant.h"
#include "tq/status.h"
#include "tq/types.h"

namespace tq {

struct QuantizedTensor {
  std::string name;
  TypeId type = TypeId::f32;
  int64_t n_rows = 0, n_cols = 0;
  std::optional<TqTensor> tq;      // tq<b>g<G>
  std::optional<Int4Tensor> int4;  // rtn4 / gptq4 (stored as rtn4)
  std::vector<uint8_t> bytes;      // any other type: [n_rows, row_bytes] in the source row order
  // Hot rows (token_embd, output): row hot_ids[k] of Ŵ is the stored row plus hot row k (tq<b>g<G>);
  // hot_ids strictly increasing.
  std::vector<int32_t> hot_ids;
  std::optional<TqTensor> hot;

  // Ŵ [n_rows, n_cols] f32 in the source row order (hot residuals added).
  void dequantize(float* out) const;
  // Gives rows `ids` (strictly increasing) a residual row quantized data-free at `bits`/`group`:
  // the difference between w [n_rows, n_cols] and the current Ŵ on those rows.
  void add_hot_rows(const float* w, std::vector<int32_t> ids, int bits, int group);

  // The storage bytes [n_rows, row_bytes(type)]; with permute_head_dim > 0, output row r holds
  // source row llama_permuted_row_to_hf(r, permute_head_dim) (HF → GGUF for arch llama).
  Result<std::vector<uint8_t>> encode(int64_t permute_head_dim = 0) const;

 private:
  void dequantize_stored(float* out) const;  // without the hot residuals
};

// A data-free quantization with the format's own from_float (rows of f32 w [n_rows, n_cols]).
Result<QuantizedTensor> quantize_with_format(const std::string& name, TypeId type, const float* w,
                                             int64_t n_rows, int64_t n_cols);

}  // namespace tq
